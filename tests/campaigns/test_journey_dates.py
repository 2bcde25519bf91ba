"""Date triggers (birthday, renewal, last order + N days) at a local time of day, and
waits for an event with property filters."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.db import connection, transaction

from campaigns.journeys.dates import due_people
from campaigns.journeys.engine import journeys_advance
from campaigns.journeys.simulate import journey_simulate
from campaigns.journeys.triggers import journeys_catch_up
from campaigns.models import Enrolment, StepLog
from profiles.models import Event, Profile
from profiles.services.events import system_source_get
from tests.campaigns.journeys import live_journey
from tests.helpers import postgres_only

DONE = {"done": {"type": "exit"}}


def _at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def _person(n: int, **fields: Any) -> Profile:
    return Profile.objects.create(email=f"d{n}@example.org", language="en", **fields)


def _journey(trigger: dict[str, Any], purpose: Any, **extra: Any) -> Any:
    return live_journey({"trigger": trigger, "start": "done", "steps": DONE}, purpose, **extra)


def _enrolled(journey: Any) -> dict[int, list[date | None]]:
    found: dict[int, list[date | None]] = {}
    for pk, occasion in (
        Enrolment.objects.filter(journey=journey).order_by("pk").values_list("profile", "occasion")
    ):
        found.setdefault(pk, []).append(occasion)
    return found


def _tick(now: datetime) -> int:
    enrolled = journeys_catch_up(now=now).enrolled
    journeys_advance(now=now)
    return enrolled


def test_a_birthday_enrols_each_person_at_nine_in_their_time_zone_once_a_year(
    newsletter: Any,
) -> None:
    paris = _person(1, timezone="Europe/Paris", date_of_birth=date(1990, 6, 15))
    new_york = _person(2, timezone="America/New_York", date_of_birth=date(1985, 6, 15))
    by_country = _person(3, country="US", date_of_birth=date(2001, 6, 15))
    _person(4, timezone="Europe/Paris", date_of_birth=date(1990, 6, 16))  # not today
    _person(5, timezone="Europe/Paris")  # no date
    leap = _person(6, timezone="Europe/Paris", date_of_birth=date(2000, 2, 29))
    trigger = {"type": "date", "field": "date_of_birth", "yearly": True, "time": "09:00"}
    journey = _journey(trigger, newsletter, reentry="after_exit")

    assert _tick(_at(2027, 6, 15, 6, 59, 50)) == 0  # 08:59:50 in Paris
    assert _tick(_at(2027, 6, 15, 7, 0, 0)) == 1
    assert _tick(_at(2027, 6, 15, 7, 0, 10)) == 0  # beat again: nobody twice
    assert _enrolled(journey) == {paris.pk: [date(2027, 6, 15)]}
    assert Enrolment.objects.get(profile=paris).status == "completed"  # walked it, exited
    assert _tick(_at(2027, 6, 15, 12, 59, 0)) == 0  # 08:59 in New York
    assert _tick(_at(2027, 6, 15, 13, 0, 5)) == 2  # New York, by zone and by country
    assert _tick(_at(2027, 6, 15, 18, 0, 0)) == 0  # the day's occasion is spent
    assert set(_enrolled(journey)) == {paris.pk, new_york.pk, by_country.pk}

    assert _tick(_at(2027, 2, 28, 8, 0, 0)) == 1  # 29 February, in a year without one
    assert _enrolled(journey)[leap.pk] == [date(2027, 2, 28)]
    assert _tick(_at(2028, 6, 15, 7, 0, 0)) == 1  # a year later: again (re-entry after exit)
    assert _enrolled(journey)[paris.pk] == [date(2027, 6, 15), date(2028, 6, 15)]


def test_a_time_skipped_by_daylight_saving_comes_at_the_jump_and_a_repeated_one_once(
    newsletter: Any,
) -> None:
    spring = _person(1, timezone="Europe/Paris", date_of_birth=date(1990, 3, 28))
    autumn = _person(2, timezone="Europe/Paris", date_of_birth=date(1990, 10, 31))
    trigger = {"type": "date", "field": "date_of_birth", "yearly": True, "time": "02:30"}
    journey = _journey(trigger, newsletter, reentry="after_exit")

    # 28 March 2027: Paris jumps from 02:00 CET to 03:00 CEST (01:00 UTC); 02:30 never is.
    assert _tick(_at(2027, 3, 28, 0, 59, 59)) == 0
    assert _tick(_at(2027, 3, 28, 1, 0, 0)) == 1
    # 31 October 2027: 02:30 comes twice (00:30 and 01:30 UTC): the first one enrols.
    assert _tick(_at(2027, 10, 31, 0, 29, 59)) == 0
    assert _tick(_at(2027, 10, 31, 0, 30, 0)) == 1
    assert _tick(_at(2027, 10, 31, 1, 30, 0)) == 0
    assert _enrolled(journey) == {
        spring.pk: [date(2027, 3, 28)],
        autumn.pk: [date(2027, 10, 31)],
    }


def test_a_renewal_trait_enrols_thirty_days_before_and_a_never_journey_only_once(
    newsletter: Any,
) -> None:
    soon = _person(1, timezone="UTC", traits={"renewal_on": "2027-07-15"})
    later = _person(2, timezone="UTC", traits={"renewal_on": "2027-07-16"})
    _person(3, timezone="UTC", traits={"renewal_on": "not a date"})
    trigger = {"type": "date", "trait": "renewal_on", "days": -30, "time": "10:00"}
    journey = _journey(trigger, newsletter)
    assert _tick(_at(2027, 6, 15, 9, 59)) == 0
    assert _tick(_at(2027, 6, 15, 10, 0)) == 1
    assert _enrolled(journey) == {soon.pk: [date(2027, 6, 15)]}
    assert _tick(_at(2027, 6, 16, 10, 0)) == 1
    assert _enrolled(journey) == {soon.pk: [date(2027, 6, 15)], later.pk: [date(2027, 6, 16)]}
    Profile.objects.filter(pk=soon.pk).update(traits={"renewal_on": "2027-07-17"})
    assert _tick(_at(2027, 6, 17, 10, 0)) == 0  # re-entry never: a renewed date enrols no one


def _order(profile: Profile, at: datetime, total: int = 10) -> None:
    Event.objects.create(
        profile=profile,
        source=system_source_get(slug="test-site", name="Test site"),
        type="track",
        name="Order Completed",
        properties={"total": total},
        message_id=str(uuid.uuid4()),
        occurred_at=at,
        received_at=at,
    )


def test_the_last_order_plus_thirty_days_enrols_those_who_did_not_order_since(
    newsletter: Any,
) -> None:
    lapsed = _person(1, timezone="Europe/Paris")
    again = _person(2, timezone="Europe/Paris")
    _order(lapsed, _at(2027, 5, 16, 12))
    _order(again, _at(2027, 5, 16, 12))
    _order(again, _at(2027, 5, 20, 12))
    trigger = {
        "type": "date",
        "event": {"name": "Order Completed", "type": "track"},
        "days": 30,
        "time": "18:00",
    }
    journey = _journey(trigger, newsletter)
    assert _tick(_at(2027, 6, 15, 16, 0)) == 1  # 18:00 in Paris
    assert _enrolled(journey) == {lapsed.pk: [date(2027, 6, 15)]}

    steps = journey_simulate(journey=journey, profile=again, now=_at(2027, 6, 1))
    assert (steps[0].type, steps[0].outcome, steps[0].at) == ("date", "enter", _at(2027, 6, 19, 16))
    assert [s.step for s in steps[1:]] == ["done"]


def test_a_wait_for_an_event_with_filters_wakes_only_on_a_matching_event(
    newsletter: Any,
) -> None:
    small, big = _person(1), _person(2)
    definition = {
        "trigger": {"type": "manual"},
        "start": "paid",
        "steps": {
            "paid": {
                "type": "wait_for_event",
                "event": {
                    "name": "Order Completed",
                    "where": [{"property": "total", "op": "gte", "value": 50}],
                },
                "timeout": {"days": 2},
                "next": "done",
                "timeout_next": "late",
            },
            "late": {"type": "exit"},
            **DONE,
        },
    }
    journey = live_journey(definition, newsletter)
    from campaigns.journeys.services import journey_enrol

    journey_enrol(journey_id=journey.pk, profile_ids=[small.pk, big.pk])
    journeys_advance()
    now = datetime.now(UTC)
    _order(small, now, total=10)
    _order(big, now, total=120)
    journeys_catch_up()
    journeys_advance()
    journeys_advance(now=now + timedelta(days=3))

    def walked(person: Profile) -> list[tuple[str, str]]:
        return list(
            StepLog.objects.filter(enrolment__profile=person, enrolment__journey=journey)
            .order_by("visit")
            .values_list("step", "outcome")
        )

    assert walked(big) == [("paid", "event"), ("done", "exit")]
    assert walked(small) == [("paid", "timeout"), ("late", "exit")]


@pytest.mark.parametrize("kind", ["yearly", "once"])
def test_simulate_says_when_the_date_comes_or_that_it_passed(newsletter: Any, kind: str) -> None:
    person = _person(1, timezone="America/New_York", date_of_birth=date(1990, 6, 15))
    trigger: dict[str, Any] = {"type": "date", "field": "date_of_birth", "time": "09:00"}
    if kind == "yearly":
        trigger["yearly"] = True
    journey = _journey(trigger, newsletter)
    steps = journey_simulate(journey=journey, profile=person, now=_at(2027, 6, 1))
    if kind == "yearly":
        assert (steps[0].outcome, steps[0].at) == ("enter", _at(2027, 6, 15, 13))
    else:
        assert [(s.type, s.outcome) for s in steps] == [("date", "none")]


def test_the_unique_occasion_keeps_a_second_enrolment_out_whoever_inserts_it(
    newsletter: Any,
) -> None:
    from django.db.models import DateField, Q, Value

    from campaigns.journeys.services import enrol_from

    person = _person(1, timezone="UTC", date_of_birth=date(1990, 6, 15))
    trigger = {"type": "date", "field": "date_of_birth", "yearly": True, "time": "09:00"}
    journey = _journey(trigger, newsletter, reentry="after_exit")
    day = Value(date(2027, 6, 15), output_field=DateField())
    # As two beats would: the same occasion inserted twice, the first enrolment finished.
    assert enrol_from(journey=journey, where=Q(pk=person.pk), occasion=day, source="date") == 1
    journeys_advance()
    assert Enrolment.objects.get(profile=person).status == "completed"
    assert enrol_from(journey=journey, where=Q(pk=person.pk), occasion=day, source="date") == 0
    assert _enrolled(journey) == {person.pk: [date(2027, 6, 15)]}


def test_the_admin_editor_names_a_bad_date_trigger_and_the_graph_states_a_good_one(
    admin_client: Any, newsletter: Any
) -> None:
    import json

    from campaigns.models import Journey

    form = {
        "name": "Birthday",
        "description": "",
        "purpose": newsletter.pk,
        "reentry": "after_exit",
        "reentry_days": "",
        "goal_event": "",
        "goal_days": "",
    }
    trigger = {"type": "date", "field": "date_of_birth", "yearly": True, "time": "9h"}
    definition = {"trigger": trigger, "start": "done", "steps": DONE}
    refused = admin_client.post(
        "/admin/campaigns/journey/add/", {**form, "definition": json.dumps(definition)}
    )
    trigger["time"] = "09:00"
    admin_client.post(
        "/admin/campaigns/journey/add/", {**form, "definition": json.dumps(definition)}
    )
    journey = Journey.objects.get()
    admin_client.post(f"/admin/campaigns/journey/{journey.pk}/act/", {"action": "activate"})
    person = _person(1, timezone="Europe/Paris", date_of_birth=date(1990, 6, 15))
    graph = admin_client.get(
        f"/admin/campaigns/journey/{journey.pk}/graph/?profile={person.pk}",
        HTTP_ACCEPT_LANGUAGE="fr",
    )

    assert "definition.trigger.time" in refused.content.decode()
    page = graph.content.decode()
    assert "Déclencheur :" in page
    assert "à 09:00 dans le fuseau horaire de la personne, chaque année" in page
    assert "la date arrive" in page  # the simulation starts with the person's birthday


@postgres_only
@pytest.mark.django_db
def test_a_birthday_tick_can_find_its_people_by_the_birthday_index() -> None:
    """The tick's month-and-day look-up matches `profile_birthday_idx` (a change to either
    side that broke the match would send every tick back to reading the whole table)."""
    trigger = {"type": "date", "field": "date_of_birth", "yearly": True, "time": "09:00"}
    now = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    due = due_people(trigger, journey_id=1, now=now, since=None)
    assert due is not None
    sql, params = Profile.objects.filter(due[0]).values("pk").query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "profile_birthday_idx" in plan
