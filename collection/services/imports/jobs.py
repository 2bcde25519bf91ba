"""Import jobs: upload, map, preview and start; `run.py` then imports the rows.

A job-level problem (empty or undecodable file, missing columns, file too large) is found
when the job starts, before any row is written, and fails the job with a message. Row-level
problems go to the job's error report while the valid rows are kept.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import PurePath
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files import File
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from collection.errors import CollectionError
from collection.models import ImportJob, ImportMapping, ImportSlice
from collection.services.imports.mapping import (
    RowMapper,
    columns_check,
    columns_errors,
    header_problems,
    import_mapping_save,
    options_check,
)
from collection.services.imports.reading import (
    CSV_RENDITION,
    ImportJobFailed,
    ReadOptions,
    check_size,
    open_binary,
    open_table,
    resolve_options,
    xlsx_as_csv,
)
from profiles.errors import InvalidMessage
from profiles.models import Source
from profiles.services.messages import message_prepare

ACTIVE = (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING)
DEFAULT_SLICES = 2  # workers that import one job side by side (the machine's cores)
DEFAULT_MIN_SLICE_ROWS = 10_000  # a slice is at least this long: splitting less saves little


def import_slices() -> int:
    """How many slices a large job is cut into: setting CDP_IMPORT_SLICES (1 = never).

    By default 2 on PostgreSQL, and 1 on SQLite, whose writers take turns anyway.
    """
    configured = getattr(settings, "CDP_IMPORT_SLICES", None)
    if configured is None:
        return DEFAULT_SLICES if connection.vendor == "postgresql" else 1
    return max(1, int(configured))


def _min_slice_rows() -> int:
    return max(1, int(getattr(settings, "CDP_IMPORT_MIN_SLICE_ROWS", DEFAULT_MIN_SLICE_ROWS)))


@dataclass
class PreviewRow:
    number: int
    values: list[str]
    errors: dict[str, list[str]] = field(default_factory=dict)  # file column ("" = row) -> texts
    stored: dict[str, Any] = field(default_factory=dict)  # file column -> value once normalised
    issues: dict[str, list[str]] = field(default_factory=dict)  # file column -> data-quality


@dataclass
class ImportPreview:
    """What a run would do with the first rows; `problems` are job-level and block the start."""

    header: list[str]
    columns: dict[str, str]
    rows: list[PreviewRow]
    problems: list[str]
    options: dict[str, str]

    @property
    def error_rows(self) -> int:
        return sum(1 for row in self.rows if row.errors)


# --- Create and configure ------------------------------------------------------------------


@transaction.atomic
def import_job_create(
    *,
    source: Source,
    file: File,
    original_name: str = "",
    created_by: User | None = None,
    mapping: ImportMapping | None = None,
    columns: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> ImportJob:
    """Store an uploaded file as a job; a file over the size limit fails the job unstored."""
    if mapping is not None and mapping.source_id != source.pk:
        message = gettext("the mapping belongs to another source")
        raise CollectionError(message, fields={"mapping": ["wrong"]})
    if columns is not None:
        columns = columns_check(columns)
    elif mapping is not None:
        columns = dict(mapping.columns)
    name = original_name or PurePath(file.name or "import.csv").name
    job = ImportJob(
        source=source,
        mapping=mapping,
        original_name=name[:255],
        columns=dict(columns or {}),
        options=options_check(
            options if options is not None else (mapping.options if mapping is not None else None)
        ),
        created_by=created_by,
    )
    try:
        check_size(file.size)
    except ImportJobFailed as exc:
        job.status = ImportJob.Status.FAILED
        job.message = str(exc)
        job.finished_at = timezone.now()
        job.save()
        return job
    job.file.save(name, file, save=False)
    job.save()
    return job


@transaction.atomic
def import_job_configure(
    *,
    job_id: int,
    columns: Mapping[str, Any],
    options: Mapping[str, Any] | None = None,
    save_as: str = "",
) -> ImportJob:
    """Set the column mapping of an uploaded job, optionally saving it as a named mapping."""
    job = ImportJob.objects.select_for_update().select_related("source").get(pk=job_id)
    if job.status != ImportJob.Status.UPLOADED:
        raise CollectionError(
            gettext("import #%(pk)s is %(value)s; its mapping is fixed")
            % {"pk": job.pk, "value": job.get_status_display().lower()},
            fields={"status": [job.status]},
        )
    job.columns = columns_check(columns)
    job.options = options_check(options)
    if save_as:
        job.mapping = import_mapping_save(
            source=job.source, name=save_as, columns=job.columns, options=job.options
        )
    job.save(update_fields=["columns", "options", "mapping"])
    return job


# --- Preview ---------------------------------------------------------------------------------


def _read_options(job: ImportJob, requested: Mapping[str, Any] | None = None) -> ReadOptions:
    with open_binary(job.file) as binary:
        return resolve_options(binary, job.options if requested is None else requested)


def import_preview(
    *,
    job_id: int,
    limit: int = 20,
    columns: Mapping[str, str] | None = None,
    options: Mapping[str, Any] | None = None,
) -> ImportPreview:
    """The header and first rows mapped and validated as the run will; writes nothing.

    `columns` and `options` try a mapping or reading options before they are saved.
    """
    job = ImportJob.objects.select_related("source").get(pk=job_id)
    columns = dict(job.columns if columns is None else columns)
    problems = [
        f"{column}: {'; '.join(texts)}" for column, texts in columns_errors(columns).items()
    ]
    try:
        if not job.file:
            raise ImportJobFailed(job.message or gettext("The job has no file."))
        check_size(job.file.size)
        read_options = _read_options(job, options)
        with open_table(job.file, read_options) as table:
            header = table.header
            sample = list(itertools.islice(table.rows, limit))
    except ImportJobFailed as exc:
        return ImportPreview(header=[], columns=columns, rows=[], problems=[str(exc)], options={})
    problems += header_problems(columns, header)
    if not sample:
        problems.append(gettext("The file has a header row but no data rows."))
    mapper = RowMapper.build(source=job.source, header=header, columns=columns)
    now = timezone.now()
    rows = []
    for index, (number, raw) in enumerate(sample):
        errors = mapper.shape_errors(raw)
        values = mapper.values(raw)
        stored: dict[str, Any] = {}
        issues: dict[str, list[str]] = {}
        if not errors:
            message = mapper.message(row=values, job_id=job.pk, number=number)
            try:
                prepared = message_prepare(message=message, index=index, source=job.source, now=now)
            except InvalidMessage as exc:
                errors = mapper.errors_by_column(exc.fields or {"": [str(exc)]})
            else:
                stored = mapper.stored_values(prepared)
                issues = mapper.issues_by_column(prepared)
        rows.append(
            PreviewRow(number=number, values=values, errors=errors, stored=stored, issues=issues)
        )
    return ImportPreview(
        header=header,
        columns=columns,
        rows=rows,
        problems=problems,
        options=read_options.as_dict(),
    )


# --- Start -----------------------------------------------------------------------------------


def _count_rows(job: ImportJob, options: ReadOptions) -> tuple[list[str], int]:
    with open_table(job.file, options) as table:
        return table.header, sum(1 for _ in table.rows)


def _enqueue(job_id: int, slices: list[int] | None = None) -> None:
    """Queue the job's run after commit: one task, or one task per slice not done yet."""
    from collection.tasks import import_run_task  # tasks import services, not the other way

    if slices is None:
        slices = list(
            ImportSlice.objects.filter(job_id=job_id)
            .order_by("number")
            .values_list("number", flat=True)
        )
    if not slices:
        transaction.on_commit(partial(import_run_task.apply_async, kwargs={"job_id": job_id}))
    for number in slices:
        kwargs = {"job_id": job_id, "slice_number": number}
        transaction.on_commit(partial(import_run_task.apply_async, kwargs=kwargs))


def _slice(job: ImportJob, total: int) -> list[int]:
    """Cut a large job into slices by person (`RowMapper.slice_of`); their numbers.

    Each slice reads the whole file and imports its own people's rows. Contiguous ranges
    of rows were tried first: a later range met people an earlier one was creating at that
    moment, and waited for that batch's commit (bench/README.md, "Imports").
    """
    count = min(import_slices(), total // _min_slice_rows())
    if count < 2:
        return []
    ImportSlice.objects.bulk_create(
        ImportSlice(job=job, number=k, start_row=0, end_row=total) for k in range(count)
    )
    return list(range(count))


def _fail(job: ImportJob, message: str) -> ImportJob:
    job.status = ImportJob.Status.FAILED
    job.message = message
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "message", "finished_at"])
    return job


def _must_be_uploaded(job: ImportJob) -> None:
    if job.status != ImportJob.Status.UPLOADED:
        raise CollectionError(
            gettext("import #%(pk)s is %(value)s; only an uploaded one starts")
            % {"pk": job.pk, "value": job.get_status_display().lower()},
            fields={"status": [job.status]},
        )


def _inspect(job: ImportJob) -> tuple[ReadOptions, int]:
    """Reading options and row count of a file the job's mapping can import, or why not."""
    if not job.source.is_active:
        raise ImportJobFailed(
            gettext("The source %(name)s is inactive.") % {"name": repr(job.source.name)}
        )
    errors = columns_errors(job.columns)
    if errors:
        raise ImportJobFailed(
            gettext("The column mapping is invalid: ")
            + " ".join(f"{column}: {'; '.join(texts)}." for column, texts in errors.items())
        )
    if not job.file:
        raise ImportJobFailed(gettext("The job has no file."))
    check_size(job.file.size)
    options = _read_options(job)
    if options.format == "xlsx":
        options = _as_csv(job)
    header, total = _count_rows(job, options)
    problems = header_problems(job.columns, header)
    if problems:
        raise ImportJobFailed(" ".join(problems))
    if total == 0:
        raise ImportJobFailed(gettext("The file has a header row but no data rows."))
    return options, total


def _as_csv(job: ImportJob) -> ReadOptions:
    """Store the job's workbook as CSV text and point `job` (not its row) at it.

    The runs then read CSV (`xlsx_as_csv` says why); `import_start` saves the new name with
    the job, or deletes the file if the job does not start.
    """
    storage = job.file.storage
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as out:
        xlsx_as_csv(job.file, out)
        out.seek(0)
        name = job.file.field.generate_filename(job, f"{PurePath(job.file.name).stem}.csv")
        job.file = storage.save(name, File(out))  # a new FieldFile: the old one is open
    return CSV_RENDITION


def import_start(*, job_id: int, run_async: bool = True) -> ImportJob:
    """Check the whole file and mapping, then queue the job; on a problem fail it, write nothing.

    A workbook is stored as CSV text once, here (`_as_csv`): the job's file from then on.
    """
    job = ImportJob.objects.select_related("source").get(pk=job_id)
    _must_be_uploaded(job)
    uploaded = job.file.name
    # The whole file is read before the row lock is taken: SQLite would block every writer.
    inspected, failure = None, ""
    try:
        inspected = _inspect(job)
    except ImportJobFailed as exc:
        failure = str(exc)
    if job.file.name == uploaded:
        return _queue(job, uploaded, inspected, failure, run_async)
    # A CSV rendition of the workbook: kept if the job is queued (the workbook goes once
    # that commits), deleted if not.
    storage = job.file.storage
    try:
        started = _queue(job, uploaded, inspected, failure, run_async)
    except BaseException:
        storage.delete(job.file.name)
        raise
    if started.file.name == uploaded:
        storage.delete(job.file.name)
    else:
        transaction.on_commit(partial(storage.delete, uploaded))
    return started


@transaction.atomic
def _queue(
    job: ImportJob,
    uploaded: str,
    inspected: tuple[ReadOptions, int] | None,
    failure: str,
    run_async: bool,
) -> ImportJob:
    """Queue the inspected `job` (or fail it), if nobody changed it since it was read."""
    locked = ImportJob.objects.select_for_update().select_related("source").get(pk=job.pk)
    _must_be_uploaded(locked)
    if (locked.columns, locked.options, locked.file.name) != (job.columns, job.options, uploaded):
        raise CollectionError(
            gettext("the mapping of import #%(pk)s changed while it was starting; start it again")
            % {"pk": job.pk},
            fields={"columns": ["changed"]},
        )
    if inspected is None:
        return _fail(locked, failure)
    options, total = inspected
    locked.file.name = job.file.name
    locked.options = options.as_dict()
    locked.total_rows = total
    locked.status = ImportJob.Status.QUEUED
    locked.message = ""
    locked.lease_expires_at = lease_until()
    locked.save(
        update_fields=["file", "options", "total_rows", "status", "message", "lease_expires_at"]
    )
    slices = _slice(locked, total)
    if run_async:
        _enqueue(locked.pk, slices)
    return locked


@transaction.atomic
def import_requeue(*, job_id: int) -> bool:
    """Queue a queued or running job again (after a lost task); a second runner stops itself."""
    job = ImportJob.objects.select_for_update().get(pk=job_id)
    if job.status not in ACTIVE:
        return False
    job.lease_expires_at = lease_until()
    job.save(update_fields=["lease_expires_at"])
    parts = list(job.slices.order_by("number"))
    # Every slice not done yet; a sliced job whose slices are all done only needs finishing.
    _enqueue(job.pk, [part.number for part in parts if part.remaining_rows] or None)
    return True


def lease_until() -> datetime:
    """When a lease taken or renewed now ends."""
    return timezone.now() + timedelta(seconds=settings.CDP_IMPORT_LEASE_SECONDS)


def import_leases_expired_requeue() -> int:
    """Queue again every queued or running job whose lease expired (its worker died, or its
    task was lost); how many. A run that was only slow stops itself at its next batch."""
    expired = Q(lease_expires_at__lt=timezone.now()) | Q(lease_expires_at__isnull=True)
    stalled = ImportJob.objects.filter(expired, status__in=ACTIVE).values_list("pk", flat=True)
    return sum(import_requeue(job_id=pk) for pk in stalled)


def import_job_fail(*, job_id: int, message: str) -> None:
    """Fail a job that is not finished yet, e.g. after its task gave up."""
    ImportJob.objects.filter(pk=job_id, status__in=[*ACTIVE, ImportJob.Status.UPLOADED]).update(
        status=ImportJob.Status.FAILED, message=message, finished_at=timezone.now()
    )
