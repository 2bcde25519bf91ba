"""Celery tasks of the campaigns app: wake-ups only; the outbox holds the work."""

from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True)
def outbox_send_task() -> dict[str, int]:
    """Send what is due now (beat runs it every 15 s; scheduling a broadcast wakes it too)."""
    from campaigns.services import outbox_send_due

    result = outbox_send_due()
    return {"sent": result.sent, "failed": result.failed, "skipped": sum(result.skipped.values())}
