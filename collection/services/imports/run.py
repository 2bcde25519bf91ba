"""Running a started import: committed batches through ingestion, and the error report.

Each batch commits its rows and the job's counters together, so a run that stops resumes
where the counters say, and running the same rows twice writes nothing twice. A large job
is cut into slices (`ImportSlice`) that workers run side by side: each slice keeps its own
position and error report lines, and the last slice done merges the reports in row order.
"""

from __future__ import annotations

import csv
import heapq
import io
import itertools
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, replace

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext

from collection.models import ImportJob, ImportSlice
from collection.services.imports.jobs import ACTIVE, import_job_fail, lease_until
from collection.services.imports.mapping import RowMapper
from collection.services.imports.reading import (
    ImportJobFailed,
    ReadOptions,
    Resume,
    Table,
    open_table,
)
from core.spreadsheets import spreadsheet_safe
from core.statistics import statistics_refresh
from profiles.services.ingest import WRITTEN_MODELS, ingest_messages

BATCH_ROWS = 2_000  # rows per ingestion batch (one transaction each; larger is cheaper per row)
DEFAULT_TASK_ROWS = 5_000  # rows per task run before it re-queues itself
REPORT_HEADER = ["row", "column", "message"]
_BOM = "\ufeff".encode()  # spreadsheets read the error report as UTF-8


def task_rows() -> int:
    return int(getattr(settings, "CDP_IMPORT_TASK_ROWS", DEFAULT_TASK_ROWS))


@dataclass(frozen=True)
class ImportProgress:
    job_id: int
    status: str
    processed_rows: int
    total_rows: int | None
    has_more: bool


def _report_lines(header: list[str], records: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if header:
        writer.writerow([spreadsheet_safe(value) for value in header])
    writer.writerows([spreadsheet_safe(value) for value in record] for record in records)
    return buffer.getvalue().encode("utf-8")


def _report_append(
    owner: ImportJob | ImportSlice, name: str, header: list[str], records: list[list[str]]
) -> None:
    """Append rows to an error report (a job's or a slice's): row, column, message, the row."""
    if not records:
        return
    storage = owner.error_report.storage
    if not owner.error_report:
        name = owner.error_report.field.generate_filename(owner, name)
        content = _BOM + _report_lines([*REPORT_HEADER, *header], [])
        name = storage.save(name, ContentFile(content))
        type(owner).objects.filter(pk=owner.pk).update(error_report=name)
        owner.error_report.name = name
    with storage.open(owner.error_report.name, "ab") as report:
        report.write(_report_lines([], records))


def _report_records(
    number: int, values: list[str], errors: Mapping[str, list[str]]
) -> list[list[str]]:
    return [
        [str(number), column, text, *values] for column, texts in errors.items() for text in texts
    ]


def _ingest_batch(
    *,
    job_id: int,
    expected_row: int,
    mapper: RowMapper,
    batch: list[tuple[int, list[str]]],
    slice_id: int | None = None,
    read: int | None = None,
    resume: Resume | None = None,
) -> bool:
    """Ingest one batch and move the counters, if the job (or slice) stands at `expected_row`.

    A sliced job locks the slice, not the job: batches of other slices run meanwhile, and
    meet only at the job's counters, an UPDATE held for the commit alone. `read`: the rows
    the slice read to gather the batch (its own and others'), the step of its position;
    `resume`: where the row after them starts in the file, kept with the position.
    """
    with transaction.atomic():
        part: ImportSlice | None = None
        if slice_id is None:
            job = ImportJob.objects.select_for_update().select_related("source").get(pk=job_id)
            position = job.processed_rows
        else:
            part = ImportSlice.objects.select_for_update().get(pk=slice_id)
            job = ImportJob.objects.select_related("source").get(pk=job_id)
            position = part.start_row + part.done_rows
        if job.status not in ACTIVE or position != expected_row:
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
        if part is not None:
            step = len(batch) if read is None else read
            resume_byte, resume_row = resume or (0, 0)
            ImportSlice.objects.filter(pk=part.pk).update(
                done_rows=F("done_rows") + step, resume_byte=resume_byte, resume_row=resume_row
            )
        ImportJob.objects.filter(pk=job_id).update(
            status=ImportJob.Status.RUNNING,
            lease_expires_at=lease_until(),
            started_at=Coalesce(F("started_at"), timezone.now()),
            processed_rows=F("processed_rows") + len(batch),
            error_rows=F("error_rows") + error_rows,
            duplicate_rows=F("duplicate_rows") + duplicates,
            profiles_created=F("profiles_created") + created,
            profiles_updated=F("profiles_updated") + updated,
        )
        # Last, so only a crash before the commit can leave report lines behind (see _finish).
        records.sort(key=lambda r: int(r[0]))
        if part is None:
            _report_append(job, f"import-{job.pk}-errors.csv", mapper.header, records)
        else:
            name = f"import-{job.pk}-errors-{part.number}.csv"
            _report_append(part, name, mapper.header, records)
    return True


def _deduped(rows: Iterator[list[str]]) -> Iterator[list[str]]:
    """Report records without the lines a crashed-and-retried batch wrote twice.

    Records come in row order, so a row number going back, or a row's (column, message)
    seen again, is a repeat.
    """
    last_row = 0
    seen: set[tuple[str, str]] = set()
    for record in rows:
        row, key = int(record[0]), (record[1], record[2])
        if row < last_row or (row == last_row and key in seen):
            continue
        if row > last_row:
            last_row, seen = row, set()
        seen.add(key)
        yield record


def _report_dedupe(job: ImportJob) -> None:
    """Drop report lines a crashed-and-retried batch wrote twice (rows are in file order)."""
    if not job.error_report:
        return
    storage = job.error_report.storage
    with (
        storage.open(job.error_report.name, "rb") as report,
        tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as kept,
    ):
        text = io.TextIOWrapper(report, encoding="utf-8-sig", newline="")
        out = io.TextIOWrapper(kept, encoding="utf-8-sig", newline="")
        writer = csv.writer(out, lineterminator="\r\n")
        reader = csv.reader(text)
        writer.writerow(next(reader))
        read = [0]

        def counted() -> Iterator[list[str]]:
            for record in reader:
                read[0] += 1
                yield record

        kept_count = 0
        for record in _deduped(counted()):
            writer.writerow(record)
            kept_count += 1
        text.detach()
        out.flush()
        out.detach()
        if kept_count != read[0]:
            kept.seek(0)
            storage.delete(job.error_report.name)
            job.error_report.name = storage.save(job.error_report.name, File(kept))


def _report_merge(job: ImportJob, parts: list[ImportSlice]) -> None:
    """The job's report: the slices' reports, each deduped, merged in row order.

    Each slice's report is in row order and a row is one slice's, so a merge by row number
    gives the report of an unsliced run. The slices' files are deleted once it commits.
    """
    reports = [part for part in parts if part.error_report]
    if not reports:
        return
    storage = job.error_report.storage
    with (
        ExitStack() as files,
        tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as merged,
    ):
        readers = []
        for part in reports:
            report = files.enter_context(storage.open(part.error_report.name, "rb"))
            text = io.TextIOWrapper(report, encoding="utf-8-sig", newline="")
            files.callback(text.detach)  # the storage's file closes itself
            readers.append(csv.reader(text))
        out = io.TextIOWrapper(merged, encoding="utf-8-sig", newline="")
        writer = csv.writer(out, lineterminator="\r\n")
        headers = [next(reader) for reader in readers]  # the same in each
        writer.writerow(headers[0])
        streams = [_deduped(reader) for reader in readers]
        records: Iterator[list[str]] = heapq.merge(*streams, key=lambda record: int(record[0]))
        writer.writerows(records)
        out.flush()
        out.detach()
        merged.seek(0)
        name = job.error_report.field.generate_filename(job, f"import-{job.pk}-errors.csv")
        job.error_report.name = storage.save(name, File(merged))
    names = [part.error_report.name for part in reports]
    ImportSlice.objects.filter(pk__in=[part.pk for part in reports]).update(error_report="")
    transaction.on_commit(lambda: [storage.delete(name) for name in names])


@transaction.atomic
def _finish(job_id: int) -> ImportJob:
    """Mark the job done once every row is imported (every slice, for a sliced job)."""
    job = ImportJob.objects.select_for_update().get(pk=job_id)
    if job.status in ACTIVE:
        parts = list(job.slices.order_by("number"))
        if any(part.remaining_rows for part in parts):
            return job  # another worker is still on its slice; the last one finishes
        if parts:
            _report_merge(job, parts)
        else:
            _report_dedupe(job)
        job.status = ImportJob.Status.DONE
        job.finished_at = timezone.now()
        job.started_at = job.started_at or job.finished_at
        job.save(update_fields=["status", "finished_at", "started_at", "error_report"])
    return job


def _finished(job_id: int) -> ImportJob:
    """`_finish`, then, for a job done, fresh planner statistics of the tables it wrote (a
    segment refreshed right after a large import is planned from them)."""
    job = _finish(job_id)
    if job.status == ImportJob.Status.DONE:
        statistics_refresh(models=WRITTEN_MODELS)
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


def _own_batches(
    table: Table, start: int, end: int, own: Callable[[int, list[str]], bool], limit: int
) -> Iterator[tuple[list[tuple[int, list[str]]], int, Resume | None]]:
    """A slice's batches among rows start to end: its own rows (up to `limit` in all), each
    with the rows read to gather them and where the row after them starts (`Table.resume`).
    The last may have none of its own: reading to `end`.
    """
    batch: list[tuple[int, list[str]]] = []
    read = taken = 0
    for number, row in itertools.islice(table.rows, start, end):
        read += 1
        if not own(number, row):
            continue
        batch.append((number, row))
        taken += 1
        if len(batch) == BATCH_ROWS or taken == limit:
            yield batch, read, table.resume()
            if taken == limit:
                return
            batch, read = [], 0
    if read:
        yield batch, read, table.resume()


def import_run_batch(
    *, job_id: int, start_row: int | None = None, max_rows: int | None = None
) -> ImportProgress:
    """Import up to max_rows rows from start_row (default: where the job stands), batch by batch.

    Rows another run has already imported are never imported again: each batch checks the
    job's counter under a row lock and stops if it has moved.
    """
    max_rows = max_rows or task_rows()
    job = ImportJob.objects.select_related("source").get(pk=job_id)
    parts = list(job.slices.order_by("number"))
    if parts:
        # A sliced job run by one caller (the cdp_import command): its slices in turn.
        current = next((part for part in parts if part.remaining_rows), parts[-1])
        progress = import_run_slice(job_id=job.pk, number=current.number, max_rows=max_rows)
        has_more = progress.has_more or any(
            part.remaining_rows for part in job.slices.filter(number__gt=current.number)
        )
        return replace(progress, has_more=has_more and progress.status in ACTIVE)
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
        import_job_fail(
            job_id=job.pk,
            message=gettext("Stopped after %(position)s rows: %(exc)s")
            % {"position": position, "exc": exc},
        )
        job.refresh_from_db()
        return _progress(job, has_more=False)
    if has_more:
        job.refresh_from_db()
        return _progress(job, has_more=True)
    return _progress(_finished(job.pk), has_more=False)


def import_run_slice(*, job_id: int, number: int, max_rows: int | None = None) -> ImportProgress:
    """Import up to max_rows of one slice's rows, reading the file on from where it stands.

    Other workers run the other slices meanwhile; `has_more` is about this slice. A slice
    run twice at once imports its rows once: each batch checks the slice's position under
    the slice's row lock. The worker that ends the last slice finishes the job.
    """
    max_rows = max_rows or task_rows()
    job = ImportJob.objects.select_related("source").get(pk=job_id)
    part = ImportSlice.objects.get(job_id=job_id, number=number)
    if job.status not in ACTIVE:
        return _progress(job, has_more=False)
    start = part.start_row + part.done_rows
    count = job.slices.count()
    position, taken = start, 0
    resume = (part.resume_byte, part.resume_row) if part.resume_byte else None
    try:
        with open_table(job.file, ReadOptions(**job.options), resume=resume) as table:
            mapper = RowMapper.build(
                source=job.source,
                header=table.header,
                columns=job.columns,
                file_name=job.original_name,
            )

            def own(row_number: int, row: list[str]) -> bool:
                return mapper.slice_of(row_number, row, count) == number

            # Read on from where the last run stopped, or skip the rows it read.
            skip = 0 if resume is not None and table.resume() is not None else start
            batches = _own_batches(table, skip, skip + part.end_row - start, own, max_rows)
            for batch, read, after in batches:
                if not _ingest_batch(
                    job_id=job.pk,
                    expected_row=position,
                    mapper=mapper,
                    batch=batch,
                    slice_id=part.pk,
                    read=read,
                    resume=after,
                ):
                    job.refresh_from_db()
                    return _progress(job, has_more=False)
                position += read
                taken += len(batch)
        if position < part.end_row and taken < max_rows:  # the rows ran out, not the limit
            raise ImportJobFailed(gettext("The file has fewer rows than when the import started."))
    except ImportJobFailed as exc:
        message = gettext("Stopped at row %(value)s of slice %(value2)s: %(exc)s") % {
            "value": position + 1,
            "value2": number + 1,
            "exc": exc,
        }
        import_job_fail(job_id=job.pk, message=message)
        job.refresh_from_db()
        return _progress(job, has_more=False)
    if position < part.end_row:
        job.refresh_from_db()
        return _progress(job, has_more=job.status in ACTIVE)
    return _progress(_finished(job.pk), has_more=False)
