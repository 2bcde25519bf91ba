"""Celery tasks of the profiles app: each calls one service and holds only its retry policy."""

from __future__ import annotations

from functools import partial

from celery import shared_task
from django.db import InterfaceError, OperationalError, transaction

from core.leases import job_lease_run


@shared_task(
    name="profiles.tasks.quality_maintain_task",
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=5,
    max_retries=5,
)
def quality_maintain_task(
    kind: str, run_id: int | None = None, reason: str = "", lease: str = ""
) -> int:
    """One batch of a data-quality maintenance run, then re-queue until the run is done.

    Without `run_id` (beat) it starts a run of `kind`, or continues the one running. The
    run's lease keeps a second worker off it; `lease` is the token the previous batch
    handed on.
    """
    from profiles.models import MaintenanceRun
    from profiles.services.quality.maintenance import (
        maintenance_job,
        maintenance_run_batch,
        maintenance_start,
    )

    if run_id is None:
        run_id = maintenance_start(kind=kind, reason=reason or "scheduled").pk

    def step() -> tuple[int, bool]:
        run = maintenance_run_batch(run_id=run_id)
        return run.processed, run.status != MaintenanceRun.Status.RUNNING

    outcome = job_lease_run(job=maintenance_job(run_id), handed=lease, step=step)
    if outcome.handed:
        transaction.on_commit(
            partial(
                quality_maintain_task.apply_async,
                kwargs={"kind": kind, "run_id": run_id, "lease": outcome.handed},
            )
        )
    return outcome.result or 0


@shared_task(
    name="profiles.tasks.duplicates_scan_task",
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=5,
    max_retries=5,
)
def duplicates_scan_task(max_batches: int = 20, batch_rows: int = 2_000) -> int:
    """Compare profiles created or changed since the last scan; re-queue while more are due."""
    from profiles.services.duplicates import duplicates_scan

    counts = duplicates_scan(max_batches=max_batches, batch_rows=batch_rows)
    if counts.has_more:
        kwargs = {"max_batches": max_batches, "batch_rows": batch_rows}
        transaction.on_commit(partial(duplicates_scan_task.apply_async, kwargs=kwargs))
    return counts.profiles_scanned


@shared_task(
    name="profiles.tasks.duplicates_full_scan_task",
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=5,
    max_retries=5,
)
def duplicates_full_scan_task(
    scan_id: int | None = None, batches: int = 20, lease: str = ""
) -> int:
    """Compare every active profile, a few batches a run, re-queued until the scan is done.

    The scan's lease keeps a second worker off it; `lease` is the token the previous run
    handed on.
    """
    from profiles.services.duplicates import duplicates_full_scan_batch, duplicates_full_scan_start
    from profiles.services.duplicates.scan import full_scan_job

    if scan_id is None:
        scan_id = duplicates_full_scan_start().pk
    scan = scan_id

    def step() -> tuple[int, bool]:
        scanned = 0
        for _ in range(batches):
            counts = duplicates_full_scan_batch(scan_id=scan)
            scanned += counts.profiles_scanned
            if not counts.has_more:
                return scanned, True
        return scanned, False

    outcome = job_lease_run(job=full_scan_job(scan), handed=lease, step=step)
    if outcome.handed:
        transaction.on_commit(
            partial(
                duplicates_full_scan_task.apply_async,
                kwargs={"scan_id": scan, "batches": batches, "lease": outcome.handed},
            )
        )
    return outcome.result or 0
