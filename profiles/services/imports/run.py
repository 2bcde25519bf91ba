"""Running a started import: committed batches through ingestion, and the error report.

Each batch commits its rows and the job's counters together, so a run that stops resumes
where the counters say, and running the same slice twice writes nothing twice.
"""

from __future__ import annotations

import csv
import io
import itertools
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from profiles.models import ImportJob
from profiles.services.imports.jobs import ACTIVE, import_job_fail
from profiles.services.imports.mapping import RowMapper
from profiles.services.imports.reading import ImportJobFailed, ReadOptions, Table, open_table
from profiles.services.ingest import ingest_messages

BATCH_ROWS = 2_000  # rows per ingestion batch (one transaction each; larger is cheaper per row)
DEFAULT_TASK_ROWS = 5_000  # rows per task run before it re-queues itself
REPORT_HEADER = ["row", "column", "message"]
_BOM = "\ufeff".encode()  # spreadsheets read the error report as UTF-8
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def task_rows() -> int:
    return int(getattr(settings, "CDP_IMPORT_TASK_ROWS", DEFAULT_TASK_ROWS))


@dataclass(frozen=True)
class ImportProgress:
    job_id: int
    status: str
    processed_rows: int
    total_rows: int | None
    has_more: bool


def _cell(value: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula (the file is untrusted)."""
    return f"'{value}" if value[:1] in _FORMULA_STARTS else value


def _report_lines(header: list[str], records: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if header:
        writer.writerow([_cell(value) for value in header])
    writer.writerows([_cell(value) for value in record] for record in records)
    return buffer.getvalue().encode("utf-8")


def _report_append(job: ImportJob, header: list[str], records: list[list[str]]) -> None:
    """Append rows to the job's error report: row, column, message, then the original row."""
    if not records:
        return
    storage = job.error_report.storage
    if not job.error_report:
        name = job.error_report.field.generate_filename(job, f"import-{job.pk}-errors.csv")
        content = _BOM + _report_lines([*REPORT_HEADER, *header], [])
        name = storage.save(name, ContentFile(content))
        ImportJob.objects.filter(pk=job.pk).update(error_report=name)
        job.error_report.name = name
    with storage.open(job.error_report.name, "ab") as report:
        report.write(_report_lines([], records))


def _report_records(
    number: int, values: list[str], errors: Mapping[str, list[str]]
) -> list[list[str]]:
    return [
        [str(number), column, text, *values] for column, texts in errors.items() for text in texts
    ]


def _ingest_batch(
    *, job_id: int, expected_row: int, mapper: RowMapper, batch: list[tuple[int, list[str]]]
) -> bool:
    """Ingest one batch and move the counters, if the job still stands at `expected_row`."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().select_related("source").get(pk=job_id)
        if job.status not in ACTIVE or job.processed_rows != expected_row:
            return False  # another run has done these rows, or the job was stopped
        records: list[list[str]] = []
        messages = []
        numbers = []
        error_rows = 0
        for number, raw in batch:
            values = mapper.values(raw)
            errors = mapper.shape_errors(raw)
            if errors:
                records += _report_records(number, values, errors)
                error_rows += 1
                continue
            messages.append(mapper.message(row=values, job_id=job_id, number=number))
            numbers.append((number, values))
        duplicates = created = updated = 0
        if messages:
            # Every value went through clean_text (no control character, so no NUL and no
            # lone surrogate) and trait keys come from the checked mapping: the storability
            # scan of each message could find nothing.
            result = ingest_messages(source=job.source, messages=messages, prechecked=True)
            created, updated = result.profiles_created, result.profiles_updated
            for item in result.results:
                if item.status == "error":
                    number, values = numbers[item.index]
                    records += _report_records(number, values, mapper.errors_by_column(item.errors))
                    error_rows += 1
                elif item.status == "duplicate":
                    duplicates += 1
        ImportJob.objects.filter(pk=job_id).update(
            status=ImportJob.Status.RUNNING,
            started_at=Coalesce(F("started_at"), timezone.now()),
            processed_rows=F("processed_rows") + len(batch),
            error_rows=F("error_rows") + error_rows,
            duplicate_rows=F("duplicate_rows") + duplicates,
            profiles_created=F("profiles_created") + created,
            profiles_updated=F("profiles_updated") + updated,
        )
        # Last, so only a crash before the commit can leave report lines behind (see _finish).
        _report_append(job, mapper.header, sorted(records, key=lambda r: int(r[0])))
    return True


def _report_dedupe(job: ImportJob) -> None:
    """Drop report lines a crashed-and-retried batch wrote twice (rows are in file order)."""
    if not job.error_report:
        return
    storage = job.error_report.storage
    dropped = False
    with (
        storage.open(job.error_report.name, "rb") as report,
        tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as kept,
    ):
        text = io.TextIOWrapper(report, encoding="utf-8-sig", newline="")
        out = io.TextIOWrapper(kept, encoding="utf-8-sig", newline="")
        writer = csv.writer(out, lineterminator="\r\n")
        last_row, seen = 0, set()
        for position, record in enumerate(csv.reader(text)):
            if position > 0:
                row, key = int(record[0]), (record[1], record[2])
                if row < last_row or (row == last_row and key in seen):
                    dropped = True
                    continue
                if row > last_row:
                    last_row, seen = row, set()
                seen.add(key)
            writer.writerow(record)
        text.detach()
        out.flush()
        out.detach()
        if dropped:
            kept.seek(0)
            storage.delete(job.error_report.name)
            job.error_report.name = storage.save(job.error_report.name, File(kept))


@transaction.atomic
def _finish(job_id: int) -> ImportJob:
    job = ImportJob.objects.select_for_update().get(pk=job_id)
    if job.status in ACTIVE:
        _report_dedupe(job)
        job.status = ImportJob.Status.DONE
        job.finished_at = timezone.now()
        job.started_at = job.started_at or job.finished_at
        job.save(update_fields=["status", "finished_at", "started_at", "error_report"])
    return job


def _progress(job: ImportJob, *, has_more: bool) -> ImportProgress:
    return ImportProgress(
        job_id=job.pk,
        status=job.status,
        processed_rows=job.processed_rows,
        total_rows=job.total_rows,
        has_more=has_more,
    )


def _batches(table: Table, start: int, max_rows: int) -> Iterator[list[tuple[int, list[str]]]]:
    rows = itertools.islice(table.rows, start, start + max_rows)
    while batch := list(itertools.islice(rows, BATCH_ROWS)):
        yield batch


def import_run_batch(
    *, job_id: int, start_row: int | None = None, max_rows: int | None = None
) -> ImportProgress:
    """Import up to max_rows rows from start_row (default: where the job stands), batch by batch.

    Rows another run has already imported are never imported again: each batch checks the
    job's counter under a row lock and stops if it has moved.
    """
    max_rows = max_rows or task_rows()
    job = ImportJob.objects.select_related("source").get(pk=job_id)
    start = job.processed_rows if start_row is None else start_row
    if job.status not in ACTIVE or start != job.processed_rows:
        return _progress(job, has_more=False)
    options = ReadOptions(**job.options)
    position = start
    try:
        with open_table(job.file, options) as table:
            mapper = RowMapper.build(
                source=job.source,
                header=table.header,
                columns=job.columns,
                file_name=job.original_name,
            )
            for batch in _batches(table, start, max_rows):
                if not _ingest_batch(
                    job_id=job.pk, expected_row=position, mapper=mapper, batch=batch
                ):
                    job.refresh_from_db()
                    return _progress(job, has_more=False)
                position += len(batch)
            has_more = next(table.rows, None) is not None
    except ImportJobFailed as exc:
        import_job_fail(job_id=job.pk, message=f"Stopped after {position} rows: {exc}")
        job.refresh_from_db()
        return _progress(job, has_more=False)
    if has_more:
        job.refresh_from_db()
        return _progress(job, has_more=True)
    return _progress(_finish(job.pk), has_more=False)
