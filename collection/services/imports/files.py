"""Uploaded import files and error reports hold personal data: they do not stay forever.

The job row stays (counts, dates, status); its file and error report are deleted from
storage once the transaction that blanked them commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import Storage
from django.db import transaction
from django.utils import timezone

from collection.models import ImportJob, ImportSlice
from profiles.models import Event

FINISHED = (ImportJob.Status.DONE, ImportJob.Status.FAILED)


def _delete_after_commit(storage: Storage, names: list[str]) -> None:
    def delete() -> None:
        for name in names:
            storage.delete(name)

    transaction.on_commit(delete)


@transaction.atomic
def import_files_delete(*, job_ids: Sequence[int]) -> int:
    """Delete the uploaded file and error report of these finished jobs; jobs touched."""
    jobs = list(
        ImportJob.objects.select_for_update()
        .filter(pk__in=job_ids, status__in=FINISHED)
        .exclude(file="", error_report="")
        .order_by("pk")
    )
    if not jobs:
        return 0
    storage = ImportJob._meta.get_field("file").storage
    names = [name for job in jobs for name in (job.file.name, job.error_report.name) if name]
    # A job that failed midway may still hold its slices' own report lines.
    parts = ImportSlice.objects.filter(job__in=jobs).exclude(error_report="")
    names += list(parts.values_list("error_report", flat=True))
    parts.update(error_report="")
    ImportJob.objects.filter(pk__in=[job.pk for job in jobs]).update(file="", error_report="")
    _delete_after_commit(storage, names)
    return len(jobs)


def import_files_expire(*, now: datetime | None = None) -> int:
    """Delete the files of jobs finished more than CDP_IMPORT_FILE_RETENTION_DAYS ago."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.CDP_IMPORT_FILE_RETENTION_DAYS)
    expired = ImportJob.objects.filter(status__in=FINISHED, finished_at__lt=cutoff).exclude(
        file="", error_report=""
    )
    return import_files_delete(job_ids=list(expired.values_list("pk", flat=True)))


def import_job_ids_of(*, profile_ids: Sequence[int]) -> list[int]:
    """The import jobs whose rows landed on these profiles (their import events say so)."""
    values = (
        Event.objects.filter(profile_id__in=profile_ids, type=Event.Type.IMPORT)
        .values_list("properties__import_job_id", flat=True)
        .distinct()
    )
    return sorted({value for value in values if isinstance(value, int)})
