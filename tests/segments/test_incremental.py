"""Incremental refresh by cursor over the event log, late commits, merges, person data."""

from __future__ import annotations

from typing import Any

from django.db.models import Max
from django.utils import timezone

from consent.registry import person_data_handlers
from profiles.hooks import merge_participants
from profiles.models import Event, Profile
from profiles.services import Message, ingest_messages
from segments.models import EventCursor, Membership
from segments.services import segment_create, segment_refresh
from segments.services.cursor import segments_catch_up
from segments.tasks import segments_catch_up_task

FRENCH = {"field": "country", "op": "eq", "value": "FR"}


def current(segment: Any) -> set[int]:
    return set(
        Membership.objects.filter(segment=segment, exited_at__isnull=True).values_list(
            "profile_id", flat=True
        )
    )


def test_people_who_arrive_by_ingestion_enter_on_the_next_catch_up(web_form: Any) -> None:
    segment = segment_create(name="French", rule=FRENCH)
    segment_refresh(segment_id=segment.pk)
    first = segments_catch_up()  # starts at the end of the log

    ingest_messages(
        source=web_form,
        messages=[
            Message(
                type="identify", user_id="u1", traits={"email": "ada@example.org", "country": "FR"}
            ),
            Message(
                type="identify", user_id="u2", traits={"email": "alan@example.org", "country": "GB"}
            ),
        ],
    )
    caught = segments_catch_up_task()
    entries = segments_catch_up()  # the "Segment Entered" events: rules on segments
    again = segments_catch_up()

    ada = Profile.objects.get(email="ada@example.org")
    assert (first.events, caught, entries.events, again.events) == (0, 2, 1, 0)
    assert current(segment) == {ada.pk}
    assert Event.objects.filter(profile=ada, name="Segment Entered").count() == 1


def test_a_row_that_commits_late_below_the_cursor_is_still_read(
    make_profile: Any, source: Any
) -> None:
    ada = make_profile(country="FR")
    grace = make_profile(country="FR")
    segment = segment_create(name="French", rule=FRENCH)
    segments_catch_up()
    base = (Event.objects.aggregate(top=Max("id"))["top"] or 0) + 1_000_000
    now = timezone.now()

    def event(pk: int, profile: Profile) -> None:
        Event.objects.create(
            pk=pk,
            profile=profile,
            source=source,
            type="track",
            name="x",
            message_id=f"late-{pk}",
            occurred_at=now,
            received_at=now,
        )

    EventCursor.objects.filter(name="segments").update(position=base)
    event(base + 1, ada)
    event(base + 3, ada)  # base + 2 is taken by a transaction not committed yet
    seen_first = segments_catch_up()
    event(base + 2, grace)  # ... which commits now
    seen_late = segments_catch_up()

    assert (seen_first.events, seen_first.position, seen_first.gaps) == (2, base + 3, 1)
    assert seen_late.gaps == 0
    assert current(segment) == {ada.pk, grace.pk}


def test_gaps_older_than_the_overlap_window_are_forgotten(make_profile: Any, source: Any) -> None:
    ada = make_profile(country="FR")
    segments_catch_up()
    base = (Event.objects.aggregate(top=Max("id"))["top"] or 0) + 1_000_000
    EventCursor.objects.filter(name="segments").update(position=base)
    now = timezone.now()
    Event.objects.create(
        pk=base + 5,
        profile=ada,
        source=source,
        type="track",
        name="x",
        message_id="gap",
        occurred_at=now,
        received_at=now,
    )

    kept = segments_catch_up(overlap_seconds=600)
    dropped = segments_catch_up(overlap_seconds=0)

    assert (kept.gaps, dropped.gaps) == (1, 0)


def test_a_merge_moves_current_stays_and_undo_puts_them_back(make_profile: Any) -> None:
    survivor = make_profile(country="FR")
    absorbed = make_profile(country="FR", first_name="Dup")
    french = segment_create(name="French", rule=FRENCH)
    dups = segment_create(name="Dups", rule={"field": "first_name", "op": "eq", "value": "Dup"})
    segment_refresh(segment_id=french.pk)
    segment_refresh(segment_id=dups.pk)
    (participant,) = [p for p in merge_participants() if p.app == "segments"]

    snapshot = participant.move(survivor_id=survivor.pk, absorbed_id=absorbed.pk)
    after_move = (current(french), current(dups))
    participant.restore(survivor_id=survivor.pk, absorbed_id=absorbed.pk, snapshot=snapshot)

    assert after_move == ({survivor.pk}, {survivor.pk})
    assert (current(french), current(dups)) == ({survivor.pk, absorbed.pk}, {absorbed.pk})


def test_person_data_export_and_erase(make_profile: Any) -> None:
    ada = make_profile(country="FR")
    grace = make_profile(country="FR")
    segment = segment_create(name="French", rule=FRENCH)
    segment_refresh(segment_id=segment.pk)
    (handler,) = [h for h in person_data_handlers() if h.app == "segments"]

    exported = handler.export([ada.pk])
    erased = handler.erase([ada.pk])

    assert [row["segment"] for row in exported["memberships"]] == ["French"]
    assert exported["memberships"][0]["exited_at"] is None
    assert erased == 1
    assert current(segment) == {grace.pk}
