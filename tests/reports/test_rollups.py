"""Every rollup figure equals a plain query over the raw tables, whatever happened."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from consent.models import ConsentRecord, Purpose
from consent.services import person_erase, purpose_wording_add
from profiles.models import Event, EventAggregate, Profile
from profiles.services import ingest_messages, profile_merge
from profiles.services.messages import Message
from reports.models import DailyConsents, DailyEvents, RollupCursor
from reports.services import rollups_catch_up, rollups_rebuild
from tests.consent.helpers import decide

START = datetime(2026, 10, 1, 9, 30, tzinfo=UTC)
KEYS = ("day", "source_id", "type", "name")


def raw_events(*, utm: bool = False) -> Counter:
    """Events as the raw tables hold them: the log plus the erased people's counts."""
    keys = (*KEYS, "utm_source", "utm_medium", "utm_campaign") if utm else KEYS
    found: Counter = Counter()
    for row in (
        Event.objects.annotate(day=TruncDate("occurred_at"))
        .values(*keys)
        .annotate(n=Count("id"))
        .order_by()
    ):
        found[tuple(row[key] for key in keys)] += row["n"]
    for row in EventAggregate.objects.values(*KEYS).annotate(n=Sum("count")).order_by():
        extra = ("", "", "") if utm else ()
        found[(*(row[key] for key in KEYS), *extra)] += row["n"]
    return found


def rolled_events(*, utm: bool = False) -> Counter:
    keys = (*KEYS, "utm_source", "utm_medium", "utm_campaign") if utm else KEYS
    found: Counter = Counter()
    for row in DailyEvents.objects.values(*keys).annotate(n=Sum("count")).order_by():
        found[tuple(row[key] for key in keys)] += row["n"]
    return +found


def raw_consents() -> Counter:
    return Counter(
        {
            (row["day"], row["purpose_id"], row["status"], row["method"]): row["n"]
            for row in ConsentRecord.objects.annotate(day=TruncDate("recorded_at"))
            .values("day", "purpose_id", "status", "method")
            .annotate(n=Count("id"))
            .order_by()
        }
    )


def rolled_consents() -> Counter:
    return +Counter(
        {
            (row.day, row.purpose_id, row.status, row.method): row.count
            for row in DailyConsents.objects.all()
        }
    )


@pytest.fixture
def newsletter(db: None) -> Purpose:
    purpose = Purpose.objects.create(code="newsletter", name="Newsletter", channel="email")
    purpose_wording_add(purpose=purpose, text="Send me the newsletter.")
    return purpose


def visit(source: Any, n: int, *, day: int, campaign: str, name: str) -> Profile | None:
    """A person's identify and a tracked event, `day` days after the start (None: an erased
    person's identifiers are suppressed, nothing is stored)."""
    at = (START + timedelta(days=day, minutes=n)).isoformat()
    result = ingest_messages(
        source=source,
        messages=[
            Message(
                type="identify",
                message_id=f"id-{n}-{day}",
                user_id=f"user-{n}",
                traits={"email": f"person{n}@example.org", "firstName": f"P{n}"},
                timestamp=at,
            ),
            Message(
                type="track",
                message_id=f"tr-{n}-{day}-{name}",
                user_id=f"user-{n}",
                name=name,
                context={"campaign": {"source": "newsletter", "medium": "email", "name": campaign}},
                timestamp=at,
            ),
        ],
    )
    assert result.rejected == 0
    profile_id = result.results[0].profile_id
    return None if profile_id is None else Profile.objects.get(pk=profile_id)


STEP = st.one_of(
    st.tuples(
        st.just("visit"),
        st.integers(0, 6),
        st.integers(0, 40),
        st.sampled_from(["autumn", "winter", ""]),
        st.sampled_from(["Order Completed", "Brochure Downloaded"]),
    ),
    st.tuples(st.just("consent"), st.integers(0, 6), st.sampled_from(["granted", "withdrawn"])),
    st.tuples(st.just("catch_up")),
    st.tuples(st.just("erase"), st.integers(0, 6)),
    st.tuples(st.just("merge"), st.integers(0, 6), st.integers(0, 6)),
)


@given(steps=st.lists(STEP, min_size=1, max_size=12))
@hypothesis_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_rollups_equal_the_raw_tables_after_any_history(
    steps: list[tuple], web_form: Any, newsletter: Purpose
) -> None:
    people: dict[int, Profile] = {}
    for step in steps:
        if step[0] == "visit":
            _, n, day, campaign, name = step
            person = visit(web_form, n, day=day, campaign=campaign, name=name)
            if person is not None:
                people[n] = person
        elif step[0] == "consent" and step[1] in people:
            profile = Profile.objects.get(pk=people[step[1]].pk)
            if profile.status == Profile.Status.ACTIVE:
                decide(profile, newsletter, step[2])
        elif step[0] == "catch_up":
            rollups_catch_up()
        elif step[0] == "erase" and step[1] in people:
            person_erase(profile_ids=[people[step[1]].pk])
        elif step[0] == "merge" and step[1] in people and step[2] in people:
            survivor, absorbed = (
                Profile.objects.get(pk=people[step[1]].pk),
                Profile.objects.get(pk=people[step[2]].pk),
            )
            if survivor.pk != absorbed.pk and {survivor.status, absorbed.status} == {"active"}:
                profile_merge(survivor_id=survivor.pk, absorbed_id=absorbed.pk)

    rollups_catch_up()

    assert rolled_events() == +raw_events()
    assert rolled_consents() == +raw_consents()

    rollups_rebuild()

    assert rolled_events(utm=True) == +raw_events(utm=True)
    assert rolled_consents() == +raw_consents()


def test_the_first_catch_up_counts_the_whole_ledger_and_the_next_only_what_is_new(
    web_form: Any,
) -> None:
    visit(web_form, 1, day=0, campaign="autumn", name="Order Completed")
    visit(web_form, 2, day=1, campaign="autumn", name="Order Completed")

    first = {result.ledger: result.rows for result in rollups_catch_up()}
    visit(web_form, 3, day=1, campaign="winter", name="Order Completed")
    second = {result.ledger: result.rows for result in rollups_catch_up()}
    third = {result.ledger: result.rows for result in rollups_catch_up()}

    assert (first["events"], second["events"], third["events"]) == (4, 2, 0)
    day_two = DailyEvents.objects.filter(day=(START + timedelta(days=1)).date(), type="track")
    assert sorted(day_two.values_list("utm_campaign", "count")) == [("autumn", 1), ("winter", 1)]


def test_a_row_that_commits_below_the_cursor_is_counted_once_when_it_appears(
    web_form: Any,
) -> None:
    visit(web_form, 1, day=0, campaign="autumn", name="Order Completed")
    rollups_catch_up()
    cursor = RollupCursor.objects.get(name="events")
    late = Event.objects.order_by("id").last()
    assert late is not None
    # As if the last event had not been visible yet: its id is a gap below the position.
    cursor.gaps = [[late.pk, late.pk, cursor.updated_at.timestamp() + 10**6]]
    cursor.save(update_fields=["gaps"])
    DailyEvents.objects.filter(type="track").update(count=0)

    rollups_catch_up()
    rollups_catch_up()

    assert DailyEvents.objects.get(type="track").count == 1
    assert RollupCursor.objects.get(name="events").gaps == []


def test_the_backfill_command_rebuilds_every_rollup(
    web_form: Any, newsletter: Purpose, capsys: pytest.CaptureFixture[str]
) -> None:
    person = visit(web_form, 1, day=0, campaign="autumn", name="Order Completed")
    assert person is not None
    decide(person, newsletter)
    DailyEvents.objects.all().delete()

    call_command("cdp_rollups")

    assert rolled_events(utm=True) == raw_events(utm=True)
    assert rolled_consents() == raw_consents()
    out = capsys.readouterr().out
    assert "events: 2 rows counted" in out
    assert "consents: 1 rows counted" in out
