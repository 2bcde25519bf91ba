"""Celery tasks of the collection app: each calls one service and holds only its retry policy."""

from __future__ import annotations

from functools import partial
from typing import Any

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError, transaction
from django.utils.translation import gettext

from collection.services.imports import import_job_fail, import_run_batch, import_run_slice


class _ImportTask(Task):
    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        # Retries exhausted or a bug: the steward sees a failed job, not one running forever.
        job_id = kwargs.get("job_id", args[0] if args else None)
        if job_id is not None:
            import_job_fail(
                job_id=job_id,
                message=gettext("Stopped by an unexpected error (%(name)s); see the worker log.")
                % {"name": type(exc).__name__},
            )


@shared_task(
    base=_ImportTask,
    name="collection.tasks.import_run_task",
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=8,
)
def import_run_task(job_id: int, slice_number: int | None = None) -> None:
    """Import the next rows of a job (or of one of its slices), then queue the rest.

    A second run of the same rows does nothing.
    """
    kwargs: dict[str, int] = {"job_id": job_id}
    if slice_number is None:
        progress = import_run_batch(job_id=job_id)
    else:
        progress = import_run_slice(job_id=job_id, number=slice_number)
        kwargs["slice_number"] = slice_number
    if progress.has_more:
        transaction.on_commit(partial(import_run_task.apply_async, kwargs=kwargs))


@shared_task(
    name="collection.tasks.import_leases_requeue_task",
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=5,
    max_retries=5,
)
def import_leases_requeue_task() -> int:
    """Queue again the imports whose lease expired (a worker killed mid-job)."""
    from collection.services.imports import import_leases_expired_requeue

    return import_leases_expired_requeue()


@shared_task(
    name="collection.tasks.import_files_expire_task",
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=5,
    max_retries=5,
)
def import_files_expire_task() -> int:
    """Delete the import files and error reports past CDP_IMPORT_FILE_RETENTION_DAYS."""
    from collection.services.imports import import_files_expire

    return import_files_expire()


# A drain that ingested something looks again this long after it ends: messages accepted
# while it ran may have found a drain already asked for (requests within a second share
# one), and must not wait for beat's safety net.
RECHECK_SECONDS = 1.0


@shared_task(
    bind=True,
    name="collection.tasks.intake_drain_task",
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    max_retries=5,
)
def intake_drain_task(self: Task, limit: int | None = None, max_rounds: int = 20) -> int:
    """Ingest buffered HTTP messages in batches; re-queue if the buffer is still not empty.

    A round that drained nothing, or saw a batch fail, ends the run: failed rows are retried
    by a later run (beat's, or the next request's), not at once. A run that ingested
    something checks the buffer once more a second later, on the queue it came from.
    """
    from collection.services.intake import DRAIN_LIMIT, intake_drain
    from profiles.hooks import events_appended_notify

    limit = limit or DRAIN_LIMIT
    total = 0
    again: dict[str, Any] = {"kwargs": {"limit": limit, "max_rounds": max_rounds}}
    queue = (self.request.delivery_info or {}).get("routing_key")
    if queue:
        again["queue"] = queue
    for _ in range(max_rounds):
        counts = intake_drain(limit=limit)
        total += counts["ingested"]
        if counts["ingested"]:
            events_appended_notify(kind="intake")  # the log's readers read them now
        if counts["failed"] or not counts["ingested"]:
            if total:
                intake_drain_task.apply_async(countdown=RECHECK_SECONDS, **again)
            return total
    intake_drain_task.apply_async(**again)
    return total
