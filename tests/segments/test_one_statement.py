"""The incremental refresh in one statement (PostgreSQL) against the full refresh.

On PostgreSQL `segment_refresh_profiles` decides and writes in one message once it knows
the active segments; on SQLite (and when the segments changed) it goes statement by
statement. Both must leave the same stays, events and member counts as a full refresh.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from profiles.models import Event, Profile
from segments.models import Membership, Segment
from segments.services import (
    segment_create,
    segment_members_add,
    segment_refresh,
    segment_refresh_profiles,
    segment_update,
)

FRENCH = {"field": "country", "op": "eq", "value": "FR"}
GOLD_OR_NOT_FRENCH = {
    "any": [{"field": "traits.tier", "op": "eq", "value": "gold"}, {"not": FRENCH}]
}
ON_PG = connection.vendor == "postgresql"

person = st.fixed_dictionaries(
    {
        "country": st.sampled_from(["FR", "DE"]),
        "tier": st.sampled_from([None, "gold", "silver"]),
        "active": st.booleans(),
        "listed": st.booleans(),
    }
)


def _make(spec: dict[str, Any]) -> Profile:
    return Profile.objects.create(
        country=spec["country"],
        traits={} if spec["tier"] is None else {"tier": spec["tier"]},
        status="active" if spec["active"] else "restricted",
    )


def _change(profile: Profile, spec: dict[str, Any]) -> None:
    Profile.objects.filter(pk=profile.pk).update(
        country=spec["country"],
        traits={} if spec["tier"] is None else {"tier": spec["tier"]},
        status="active" if spec["active"] else "restricted",
    )


def _state(segments: list[Segment], after_event: int) -> dict[str, Any]:
    """Current members, member counts and the events appended since `after_event`."""
    stays = {m.pk: m for m in Membership.objects.all()}
    events = []
    for event in Event.objects.filter(pk__gt=after_event, name__startswith="Segment "):
        prefix, _, stay_id = event.message_id.rpartition("-")
        stay = stays[int(stay_id)]
        if stay.segment_id not in {s.pk for s in segments}:
            continue
        # The message id names the stay the event is about, of this profile and segment.
        assert stay.profile_id == event.profile_id
        assert stay.segment_id == event.properties["segment_id"]
        # An entry's stay is current, an exit's has ended (one refresh does one of them).
        assert (prefix, stay.exited_at is None) in (
            ("segment-entered", True),
            ("segment-exited", False),
        )
        assert (event.type, event.context, event.source.slug) == ("track", {}, "cdp-segments")
        events.append((event.profile_id, event.name, event.properties["segment_name"], prefix))
    return {
        "members": {
            s.pk: sorted(
                m.profile_id for m in stays.values() if m.segment_id == s.pk and not m.exited_at
            )
            for s in segments
        },
        "counts": dict(
            Segment.objects.filter(pk__in=[s.pk for s in segments]).values_list(
                "pk", "member_count"
            )
        ),
        "events": sorted(events),
    }


def _statements(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]


@settings(
    max_examples=40,
    # Each example builds a database world: shrinking one takes minutes; report it as found.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(pairs=st.lists(st.tuples(person, person), min_size=1, max_size=6))
def test_one_statement_refresh_gives_the_full_refreshs_members_and_events(
    pairs: list[tuple[dict[str, Any], dict[str, Any]]], db: None
) -> None:
    with transaction.atomic():
        people = [_make(before) for before, _ in pairs]
        french = segment_create(name="French", rule=FRENCH)
        gold = segment_create(name="Gold or not French", rule=GOLD_OR_NOT_FRENCH)
        listed = segment_create(name="Listed", kind="static")
        segment_members_add(
            segment_id=listed.pk,
            profile_ids=[
                p.pk for p, (before, _) in zip(people, pairs, strict=True) if before["listed"]
            ],
        )
        for segment in (french, gold):
            segment_refresh(segment_id=segment.pk)
        # A first incremental refresh learns the active segments (statement by statement).
        assert segment_refresh_profiles(profile_ids=[people[0].pk]) == {}
        for profile, (_, after) in zip(people, pairs, strict=True):
            _change(profile, after)
        mark = Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        dynamic = [french, gold]

        with transaction.atomic():
            for segment in dynamic:
                segment_refresh(segment_id=segment.pk)
            full = _state(dynamic, mark)
            transaction.set_rollback(True)

        with CaptureQueriesContext(connection) as queries:
            changes = segment_refresh_profiles(profile_ids=[p.pk for p in people])
        incremental = _state(dynamic, mark)
        listed_members = set(
            Membership.objects.filter(segment=listed, exited_at=None).values_list(
                "profile_id", flat=True
            )
        )
        listed.refresh_from_db()
        transaction.set_rollback(True)

    assert incremental == full
    moved = {s: (0, 0) for s in (french.pk, gold.pk, listed.pk)}
    for _, name, segment_name, _ in incremental["events"]:
        pk = {"French": french.pk, "Gold or not French": gold.pk}[segment_name]
        entered, exited = moved[pk]
        moved[pk] = (entered + 1, exited) if name == "Segment Entered" else (entered, exited + 1)
    expected_listed = {
        p.pk
        for p, (before, after) in zip(people, pairs, strict=True)
        if before["listed"] and before["active"] and after["active"]
    }
    left_list = len(
        {p.pk for p, (b, _) in zip(people, pairs, strict=True) if b["listed"] and b["active"]}
        - expected_listed
    )
    moved[listed.pk] = (0, left_list)
    assert changes == {pk: n for pk, n in moved.items() if n != (0, 0)}
    assert listed_members == expected_listed
    assert listed.member_count == len(expected_listed)
    if ON_PG:
        assert len(_statements(queries)) == 1, _statements(queries)


def test_a_changed_rule_or_name_is_seen_at_once(make_profile: Any) -> None:
    """The one-statement path checks the segments it was built for under the lock."""
    ada = make_profile(country="FR")
    segment = segment_create(name="French", rule=FRENCH)
    segment_refresh(segment_id=segment.pk)
    assert segment_refresh_profiles(profile_ids=[ada.pk]) == {}  # learns the segments

    segment_update(segment_id=segment.pk, rule={"field": "country", "op": "eq", "value": "DE"})
    segment_update(segment_id=segment.pk, name="German")
    assert segment_refresh_profiles(profile_ids=[ada.pk]) == {segment.pk: (0, 1)}
    exit_event = Event.objects.get(profile=ada, name="Segment Exited")
    assert exit_event.properties == {"segment_id": segment.pk, "segment_name": "German"}

    Profile.objects.filter(pk=ada.pk).update(country="DE")
    with CaptureQueriesContext(connection) as queries:
        assert segment_refresh_profiles(profile_ids=[ada.pk]) == {segment.pk: (1, 0)}
    if ON_PG:
        assert len(_statements(queries)) == 1, _statements(queries)
    segment.refresh_from_db()
    assert segment.member_count == 1

    other = segment_create(name="Everyone French", rule=FRENCH)
    Profile.objects.filter(pk=ada.pk).update(country="FR")
    assert segment_refresh_profiles(profile_ids=[ada.pk]) == {
        segment.pk: (0, 1),
        other.pk: (1, 0),
    }


@pytest.mark.skipif(not ON_PG, reason="prepared statements are PostgreSQL's")
def test_a_connection_that_lost_its_prepared_statements_prepares_them_again(
    make_profile: Any,
) -> None:
    ada = make_profile(country="FR")
    segment = segment_create(name="French", rule=FRENCH)
    assert segment_refresh_profiles(profile_ids=[ada.pk]) == {segment.pk: (1, 0)}
    assert segment_refresh_profiles(profile_ids=[ada.pk]) == {}  # prepared now
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # as a connection pooler's DISCARD ALL would

    Profile.objects.filter(pk=ada.pk).update(country="DE")
    with CaptureQueriesContext(connection) as queries:
        assert segment_refresh_profiles(profile_ids=[ada.pk]) == {segment.pk: (0, 1)}
    assert current_members(segment) == set()
    sent = [sql for sql in _statements(queries) if "EXECUTE" in sql]
    # The first message failed (nothing written), the second prepared it again.
    assert len(sent) == 2
    assert "PREPARE" not in sent[0]
    assert "PREPARE" in sent[1]


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_one_message_commits_the_change_and_its_events() -> None:
    ada = Profile.objects.create(country="DE")
    grace = Profile.objects.create(country="DE")
    segment = segment_create(name="French", rule=FRENCH)
    segment_refresh(segment_id=segment.pk)
    assert segment_refresh_profiles(profile_ids=[ada.pk]) == {}  # learns the segments
    Profile.objects.filter(pk=ada.pk).update(country="FR")

    with CaptureQueriesContext(connection) as queries:
        assert segment_refresh_profiles(profile_ids=[ada.pk]) == {segment.pk: (1, 0)}
        assert segment_refresh_profiles(profile_ids=[grace.pk]) == {}
    assert not connection.in_atomic_block
    if ON_PG:
        # One message each: no BEGIN / COMMIT of their own, nothing written for grace.
        assert len(queries.captured_queries) == 2, queries.captured_queries
    assert current_members(segment) == {ada.pk}
    stay = Membership.objects.get(segment=segment, profile=ada)
    event = Event.objects.get(name="Segment Entered")
    assert (event.profile_id, event.message_id) == (ada.pk, f"segment-entered-{stay.pk}")
    assert event.properties == {"segment_id": segment.pk, "segment_name": "French"}
    assert not Event.objects.filter(profile=grace).exists()
    segment.refresh_from_db()
    assert segment.member_count == 1


def current_members(segment: Segment) -> set[int]:
    return set(
        Membership.objects.filter(segment=segment, exited_at=None).values_list(
            "profile_id", flat=True
        )
    )
