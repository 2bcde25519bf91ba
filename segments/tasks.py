"""Celery tasks of the segments app (queue "segments"): each calls one service."""

from __future__ import annotations

from functools import partial
from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError, transaction

from core.leases import job_lease_run

RETRY: dict[str, Any] = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": True,
    "max_retries": 5,
}


@shared_task(**RETRY)
def segment_refresh_task(segment_id: int, lease: str = "") -> dict[str, int]:
    """Full refresh of one dynamic segment, under its job lease (one worker at a time).

    `lease`: the token the previous run handed on (a refresh asked for while it ran).
    """
    from segments.errors import SegmentsError
    from segments.services import segment_refresh, segment_refresh_job

    def step() -> tuple[dict[str, int], bool]:
        try:
            result = segment_refresh(segment_id=segment_id)
        except SegmentsError:
            return {}, True  # deleted or turned static meanwhile: nothing to do
        if result.entered or result.exited:
            from profiles.hooks import events_appended_notify

            events_appended_notify(kind="segments")
        return {"size": result.size, "entered": result.entered, "exited": result.exited}, True

    outcome = job_lease_run(job=segment_refresh_job(segment_id), handed=lease, step=step)
    if outcome.handed:
        transaction.on_commit(
            partial(
                segment_refresh_task.apply_async,
                kwargs={"segment_id": segment_id, "lease": outcome.handed},
            )
        )
    return outcome.result or {}


@shared_task(**RETRY)
def segments_refresh_due_task() -> int:
    """Full refresh of the dynamic segments whose interval has passed."""
    from segments.services import segments_refresh_due

    results = segments_refresh_due()
    if any(result.entered or result.exited for result in results):
        from profiles.hooks import events_appended_notify

        events_appended_notify(kind="segments")
    return len(results)


@shared_task(**RETRY)
def segment_refresh_profiles_task(profile_ids: list[int]) -> int:
    """Re-evaluate every segment for these profiles."""
    from segments.services import segment_refresh_profiles

    return len(segment_refresh_profiles(profile_ids=profile_ids))


@shared_task(**RETRY)
def segments_catch_up_task() -> int:
    """Re-evaluate segments for the people of events appended since the last run."""
    from profiles.hooks import events_appended_notify
    from segments.services.cursor import segments_catch_up

    caught = segments_catch_up()
    if caught.changed:
        events_appended_notify(kind="segments")  # Segment Entered / Exited: journeys read them
    return caught.profiles
