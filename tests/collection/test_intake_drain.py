"""The intake drain: batch sizes, claims, retries, and rows equal to synchronous ingestion."""

from __future__ import annotations

import gc
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from collection.models import IntakeBatch
from collection.services.intake import _claim, intake_accept, intake_drain
from collection.tasks import intake_drain_task
from profiles.errors import InvalidMessage
from profiles.models import Event, FieldProvenance, Identity, Profile
from profiles.services import ingest_messages
from profiles.services.ingest.collector import cycle_collector_paused
from profiles.services.messages import Message, message_prepare
from tests.helpers import postgres_only

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _buffered(settings: Any) -> None:
    settings.CDP_INTAKE_MODE = "buffered"


def _track(n: int, user: str = "u-1") -> Message:
    return Message(
        type="track",
        message_id=f"m-{n}",
        user_id=user,
        name="Clicked",
        timestamp=f"2026-05-01T10:00:{n:02d}Z",
    )


def _requests(web_form: Any, crm: Any) -> list[tuple[Any, list[Message]]]:
    """Requests from two sources, interleaved: new people, known ones, a replay.

    No anonymous visitor identifies themself: a batch gives the profile they join the
    visitor's first and last seen, where one request at a time leaves them on the tombstone.
    """
    return [
        (
            web_form,
            [
                Message(type="page", message_id="w1", anonymous_id="anon-1", name="Home"),
                Message(
                    type="identify",
                    message_id="w2",
                    user_id="u-1",
                    traits={"email": "Ada@Example.org", "firstName": "ADA", "plan": "pro"},
                ),
            ],
        ),
        (
            crm,
            [
                Message(
                    type="identify",
                    message_id="c1",
                    external_id="crm-9",
                    traits={"email": "ada@example.org", "lastName": "Lovelace", "city": "London"},
                ),
                Message(
                    type="identify",
                    message_id="c2",
                    user_id="u-2",
                    traits={"email": "bob@example.org", "name": "Bob Smith", "tier": "gold"},
                ),
            ],
        ),
        (
            web_form,
            [
                Message(
                    type="identify",
                    message_id="w3",
                    user_id="u-1",
                    traits={"phone": "06 12 34 56 78", "city": "Paris"},
                ),
                Message(type="track", message_id="w4", user_id="u-1", name="Paid"),
                Message(type="page", message_id="w1", anonymous_id="anon-1", name="Replay"),
            ],
        ),
        (crm, [Message(type="identify", message_id="c3", user_id="u-2", traits={"city": "Oslo"})]),
    ]


def _with_times(requests: list[tuple[Any, list[Message]]]) -> list[tuple[Any, list[Message]]]:
    # Fixed times: a message without one happens when received, which differs between paths.
    for second, message in enumerate(m for _, messages in requests for m in messages):
        message.timestamp = f"2026-05-01T10:00:{second:02d}Z"
    return requests


def _rows() -> dict[str, Any]:
    """Every row ingestion wrote, with each profile named by its identifiers, not its id."""
    names: dict[int | None, str | None] = {None: None}
    for profile_id, kind, value in Identity.objects.order_by("kind", "value").values_list(
        "profile_id", "kind", "value"
    ):
        names.setdefault(profile_id, f"{kind}:{value}")
    for pk in Profile.objects.values_list("pk", flat=True):
        names.setdefault(pk, "no identifier")
    profiles = []
    for row in Profile.objects.values():
        row["id"], row["merged_into_id"] = names[row["id"]], names[row["merged_into_id"]]
        del row["created_at"], row["updated_at"]
        profiles.append(row)
    return {
        "profiles": sorted(profiles, key=lambda row: (row["status"], str(row["id"]))),
        "identities": sorted(
            (kind, namespace, value, names[profile_id], source_id)
            for kind, namespace, value, profile_id, source_id in Identity.objects.values_list(
                "kind", "namespace", "value", "profile_id", "source_id"
            )
        ),
        "events": sorted(
            (source_id, message_id, names[profile_id], type_, name, str(occurred_at))
            for source_id, message_id, profile_id, type_, name, occurred_at in (
                Event.objects.values_list(
                    "source_id", "message_id", "profile_id", "type", "name", "occurred_at"
                )
            )
        ),
        "provenance": sorted(
            (names[profile_id], field, source_id, value, str(observed_at))
            for profile_id, field, source_id, value, observed_at in (
                FieldProvenance.objects.values_list(
                    "profile_id", "field", "source_id", "value", "observed_at"
                )
            )
        ),
    }


def _ingested(requests: list[tuple[Any, list[Message]]], *, buffered: bool) -> dict[str, Any]:
    """Rows left by the requests, drained from the buffer or ingested one by one; rolled back."""
    with transaction.atomic():
        for source, messages in requests:
            if buffered:
                intake_accept(source=source, messages=messages)
            else:
                ingest_messages(source=source, messages=messages)
        if buffered:
            assert intake_drain(limit=100) == {"ingested": 8, "failed": 0}
        rows = _rows()
        transaction.set_rollback(True)
    return rows


def test_a_drain_of_several_sources_stores_what_synchronous_ingestion_stores(
    web_form: Any, crm: Any
) -> None:
    expected = _ingested(_with_times(_requests(web_form, crm)), buffered=False)
    drained = _ingested(_with_times(_requests(web_form, crm)), buffered=True)

    assert drained == expected
    assert [row["lifecycle_stage"] for row in expected["profiles"]] == ["anonymous", "lead", "lead"]
    assert len(expected["events"]) == 7  # of 8 messages: the replayed page is stored once
    assert IntakeBatch.objects.count() == 0


def test_fields_left_at_their_default_are_not_buffered(make_source: Any) -> None:
    source, _ = make_source("API")

    result = intake_accept(
        source=source, messages=[Message(type="track", anonymous_id="a-1", name="Clicked")]
    )

    (message_id,) = [r.message_id for r in result.results]
    assert json.loads(IntakeBatch.objects.get().messages) == [
        {"type": "track", "anonymous_id": "a-1", "name": "Clicked", "message_id": message_id}
    ]
    assert intake_drain() == {"ingested": 1, "failed": 0}
    assert Event.objects.get().message_id == message_id


def test_a_drain_takes_whole_requests_up_to_the_limit(make_source: Any) -> None:
    source, _ = make_source("API")
    for first in (0, 3, 6):
        intake_accept(source=source, messages=[_track(n) for n in range(first, first + 3)])

    first = intake_drain(limit=7)
    second = intake_drain(limit=7)

    assert (first, second) == ({"ingested": 6, "failed": 0}, {"ingested": 3, "failed": 0})
    assert Event.objects.count() == 9
    assert intake_drain(limit=7) == {"ingested": 0, "failed": 0}


def test_a_request_larger_than_the_limit_is_drained_whole(make_source: Any) -> None:
    source, _ = make_source("API")
    intake_accept(source=source, messages=[_track(n) for n in range(5)])
    intake_accept(source=source, messages=[_track(9)])

    assert intake_drain(limit=2) == {"ingested": 5, "failed": 0}
    assert list(IntakeBatch.objects.values_list("count", flat=True)) == [1]


def test_small_requests_fill_a_drain_up_to_the_limit(make_source: Any) -> None:
    source, _ = make_source("API")
    for n in range(30):
        intake_accept(source=source, messages=[_track(n, user=f"u-{n}")])

    assert intake_drain(limit=25) == {"ingested": 25, "failed": 0}
    assert IntakeBatch.objects.count() == 5


def _bad_row(source: Any) -> IntakeBatch:
    return IntakeBatch.objects.create(
        source=source,
        messages=json.dumps([{"type": "track", "unexpected": 1}]),
        count=1,
        received_at=timezone.now(),
    )


def test_a_failing_source_keeps_its_rows_and_the_others_are_stored(make_source: Any) -> None:
    good, _ = make_source("Good")
    bad, _ = make_source("Bad")
    intake_accept(source=good, messages=[_track(1)])
    _bad_row(bad)
    intake_accept(source=good, messages=[_track(2)])

    counts = intake_drain()

    stuck = IntakeBatch.objects.get()
    assert counts == {"ingested": 2, "failed": 1}
    assert (stuck.source_id, stuck.attempts, stuck.last_error) == (bad.pk, 1, "TypeError")
    assert sorted(Event.objects.values_list("message_id", flat=True)) == ["m-1", "m-2"]


def test_rows_that_failed_are_retried_after_the_rows_not_tried_yet(make_source: Any) -> None:
    good, _ = make_source("Good")
    bad, _ = make_source("Bad")
    stuck = _bad_row(bad)
    intake_accept(source=good, messages=[_track(1)])

    first = intake_drain(limit=1)
    second = intake_drain(limit=1)
    third = intake_drain(limit=1)

    stuck.refresh_from_db()
    assert (first, second, third) == (
        {"ingested": 0, "failed": 1},
        {"ingested": 1, "failed": 0},
        {"ingested": 0, "failed": 1},
    )
    assert stuck.attempts == 2
    assert Event.objects.get().message_id == "m-1"


def test_a_message_refused_by_a_rule_changed_since_it_was_accepted_is_left_out(
    make_source: Any,
) -> None:
    source, _ = make_source("API")
    IntakeBatch.objects.create(
        source=source,
        messages=json.dumps(
            [
                {"type": "identify", "user_id": "u-1", "traits": {"email": "ada@example.org"}},
                {"type": "identify", "traits": {"email": "no longer valid"}},
            ]
        ),
        count=2,
        received_at=timezone.now(),
    )

    assert intake_drain() == {"ingested": 2, "failed": 0}
    assert list(Profile.objects.values_list("email", flat=True)) == ["ada@example.org"]
    assert IntakeBatch.objects.count() == 0


def test_the_task_drains_everything_in_rounds(make_source: Any) -> None:
    source, _ = make_source("API")
    for first in (0, 2, 4):
        intake_accept(source=source, messages=[_track(first), _track(first + 1)])

    assert intake_drain_task(limit=2) == 6
    assert IntakeBatch.objects.count() == 0
    assert Event.objects.count() == 6


def test_the_task_leaves_a_failed_row_for_a_later_run(make_source: Any) -> None:
    good, _ = make_source("Good")
    bad, _ = make_source("Bad")
    intake_accept(source=good, messages=[_track(1)])
    stuck = _bad_row(bad)

    assert intake_drain_task(limit=10) == 1
    stuck.refresh_from_db()
    assert stuck.attempts == 1


@pytest.fixture
def collector_enabled() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.enable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        else:
            gc.disable()


def test_the_cycle_collector_is_resumed_after_a_drain_even_a_failed_one(
    make_source: Any, collector_enabled: None
) -> None:
    source, _ = make_source("API")
    intake_accept(source=source, messages=[_track(1)])
    _bad_row(source)

    assert intake_drain() == {"ingested": 0, "failed": 2}
    assert gc.isenabled()


def test_overlapping_pauses_resume_the_collector_when_the_last_one_ends(
    collector_enabled: None,
) -> None:
    first, second = cycle_collector_paused(), cycle_collector_paused()

    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    paused_after_first = not gc.isenabled()
    second.__exit__(None, None, None)

    assert paused_after_first
    assert gc.isenabled()


def test_a_collector_switched_off_before_stays_off(collector_enabled: None) -> None:
    gc.disable()

    with cycle_collector_paused():
        pass

    assert not gc.isenabled()


def test_a_prechecked_message_skips_only_the_storability_scan(web_form: Any) -> None:
    now = timezone.now()
    unstorable = Message(type="track", user_id="u-1", name="X", properties={"note": "a\x00b"})
    invalid = Message(type="identify", traits={"email": "nope"})

    prepared = message_prepare(
        message=unstorable, index=0, source=web_form, now=now, prechecked=True
    )

    assert prepared.properties == {"note": "a\x00b"}
    with pytest.raises(InvalidMessage):
        message_prepare(message=unstorable, index=0, source=web_form, now=now)
    with pytest.raises(InvalidMessage):
        message_prepare(message=invalid, index=0, source=web_form, now=now, prechecked=True)


def _locked_by_another_worker(claim: Any) -> list[int]:
    """Ids another connection can claim while this one holds its claim; it then lets go."""
    found: list[int] = []

    def work() -> None:
        try:
            with transaction.atomic():
                found.extend(
                    IntakeBatch.objects.select_for_update(skip_locked=True)
                    .order_by("id")
                    .values_list("id", flat=True)
                )
        finally:
            connection.close()

    with transaction.atomic():
        claim()
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    return found


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_claim_leaves_the_rows_past_its_limit_to_other_workers(make_source: Any) -> None:
    source, _ = make_source("API")
    for first in range(0, 20, 2):
        intake_accept(source=source, messages=[_track(first), _track(first + 1)])
    ids = list(IntakeBatch.objects.order_by("id").values_list("id", flat=True))
    claimed: list[int] = []

    free = _locked_by_another_worker(lambda: claimed.extend(_claim(5)))

    # The third row was read (so locked) to learn it would not fit; the rest were not.
    assert claimed == ids[:2]
    assert free == ids[3:]


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_drain_skips_rows_another_worker_holds(make_source: Any) -> None:
    source, _ = make_source("API")
    intake_accept(source=source, messages=[_track(1)])
    intake_accept(source=source, messages=[_track(2)])
    held = IntakeBatch.objects.order_by("id").first()
    assert held is not None
    drained: list[dict[str, int]] = []

    def work() -> None:
        try:
            drained.append(intake_drain())
        finally:
            connection.close()

    with transaction.atomic():
        IntakeBatch.objects.select_for_update().get(pk=held.pk)
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()

    assert drained == [{"ingested": 1, "failed": 0}]
    assert list(IntakeBatch.objects.values_list("pk", flat=True)) == [held.pk]
    assert Event.objects.get().message_id == "m-2"


@postgres_only
def test_the_postgres_look_up_follows_a_merged_profile_like_the_orm_store(
    web_form: Any,
) -> None:
    from profiles.services.ingest.postgres import PostgresStore
    from profiles.services.ingest.store import OrmStore

    survivor = Profile.objects.create(lifecycle_stage=Profile.Lifecycle.CUSTOMER)
    tombstone = Profile.objects.create(status=Profile.Status.MERGED, merged_into=survivor)
    anonymous = Profile.objects.create(lifecycle_stage=Profile.Lifecycle.ANONYMOUS)
    Identity.objects.create(profile=tombstone, kind="email", value="old@example.org")
    Identity.objects.create(profile=survivor, kind="user_id", value="u-9")
    Identity.objects.create(profile=anonymous, kind="anonymous_id", value="a-1")
    keys = [("email", "", "old@example.org"), ("anonymous_id", "", "a-1"), ("phone", "", "+1")]

    expected = OrmStore().known(keys)
    _, actual = PostgresStore().lookup(web_form.pk, ["m-1"], keys)

    assert actual == expected
    assert actual.owners == {keys[0]: survivor.pk, keys[1]: anonymous.pk}
    assert actual.user_ids == {survivor.pk: "u-9"}
    assert actual.anonymous == {anonymous.pk}
