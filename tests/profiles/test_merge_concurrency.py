"""Parallel merges (and ingestion during merges) on PostgreSQL: nothing lost, no deadlock."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import transaction

from consent.models import ConsentRecord
from consent.services import consent_record
from profiles.errors import MergeRefused
from profiles.models import Event, Identity, Profile, ProfileMerge
from profiles.services import Message, ingest_messages, profile_merge, profile_merge_undo
from tests.helpers import in_parallel, postgres_only

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]


def _people(source: Any, count: int, purpose: Any) -> list[int]:
    ids = []
    for n in range(count):
        result = ingest_messages(
            source=source,
            messages=[
                Message(
                    type="identify",
                    message_id=f"p{n}",
                    anonymous_id=f"anon-{n}",
                    traits={"email": f"person{n}@lovelace.org", "firstName": f"P{n}"},
                )
            ],
        )
        profile_id = result.results[0].profile_id
        consent_record(
            profile_id=profile_id, purpose=purpose, status="granted", method="api", proof={"n": n}
        )
        ids.append(profile_id)
    return ids


def _assert_nothing_lost(identities: int, events: int, consents: int) -> None:
    active = set(Profile.objects.filter(status="active").values_list("pk", flat=True))
    assert Identity.objects.count() == identities
    assert Event.objects.count() == events
    assert ConsentRecord.objects.count() == consents
    assert set(Identity.objects.values_list("profile_id", flat=True)) <= active
    assert set(Event.objects.values_list("profile_id", flat=True)) <= active
    assert set(ConsentRecord.objects.values_list("profile_id", flat=True)) <= active
    # Every tombstone leads to a live profile; one merge in force per tombstone.
    tombstones = Profile.objects.filter(status="merged")
    pointers = dict(tombstones.values_list("pk", "merged_into_id"))
    for tombstone in pointers:
        target = pointers[tombstone]
        while target in pointers:
            target = pointers[target]
        assert target in active
    assert ProfileMerge.objects.filter(undone_at__isnull=True).count() == tombstones.count()


def test_a_cycle_of_merges_at_once_loses_nothing(web_form: Any, purposes: dict[str, Any]) -> None:
    a, b, c = _people(web_form, 3, purposes["newsletter"])
    pairs = [(a, b), (b, c), (c, a)]

    def work(n: int) -> None:
        survivor, absorbed = pairs[n]
        profile_merge(survivor_id=survivor, absorbed_id=absorbed, rule="test")

    errors = in_parallel(3, work)

    # Whoever commits first wins; the others meet a tombstone and are refused.
    assert all(isinstance(error, MergeRefused) for error in errors), errors
    assert ProfileMerge.objects.count() == 3 - len(errors)
    assert len(errors) >= 1
    _assert_nothing_lost(identities=6, events=3, consents=3)


def test_many_parallel_merges_and_undos_lose_nothing(
    web_form: Any, purposes: dict[str, Any]
) -> None:
    ids = _people(web_form, 8, purposes["newsletter"])
    first = profile_merge(survivor_id=ids[6], absorbed_id=ids[7])
    # Overlapping pairs, in both directions, plus an undo: every lock order is tried.
    pairs = [(ids[0], ids[1]), (ids[2], ids[1]), (ids[3], ids[2]), (ids[0], ids[3])]
    pairs += [(ids[5], ids[4]), (ids[4], ids[5]), (ids[6], ids[0])]

    def work(n: int) -> None:
        if n == len(pairs):
            profile_merge_undo(merge_id=first.pk)
            return
        survivor, absorbed = pairs[n]
        profile_merge(survivor_id=survivor, absorbed_id=absorbed)

    errors = in_parallel(len(pairs) + 1, work)

    assert all(isinstance(error, MergeRefused) for error in errors), errors
    _assert_nothing_lost(identities=16, events=8, consents=8)


def test_messages_for_a_profile_being_merged_land_on_a_live_profile(
    web_form: Any, purposes: dict[str, Any]
) -> None:
    survivor, absorbed = _people(web_form, 2, purposes["newsletter"])

    def work(n: int) -> None:
        if n == 0:
            profile_merge(survivor_id=survivor, absorbed_id=absorbed)
            return
        ingest_messages(
            source=web_form,
            messages=[
                Message(type="track", message_id=f"t{n}", anonymous_id="anon-1", name="Clicked")
            ],
        )

    errors = in_parallel(6, work)

    assert errors == []
    assert Event.objects.filter(type="track", profile_id=survivor).count() == 5
    _assert_nothing_lost(identities=4, events=7, consents=2)


def test_a_batch_that_waited_for_a_merge_resolves_again_onto_the_survivor(
    web_form: Any, purposes: dict[str, Any]
) -> None:
    survivor, absorbed = _people(web_form, 2, purposes["newsletter"])
    merging = threading.Event()

    def work(n: int) -> None:
        if n == 0:
            with transaction.atomic():
                profile_merge(survivor_id=survivor, absorbed_id=absorbed)
                merging.set()
                # The batch looks its identifiers up now (the absorbed still owns them),
                # then waits for the absorbed's row lock until this commits.
                time.sleep(1.0)
            return
        assert merging.wait(timeout=30)
        ingest_messages(
            source=web_form,
            messages=[Message(type="track", message_id="late", anonymous_id="anon-1", name="X")],
        )

    errors = in_parallel(2, work)

    assert errors == []
    assert Event.objects.get(message_id="late").profile_id == survivor
    _assert_nothing_lost(identities=4, events=3, consents=2)
