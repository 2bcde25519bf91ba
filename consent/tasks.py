"""Celery tasks of the consent app: each calls one service and holds only its retry policy."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from consent.services import dsar_reminders_send, retention_apply


@shared_task(
    name="consent.tasks.retention_apply_task",
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
)
def retention_apply_task(max_batches: int = 20) -> dict[str, int]:
    """Apply the retention policies in bounded batches; re-queue while profiles remain."""
    totals = retention_apply(max_batches=max_batches)
    if totals["more"]:
        retention_apply_task.apply_async(kwargs={"max_batches": max_batches}, countdown=5)
    return totals


@shared_task(name="consent.tasks.dsar_reminders_task")
def dsar_reminders_task() -> dict[str, int]:
    """Mail handlers the requests overdue or due within a week (ids and dates only)."""
    return dsar_reminders_send()
