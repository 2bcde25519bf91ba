"""Celery tasks of the campaigns app: wake-ups only; the outbox and enrolments hold the work."""

from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True)
def outbox_send_task() -> dict[str, int]:
    """Send what is due now (beat runs it every 15 s; scheduling a broadcast wakes it too)."""
    from campaigns.services import outbox_send_due

    result = outbox_send_due()
    return {"sent": result.sent, "failed": result.failed, "skipped": sum(result.skipped.values())}


@shared_task(ignore_result=True)
def journeys_tick_task() -> dict[str, int]:
    """Read new events (enrol, wake, exit, convert), then advance due enrolments."""
    from campaigns.journeys.engine import journeys_advance
    from campaigns.journeys.triggers import journeys_catch_up

    caught = journeys_catch_up()
    advanced = journeys_advance()
    return {"events": caught.events, "enrolled": caught.enrolled, "steps": advanced.steps}


@shared_task(ignore_result=True)
def journeys_advance_task() -> dict[str, int]:
    """Advance due enrolments now (new enrolments wake it; beat's tick is the safety net)."""
    from campaigns.journeys.engine import journeys_advance

    return {"steps": journeys_advance().steps}
