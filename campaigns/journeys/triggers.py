"""The journeys' reader of the event log: enrol, wake waiting people, exit, convert.

One cursor (segments' EventCursor, name "journeys") over the event log, with the gaps of
late commits kept as the segments' cursor does. For each active journey, each kind of work
is one statement over the window of new events: an INSERT ... SELECT of enrolments for a
segment or event trigger, an UPDATE for the people whose awaited event came, for those who
left the trigger segment and for those who reached the goal. Date triggers are read on
the same run, from the profiles rather than the log (campaigns/journeys/dates.py).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from campaigns.journeys.dates import due_people
from campaigns.journeys.definition import Definition, awaited_event
from campaigns.journeys.engine import version_definition
from campaigns.journeys.services import enrol_from
from campaigns.models import Enrolment, Journey, JourneyVersion, Message, StepLog
from core.cursor import id_gaps_after
from core.planner import no_jit
from profiles.models import Event
from segments.compiler import event_filter
from segments.models import EventCursor

CURSOR = "journeys"
ENTERED, EXITED = "Segment Entered", "Segment Exited"


@dataclass(frozen=True)
class CatchUp:
    events: int
    enrolled: int
    woken: int
    exited: int
    converted: int
    position: int


@transaction.atomic
def journeys_catch_up(
    *, overlap_seconds: int = 600, max_events: int = 200_000, now: datetime | None = None
) -> CatchUp:
    """Act on the events appended since the last run (and those that committed late).

    The first run starts at the end of the log: a journey reacts to what happens after it
    is activated. Safe to run twice: the cursor row is locked while it is read and moved.
    """
    now = now or timezone.now()
    cursor, created = EventCursor.objects.select_for_update().get_or_create(name=CURSOR)
    if created:
        cursor.position = Event.objects.aggregate(top=Max("id"))["top"] or 0
        cursor.save(update_fields=["position", "updated_at"])
        return CatchUp(0, 0, 0, 0, 0, cursor.position)
    where = Q(id__gt=cursor.position, id__lte=cursor.position + max_events)
    for low, high, _ in cursor.gaps:
        where |= Q(id__gte=int(low), id__lte=int(high))
    seen = list(Event.objects.filter(where).order_by("id").values_list("id", flat=True))
    counts = [0, 0, 0, 0]
    counts[0] += _dates(now)
    if seen:
        window = Event.objects.filter(where)
        for journey in Journey.objects.filter(status=Journey.Status.ACTIVE):
            for i, count in enumerate(_act(journey, window, now)):
                counts[i] += count
    cursor.position, cursor.gaps = id_gaps_after(
        gaps=cursor.gaps,
        position=cursor.position,
        seen=seen,
        now=time.time(),
        overlap=overlap_seconds,
    )
    cursor.save(update_fields=["position", "gaps", "updated_at"])
    enrolled, woken, exited, converted = counts
    return CatchUp(len(seen), enrolled, woken, exited, converted, cursor.position)


def _dates(now: datetime) -> int:
    """Date triggers: one INSERT ... SELECT per journey whose firing time came somewhere."""
    with no_jit():  # on a large profile table compiling costs more (~0.5 s) than running
        return _dates_enrol(now)


def _dates_enrol(now: datetime) -> int:
    enrolled = 0
    for journey in Journey.objects.filter(status=Journey.Status.ACTIVE):
        assert journey.version_id is not None
        trigger = version_definition(journey.version_id).trigger
        if trigger["type"] != "date":
            continue
        due = due_people(trigger, journey_id=journey.pk, now=now, since=journey.activated_at)
        if due is None:
            continue
        where, occasion = due
        enrolled += enrol_from(
            journey=journey, where=where, occasion=occasion, source="date", now=now
        )
    return enrolled


def _segment_events(window: QuerySet[Event], name: str, segment_id: int) -> QuerySet[Event]:
    return window.filter(name=name, properties__segment_id=segment_id)


def _act(journey: Journey, window: QuerySet[Event], now: datetime) -> tuple[int, int, int, int]:
    assert journey.version_id is not None
    definition = version_definition(journey.version_id)
    trigger = definition.trigger
    enrolled = 0
    if trigger["type"] in ("segment_entered", "segment_exited"):
        name = ENTERED if trigger["type"] == "segment_entered" else EXITED
        people = _segment_events(window, name, trigger["segment"]).values("profile_id")
        enrolled = enrol_from(journey=journey, profile_ids=people, source="trigger", now=now)
    elif trigger["type"] == "event":
        people = window.filter(event_filter(trigger["event"], path="trigger", now=now)).values(
            "profile_id"
        )
        enrolled = enrol_from(journey=journey, profile_ids=people, source="trigger", now=now)
    running = Enrolment.objects.filter(journey=journey, status=Enrolment.Status.RUNNING)
    exited = 0
    if definition.exit_on_segment_exit:
        left = _segment_events(window, EXITED, trigger["segment"]).values("profile_id")
        exited = running.filter(profile_id__in=left).update(
            status=Enrolment.Status.EXITED,
            exit_reason="left_segment",
            finished_at=now,
            due_at=None,
        )
    woken = _wake(journey, running, window, now)
    converted = _convert(journey, window, now) if journey.goal_event else 0
    return enrolled, woken, exited, converted


def _wake(
    journey: Journey, running: QuerySet[Enrolment], window: QuerySet[Event], now: datetime
) -> int:
    """People waiting for an event that came: due now, on the event's branch."""
    woken = 0
    versions = JourneyVersion.objects.filter(journey=journey).values_list("pk", flat=True)
    for version_id in versions:
        definition: Definition = version_definition(version_id)
        by_event: dict[str, list[str]] = {}
        for step in definition.steps.values():
            if step.type == "wait_for_event":
                spec = json.dumps(awaited_event(step), sort_keys=True)
                by_event.setdefault(spec, []).append(step.key)
        for spec, keys in by_event.items():
            came = window.filter(event_filter(json.loads(spec), path="event", now=now))
            woken += running.filter(
                version_id=version_id,
                step__in=keys,
                event_at__isnull=True,
                profile_id__in=came.values("profile_id"),
            ).update(event_at=now, due_at=now)
    return woken


def _convert(journey: Journey, window: QuerySet[Event], now: datetime) -> int:
    """The goal reached within its days of enrolling: converted, attributed, and exited."""
    last_message = (
        Message.objects.filter(
            origin_kind=Message.Origin.JOURNEY_STEP,
            origin_id__in=StepLog.objects.filter(enrolment_id=OuterRef(OuterRef("pk"))).values(
                "pk"
            ),
        )
        .order_by("-id")
        .values("pk")[:1]
    )
    reached = Enrolment.objects.filter(
        journey=journey,
        converted_at__isnull=True,
        entered_at__gte=now - timedelta(days=journey.goal_days or 0),
        profile_id__in=window.filter(name=journey.goal_event).values("profile_id"),
    )
    ids = list(reached.values_list("pk", flat=True))
    if not ids:
        return 0
    from django.db.models import F

    Enrolment.objects.filter(pk__in=ids).update(
        converted_at=now, converted_step=F("step"), converted_message_id=Subquery(last_message)
    )
    Enrolment.objects.filter(pk__in=ids, status=Enrolment.Status.RUNNING).update(
        status=Enrolment.Status.EXITED, exit_reason="goal", finished_at=now, due_at=None
    )
    return len(ids)
