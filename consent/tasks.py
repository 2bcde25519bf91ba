"""Celery tasks of the consent app: each calls one service and holds only its retry policy."""

from __future__ import annotations

from functools import partial

from celery import shared_task
from django.db import InterfaceError, OperationalError, transaction

from consent.services import dsar_reminders_send, retention_apply
from core.leases import job_lease_owe, job_lease_run

RETENTION_JOB = "consent.retention"


@shared_task(
    name="consent.tasks.retention_apply_task",
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
)
def retention_apply_task(max_batches: int = 20, lease: str = "") -> dict[str, int]:
    """Apply the retention policies in bounded batches; re-queue while profiles remain.

    The work owed is a job lease: one worker at a time, and beat queues it again when its
    worker died; `lease` is the token the previous run handed on.
    """
    if not lease:
        job_lease_owe(job=RETENTION_JOB, task=retention_apply_task.name, kwargs={})

    def step() -> tuple[dict[str, int], bool]:
        totals = retention_apply(max_batches=max_batches)
        return totals, not totals["more"]

    outcome = job_lease_run(job=RETENTION_JOB, handed=lease, step=step)
    if outcome.handed:
        transaction.on_commit(
            partial(
                retention_apply_task.apply_async,
                kwargs={"max_batches": max_batches, "lease": outcome.handed},
                countdown=5,
            )
        )
    return outcome.result or {}


@shared_task(name="consent.tasks.dsar_reminders_task")
def dsar_reminders_task() -> dict[str, int]:
    """Mail handlers the requests overdue or due within a week (ids and dates only)."""
    return dsar_reminders_send()
