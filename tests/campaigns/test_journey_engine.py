"""The engine: triggers enrol, steps advance as sets, sends go through the outbox once."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from campaigns.journeys.engine import journeys_advance
from campaigns.journeys.services import (
    journey_enrol,
    journey_pause,
    journey_resume,
    journey_version_add,
)
from campaigns.journeys.triggers import journeys_catch_up
from campaigns.models import Enrolment, Message, StepLog
from campaigns.services import outbox_claim, outbox_send_claimed, outbox_send_due
from profiles.models import Event, Profile
from profiles.services.events import system_source_get
from segments.services import segment_members_add
from tests.campaigns.conftest import grant, make_people, static_segment, withdraw
from tests.campaigns.journeys import live_journey, welcome_definition


def _event(profile: Profile, name: str, **properties: Any) -> None:
    now = timezone.now()
    Event.objects.create(
        profile=profile,
        source=system_source_get(slug="test-site", name="Test site"),
        type="track",
        name=name,
        properties=properties,
        message_id=str(uuid.uuid4()),
        occurred_at=now,
        received_at=now,
    )


def _steps(enrolment: Enrolment) -> list[tuple[str, str]]:
    return list(
        StepLog.objects.filter(enrolment=enrolment).order_by("visit").values_list("step", "outcome")
    )


@pytest.fixture
def welcome(template: Any, newsletter: Any) -> Any:
    segment = static_segment([])
    journey = live_journey(welcome_definition(segment.pk, template.pk), newsletter)
    return journey, segment


def test_people_who_enter_the_segment_walk_the_journey_and_get_each_message_once(
    welcome: Any, newsletter: Any, smtp_sink: Any
) -> None:
    _journey, segment = welcome
    people = make_people(3)
    for person in people:
        grant(person, newsletter)
    segment_members_add(segment_id=segment.pk, profile_ids=[p.pk for p in people])
    assert journeys_catch_up().enrolled == 3
    now = timezone.now()
    journeys_advance(now=now)
    outbox_send_due()
    assert len(smtp_sink.messages) == 3
    Message.objects.filter(profile=people[0]).update(clicked_at=now)
    _event(people[0], "Email Clicked")
    journeys_advance(now=now + timedelta(days=2))  # still waiting
    assert Message.objects.count() == 3
    later = now + timedelta(days=3, minutes=1)
    journeys_advance(now=later)
    claimed, result = outbox_claim(limit=100, now=later)
    outbox_send_claimed(claimed=claimed, result=result)
    enrolments = {e.profile_id: e for e in Enrolment.objects.all()}
    assert _steps(enrolments[people[0].pk]) == [
        ("welcome", "send"),
        ("wait", "waited"),
        ("clicked", "yes"),
        ("offer", "send"),
        ("done", "exit"),
    ]
    assert _steps(enrolments[people[1].pk])[2:4] == [("clicked", "no"), ("reminder", "send")]
    assert Counter(e.status for e in enrolments.values()) == {"completed": 3}
    assert len(smtp_sink.messages) == 6
    assert len({m["Message-ID"] for m in smtp_sink.messages}) == 6


def test_one_running_enrolment_per_person_and_no_reentry_by_default(welcome: Any) -> None:
    journey, _ = welcome
    person = make_people(1)[0]
    assert journey_enrol(journey_id=journey.pk, profile_ids=[person.pk]) == 1
    assert journey_enrol(journey_id=journey.pk, profile_ids=[person.pk]) == 0
    Enrolment.objects.update(status="completed", finished_at=timezone.now())
    assert journey_enrol(journey_id=journey.pk, profile_ids=[person.pk]) == 0
    assert Enrolment.objects.count() == 1


def test_reentry_after_exit(template: Any, newsletter: Any) -> None:
    definition = welcome_definition(static_segment([]).pk, template.pk)
    journey = live_journey(definition, newsletter, reentry="after_exit")
    person = make_people(1)[0]
    journey_enrol(journey_id=journey.pk, profile_ids=[person.pk])
    Enrolment.objects.update(status="completed", finished_at=timezone.now())
    assert journey_enrol(journey_id=journey.pk, profile_ids=[person.pk]) == 1


def test_running_enrolments_finish_on_their_version(welcome: Any, template: Any) -> None:
    journey, segment = welcome
    first, second = make_people(2)
    journey_enrol(journey_id=journey.pk, profile_ids=[first.pk])
    now = timezone.now()
    journeys_advance(now=now)
    changed = welcome_definition(segment.pk, template.pk)
    changed["steps"]["wait"]["duration"] = {"days": 10}
    journey_version_add(journey_id=journey.pk, definition=changed)
    journey_enrol(journey_id=journey.pk, profile_ids=[second.pk])
    journeys_advance(now=now)
    journeys_advance(now=now + timedelta(days=4))
    assert Enrolment.objects.get(profile=first).status == "completed"
    assert Enrolment.objects.get(profile=second).step == "wait"
    assert Enrolment.objects.get(profile=second).version.version == 2


def test_a_paused_journey_holds_its_people_until_resumed(welcome: Any) -> None:
    journey, _ = welcome
    person = make_people(1)[0]
    journey_enrol(journey_id=journey.pk, profile_ids=[person.pk])
    journey_pause(journey_id=journey.pk)
    assert journeys_advance().claimed == 0
    journey_resume(journey_id=journey.pk)
    assert journeys_advance().steps == 1


def test_a_withdrawn_person_leaves_the_journey(welcome: Any, newsletter: Any) -> None:
    journey, _ = welcome
    person = make_people(1)[0]
    grant(person, newsletter)
    journey_enrol(journey_id=journey.pk, profile_ids=[person.pk])
    withdraw(person, newsletter)
    journeys_advance()
    enrolment = Enrolment.objects.get()
    assert (enrolment.status, enrolment.exit_reason) == ("exited", "consent")
    assert Message.objects.count() == 0


def test_wait_for_event_takes_the_event_branch_or_the_timeout(
    template: Any, newsletter: Any
) -> None:
    definition = {
        "trigger": {
            "type": "event",
            "event": {
                "name": "Form Submitted",
                "where": [{"property": "form", "op": "eq", "value": "signup"}],
            },
        },
        "start": "await",
        "steps": {
            "await": {
                "type": "wait_for_event",
                "event": "Page Viewed",
                "timeout": {"days": 1},
                "next": "vip",
                "timeout_next": "done",
            },
            "vip": {"type": "update_profile", "lifecycle_stage": "prospect", "next": "done"},
            "done": {"type": "exit"},
        },
    }
    live_journey(definition, newsletter)
    quick, slow, other = make_people(3)
    for person in (quick, slow):
        _event(person, "Form Submitted", form="signup")
    _event(other, "Form Submitted", form="contact")
    assert journeys_catch_up().enrolled == 2
    now = timezone.now()
    journeys_advance(now=now)
    _event(quick, "Page Viewed")
    assert journeys_catch_up().woken == 1
    journeys_advance(now=timezone.now())
    journeys_advance(now=now + timedelta(days=1, minutes=1))
    quick.refresh_from_db()
    assert quick.lifecycle_stage == "prospect"
    assert [s for s, _ in _steps(Enrolment.objects.get(profile=quick))] == ["await", "vip", "done"]
    assert _steps(Enrolment.objects.get(profile=slow)) == [("await", "timeout"), ("done", "exit")]


def test_split_with_holdout_is_stable_and_weighted(template: Any, newsletter: Any) -> None:
    definition = {
        "trigger": {"type": "manual"},
        "start": "ab",
        "steps": {
            "ab": {
                "type": "split",
                "variants": [
                    {"name": "a", "weight": 45, "next": "send"},
                    {"name": "b", "weight": 45, "next": "send"},
                    {"name": "control", "weight": 10, "next": "done", "holdout": True},
                ],
            },
            "send": {"type": "send", "template": template.pk, "next": "done"},
            "done": {"type": "exit"},
        },
    }
    journey = live_journey(definition, newsletter)
    people = make_people(400)
    journey_enrol(journey_id=journey.pk, profile_ids=[p.pk for p in people])
    result = journeys_advance()
    variants = Counter(Enrolment.objects.values_list("variant", flat=True))
    assert set(variants) == {"a", "b", "control"}
    assert 20 <= variants["control"] <= 70
    assert Message.objects.count() == variants["a"] + variants["b"] == result.messages
    assert Counter(Enrolment.objects.values_list("status", flat=True)) == {"completed": 400}


def test_the_goal_is_attributed_to_the_step_and_the_last_message(
    template: Any, newsletter: Any
) -> None:
    segment = static_segment([])
    journey = live_journey(
        welcome_definition(segment.pk, template.pk),
        newsletter,
        goal_event="Order Completed",
        goal_days=14,
    )
    buyer, other = make_people(2)
    journey_enrol(journey_id=journey.pk, profile_ids=[buyer.pk, other.pk])
    journeys_advance()
    _event(buyer, "Order Completed", total=12)
    assert journeys_catch_up().converted == 1
    enrolment = Enrolment.objects.get(profile=buyer)
    welcome_message = Message.objects.get(profile=buyer)
    assert (enrolment.status, enrolment.exit_reason, enrolment.converted_step) == (
        "exited",
        "goal",
        "wait",
    )
    assert enrolment.converted_message_id == welcome_message.pk
    assert Enrolment.objects.get(profile=other).converted_at is None


def test_leaving_the_trigger_segment_exits_when_asked(template: Any, newsletter: Any) -> None:
    segment = static_segment([])
    definition = welcome_definition(segment.pk, template.pk)
    definition["exit"] = {"left_segment": True}
    live_journey(definition, newsletter)
    person = make_people(1)[0]
    segment_members_add(segment_id=segment.pk, profile_ids=[person.pk])
    journeys_catch_up()
    from segments.services import segment_members_remove

    segment_members_remove(segment_id=segment.pk, profile_ids=[person.pk])
    assert journeys_catch_up().exited == 1
    assert Enrolment.objects.get().exit_reason == "left_segment"
    assert Event.objects.filter(name="Segment Exited").count() == 1


def test_a_static_list_larger_than_a_chunk_gets_one_event_per_person(
    welcome: Any, monkeypatch: Any
) -> None:
    from segments.services import membership

    monkeypatch.setattr(membership, "CHUNK", 2)
    _, segment = welcome
    people = make_people(5)
    segment_members_add(segment_id=segment.pk, profile_ids=[p.pk for p in people])
    assert journeys_catch_up().enrolled == 5
    from segments.services import segment_members_remove

    segment_members_remove(segment_id=segment.pk, profile_ids=[p.pk for p in people])
    assert Event.objects.filter(name="Segment Entered").count() == 5
    assert Event.objects.filter(name="Segment Exited").count() == 5
