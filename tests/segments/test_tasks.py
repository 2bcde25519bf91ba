"""Tasks and the schedule: due refreshes, routing to the segments queue."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from cdp_site.celery import app
from cdp_site.periodic import PERIODIC_TASKS
from segments.models import Segment, SegmentSize
from segments.services import segment_create, segment_update
from segments.tasks import segment_refresh_task, segments_refresh_due_task

FRENCH = {"field": "country", "op": "eq", "value": "FR"}


def test_only_segments_whose_interval_passed_are_refreshed(make_profile: Any) -> None:
    make_profile(country="FR")
    never = segment_create(name="Never refreshed", rule=FRENCH)
    due = segment_create(name="Due", rule=FRENCH, refresh_every_minutes=10)
    fresh = segment_create(name="Fresh", rule=FRENCH, refresh_every_minutes=60)
    segment_create(name="Paused", rule=FRENCH, is_active=False)
    segment_create(name="List", kind="static")
    Segment.objects.filter(pk=due.pk).update(
        last_refreshed_at=timezone.now() - timedelta(minutes=11)
    )
    Segment.objects.filter(pk=fresh.pk).update(
        last_refreshed_at=timezone.now() - timedelta(minutes=5)
    )

    refreshed = segments_refresh_due_task()

    assert refreshed == 2
    assert set(SegmentSize.objects.values_list("segment_id", flat=True)) == {never.pk, due.pk}


def test_a_segment_referred_to_is_refreshed_first(make_profile: Any) -> None:
    ada = make_profile(country="FR")
    on_top = segment_create(name="On top", rule=FRENCH)  # the lower id
    base = segment_create(name="French", rule=FRENCH)
    segment_update(segment_id=on_top.pk, rule={"segment": base.pk})

    segments_refresh_due_task()

    assert list(on_top.memberships.values_list("profile_id", flat=True)) == [ada.pk]


def test_refreshing_a_deleted_segment_is_a_no_op(db: None) -> None:
    assert segment_refresh_task(segment_id=424242) == {}


def test_segment_tasks_go_to_the_segments_queue_and_are_scheduled() -> None:
    route = app.amqp.router.route({}, "segments.tasks.segments_catch_up_task")

    assert route["queue"].name == "segments"
    scheduled = {spec.task: spec for spec in PERIODIC_TASKS}
    assert scheduled["segments.tasks.segments_catch_up_task"].every_seconds == 15
    assert scheduled["segments.tasks.segments_refresh_due_task"].queue == "segments"
