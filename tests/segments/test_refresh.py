"""Full and incremental refreshes: entries, exits, their events, size history."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from profiles.models import Event, Profile
from segments.models import Membership, SegmentSize
from segments.selectors import segment_preview
from segments.services import (
    segment_create,
    segment_members_add,
    segment_refresh,
    segment_refresh_profiles,
)
from tests.helpers import postgres_only

FRENCH = {"field": "country", "op": "eq", "value": "FR"}


def current(segment: Any) -> set[int]:
    return set(
        Membership.objects.filter(segment=segment, exited_at__isnull=True).values_list(
            "profile_id", flat=True
        )
    )


def segment_events(name: str) -> list[tuple[int, dict[str, Any]]]:
    return list(
        Event.objects.filter(name=name, type="track")
        .order_by("profile_id")
        .values_list("profile_id", "properties")
    )


def test_a_refresh_enters_matching_active_profiles_with_events_and_a_size_row(
    make_profile: Any,
) -> None:
    ada = make_profile(country="FR")
    grace = make_profile(country="FR")
    make_profile(country="DE")
    make_profile(country="FR", status="restricted")
    segment = segment_create(name="French", rule=FRENCH)

    result = segment_refresh(segment_id=segment.pk)

    assert (result.size, result.entered, result.exited) == (2, 2, 0)
    assert current(segment) == {ada.pk, grace.pk}
    props = {"segment_id": segment.pk, "segment_name": "French"}
    assert segment_events("Segment Entered") == [(ada.pk, props), (grace.pk, props)]
    assert list(SegmentSize.objects.values_list("size", "entered", "exited")) == [(2, 2, 0)]
    segment.refresh_from_db()
    assert segment.member_count == 2


def test_a_second_refresh_records_exits_and_keeps_the_history(make_profile: Any) -> None:
    ada = make_profile(country="FR")
    grace = make_profile(country="FR")
    segment = segment_create(name="French", rule=FRENCH)
    segment_refresh(segment_id=segment.pk)
    Profile.objects.filter(pk=grace.pk).update(country="DE")
    linus = make_profile(country="FR")

    result = segment_refresh(segment_id=segment.pk)
    again = segment_refresh(segment_id=segment.pk)

    assert (result.size, result.entered, result.exited) == (2, 1, 1)
    assert (again.entered, again.exited) == (0, 0)
    assert current(segment) == {ada.pk, linus.pk}
    stays = Membership.objects.filter(segment=segment, profile=grace).get()
    assert stays.exited_at is not None
    assert [pk for pk, _ in segment_events("Segment Exited")] == [grace.pk]
    assert [pk for pk, _ in segment_events("Segment Entered")] == [ada.pk, grace.pk, linus.pk]
    assert list(SegmentSize.objects.order_by("id").values_list("size", "entered", "exited")) == [
        (2, 2, 0),
        (2, 1, 1),
        (2, 0, 0),
    ]


def test_re_entering_opens_a_new_stay(make_profile: Any) -> None:
    ada = make_profile(country="FR")
    segment = segment_create(name="French", rule=FRENCH)
    segment_refresh(segment_id=segment.pk)
    Profile.objects.filter(pk=ada.pk).update(country="DE")
    segment_refresh(segment_id=segment.pk)
    Profile.objects.filter(pk=ada.pk).update(country="FR")

    segment_refresh(segment_id=segment.pk)

    assert Membership.objects.filter(segment=segment, profile=ada).count() == 2
    assert current(segment) == {ada.pk}
    assert Event.objects.filter(profile=ada, name="Segment Entered").count() == 2


def test_incremental_refresh_touches_only_the_given_profiles(make_profile: Any) -> None:
    ada = make_profile(country="FR")
    grace = make_profile(country="FR")
    segment = segment_create(name="French", rule=FRENCH)
    segment_refresh(segment_id=segment.pk)
    Profile.objects.filter(pk__in=[ada.pk, grace.pk]).update(country="DE")
    linus = make_profile(country="FR")

    changes = segment_refresh_profiles(profile_ids=[ada.pk, linus.pk])

    assert changes == {segment.pk: (1, 1)}
    assert current(segment) == {grace.pk, linus.pk}
    segment.refresh_from_db()
    assert segment.member_count == 2


def test_incremental_refresh_of_many_segments_at_once(make_profile: Any, grant: Any) -> None:
    """Only exits, only entries, a static list, a consent rule and a segment of a segment."""
    ada = make_profile(country="FR")
    grace = make_profile(country="DE")
    french = segment_create(name="French", rule=FRENCH)
    mailable = segment_create(name="Mailable", rule={"consent": "newsletter"})
    of_french = segment_create(
        name="French and mailable",
        rule={"all": [{"segment": french.pk}, {"segment": mailable.pk}]},
    )
    listed = segment_create(name="Listed", kind="static")
    segment_members_add(segment_id=listed.pk, profile_ids=[ada.pk, grace.pk])
    grant(ada)
    for segment in (french, mailable, of_french):
        segment_refresh(segment_id=segment.pk)
    assert current(of_french) == {ada.pk}

    Profile.objects.filter(pk=ada.pk).update(country="DE")
    assert segment_refresh_profiles(profile_ids=[ada.pk]) == {
        french.pk: (0, 1),
        of_french.pk: (0, 1),
    }
    assert current(french) == set()
    assert current(of_french) == set()
    assert Event.objects.filter(profile=ada, name="Segment Exited").count() == 2

    Profile.objects.filter(pk=ada.pk).update(country="FR")
    grant(grace)
    changes = segment_refresh_profiles(profile_ids=[ada.pk, grace.pk])
    assert changes == {french.pk: (1, 0), mailable.pk: (1, 0), of_french.pk: (1, 0)}
    assert current(of_french) == {ada.pk}
    assert current(mailable) == {ada.pk, grace.pk}

    Profile.objects.filter(pk=grace.pk).update(status=Profile.Status.ERASED)
    assert segment_refresh_profiles(profile_ids=[grace.pk]) == {
        mailable.pk: (0, 1),
        listed.pk: (0, 1),
    }
    assert current(listed) == {ada.pk}
    assert segment_refresh_profiles(profile_ids=[ada.pk, grace.pk]) == {}


def test_an_incremental_entry_and_exit_write_the_same_events_as_a_full_refresh(
    make_profile: Any,
) -> None:
    ada = make_profile(country="DE")
    segment = segment_create(name="French", rule=FRENCH)
    segment_refresh(segment_id=segment.pk)
    Profile.objects.filter(pk=ada.pk).update(country="FR")

    assert segment_refresh_profiles(profile_ids=[ada.pk]) == {segment.pk: (1, 0)}
    Profile.objects.filter(pk=ada.pk).update(country="DE")
    assert segment_refresh_profiles(profile_ids=[ada.pk]) == {segment.pk: (0, 1)}

    stay = Membership.objects.get(segment=segment, profile=ada)
    events = {
        e.name: e
        for e in Event.objects.select_related("source").filter(name__startswith="Segment ")
    }
    assert set(events) == {"Segment Entered", "Segment Exited"}
    entered, exited = events["Segment Entered"], events["Segment Exited"]
    props = {"segment_id": segment.pk, "segment_name": "French"}
    for event, prefix in ((entered, "segment-entered-"), (exited, "segment-exited-")):
        assert (event.profile_id, event.type, event.properties, event.context) == (
            ada.pk,
            "track",
            props,
            {},
        )
        assert (event.source.slug, event.source.is_active) == ("cdp-segments", False)
        assert event.message_id == f"{prefix}{stay.pk}"
        assert event.occurred_at == event.received_at
        assert (event.utm_source, event.utm_content) == ("", "")
    assert stay.exited_at is not None
    assert stay.entered_at < stay.exited_at
    segment.refresh_from_db()
    assert segment.member_count == 0


@postgres_only
@pytest.mark.django_db(transaction=True)  # the statistics system counts committed changes
def test_a_refresh_and_a_preview_plan_with_fresh_statistics_after_a_bulk_write() -> None:
    """After a large import the statistics describe the tables as they were; a refresh
    planned from them probed a source's whole event index once a profile (minutes)."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE profiles_profile")
    Profile.objects.bulk_create([Profile(country="FR") for _ in range(1500)])
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")  # the writer's counts are in
    segment = segment_create(name="French", rule=FRENCH)

    assert segment_preview(rule=FRENCH).count == 1500
    assert _analyzed_tuples("profiles_profile") == 1500
    Profile.objects.bulk_create([Profile(country="FR") for _ in range(1500)])
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")

    assert segment_refresh(segment_id=segment.pk).size == 3000
    assert _analyzed_tuples("profiles_profile") == 3000


def _analyzed_tuples(table: str) -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [table])
        return cursor.fetchone()[0]
