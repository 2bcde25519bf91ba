"""The hand-written PostgreSQL store must leave exactly the rows the ORM store leaves."""

from __future__ import annotations

import re
import threading
import unicodedata
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import given
from hypothesis import strategies as st

from profiles.models import (
    DataQualityIssue,
    Event,
    FieldProvenance,
    Identity,
    Profile,
    ProfileAudit,
    Source,
)
from profiles.normalise import clean_text, normalise_email, normalise_phone
from profiles.services import Message, ingest_messages
from profiles.services.ingest.pipeline import ingest_batch
from profiles.services.ingest.store import OrmStore
from tests.helpers import postgres_only

pytestmark = pytest.mark.django_db

ODD_JSON: dict[str, Any] = {
    "accents": "Crème brûlée — 東京 🚀",
    "quotes": "say \"hi\" 'there'",
    "backslashes": "C:\\temp\\new \\N \\.",
    "controls": "tab\there\nnew line\r\n",
    "array_syntax": '{a,b} {"c"} NULL null',
    "copy_syntax": "a\tb\\tc\n\\.",
    "empty": "",
    "nothing": None,
    "flags": [True, False],
    "numbers": [0, -1, 2**53, 1.5, 1e-7],
    "nested": {"deeper": [{"x": "y"}, [], {}]},
    "NULL": "NULL",
}


def _story(web_form: Any, crm: Any) -> list[tuple[Any, list[Message]]]:
    """Batches touching every path: new, known, anonymous, stitched, alias, replays, errors."""
    batches = _story_batches(web_form, crm)
    for minute, message in enumerate(m for _, messages in batches for m in messages):
        # Fixed times: a message without one happens "now", which differs between runs.
        message.timestamp = message.timestamp or f"2026-05-01T10:{minute:02d}:00Z"
    return batches


def _story_batches(web_form: Any, crm: Any) -> list[tuple[Any, list[Message]]]:
    return [
        (
            web_form,
            [
                Message(type="page", message_id="p1", anonymous_id="anon-1", name="Home"),
                Message(
                    type="identify",
                    message_id="i1",
                    user_id="u-1",
                    traits={
                        "email": "Ada@Example.org",
                        "phone": "06 12 34 56 78",
                        "firstName": "ADA",
                        "birthday": "10/12/1990",
                        "company": {"name": "Analytical Engines"},
                        "plan": "pro",
                        "note": ODD_JSON["accents"],
                    },
                    timestamp="2026-03-01T10:00:00Z",
                ),
                Message(type="page", message_id="p2", anonymous_id="anon-2", name="Pricing"),
                Message(
                    type="track",
                    message_id="t1",
                    anonymous_id="anon-2",
                    name="Clicked",
                    properties=ODD_JSON,
                    context={"campaign": {"source": "google", "medium": "cpc", "name": "brand"}},
                ),
                Message(type="identify", message_id="bad", traits={"email": "not-an-email"}),
                Message(type="identify", message_id="i1", user_id="u-1"),
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
                    timestamp="2026-01-01T00:00:00Z",
                ),
                Message(
                    type="identify",
                    message_id="c2",
                    user_id="u-2",
                    traits={"email": "family@example.org", "name": "Bob Smith"},
                ),
                Message(
                    type="identify",
                    message_id="c3",
                    user_id="u-3",
                    traits={
                        "email": "family@example.org",
                        "country": "fr",
                        "phone": "12",
                        "birthday": "31/31/1990",
                        "title": "CTO",
                    },
                ),
            ],
        ),
        (
            web_form,
            [
                Message(
                    type="identify",
                    message_id="i2",
                    user_id="u-1",
                    anonymous_id="anon-2",
                    traits={
                        "lastName": "Byron",
                        "city": "Paris",
                        "plan": "team",
                        "email": "ada@gmial.com",
                        "phone": "1",
                    },
                    timestamp="2026-04-01T10:00:00Z",
                ),
                Message(type="alias", message_id="a1", user_id="u-4", previous_id="anon-1"),
                Message(
                    type="identify",
                    message_id="i3",
                    user_id="u-1",
                    traits={"city": "Lyon"},
                    timestamp="2026-02-01T10:00:00Z",
                ),
                Message(type="track", message_id="p1", anonymous_id="anon-1", name="Replayed"),
            ],
        ),
    ]


def _snapshot(results: list[Any]) -> dict[str, Any]:
    """Every row ingestion wrote, with profile ids replaced by their order of creation."""
    ids = sorted(Profile.objects.values_list("pk", flat=True))
    label = {pk: n for n, pk in enumerate(ids)}
    label[None] = None
    profiles = [
        {
            **row,
            "id": label[row["id"]],
            "merged_into_id": label[row["merged_into_id"]],
        }
        for row in Profile.objects.order_by("pk").values()
    ]
    for row in profiles:
        del row["created_at"], row["updated_at"]
    events = [
        {**row, "profile_id": label[row["profile_id"]]}
        for row in Event.objects.order_by("source_id", "message_id").values()
    ]
    for row in events:
        del row["id"], row["received_at"]
    return {
        "results": [
            [
                (r.index, r.status, r.message_id, label.get(r.profile_id), r.errors)
                for r in result.results
            ]
            + [(result.profiles_created, result.profiles_updated, result.events_created)]
            for result in results
        ],
        "profiles": profiles,
        "identities": sorted(
            (kind, namespace, value, label[profile_id], source_id)
            for kind, namespace, value, profile_id, source_id in Identity.objects.values_list(
                "kind", "namespace", "value", "profile_id", "source_id"
            )
        ),
        "events": events,
        "provenance": sorted(
            (label[profile_id], *rest)
            for profile_id, *rest in FieldProvenance.objects.values_list(
                "profile_id", "field", "source_id", "value", "observed_at"
            )
        ),
        "issues": sorted(
            (label[profile_id], *rest)
            for profile_id, *rest in DataQualityIssue.objects.values_list(
                "profile_id",
                "field",
                "code",
                "severity",
                "message",
                "suggestion",
                "value",
                "source_id",
                "detected_at",
                "resolved_at",
            )
        ),
        "audits": sorted(
            (label[profile_id], action, tuple(fields), source_id)
            for profile_id, action, fields, source_id in ProfileAudit.objects.values_list(
                "profile_id", "action", "fields", "source_id"
            )
        ),
    }


def _run_story(web_form: Any, crm: Any, store_class: type[OrmStore]) -> dict[str, Any]:
    """Ingest the story with one store, snapshot the rows, and roll them back."""
    with transaction.atomic():
        results = [
            ingest_batch(source=source, messages=messages, store=store_class())
            for source, messages in _story(web_form, crm)
        ]
        snapshot = _snapshot(results)
        transaction.set_rollback(True)
    return snapshot


@postgres_only
def test_the_postgres_store_leaves_exactly_the_rows_of_the_orm_store(
    web_form: Any, crm: Any
) -> None:
    from profiles.services.ingest.postgres import PostgresStore

    expected = _run_story(web_form, crm, OrmStore)
    actual = _run_story(web_form, crm, PostgresStore)

    assert actual == expected
    assert len(expected["profiles"]) == 6
    # The story reached every path: two stitched anonymous visitors, replays, an error.
    assert [p["status"] for p in expected["profiles"]] == ["merged", "active"] * 2 + ["active"] * 2
    assert [[r[1] for r in batch[:-1]] for batch in expected["results"]] == [
        ["ok", "ok", "ok", "ok", "error", "duplicate"],
        ["ok", "ok", "ok"],
        ["ok", "ok", "ok", "duplicate"],
    ]
    assert [batch[-1] for batch in expected["results"]] == [(3, 0, 4), (2, 1, 3), (1, 1, 3)]
    assert [issue[:3] for issue in expected["issues"]] == [
        (1, "email", "email_domain_typo"),
        (1, "phone", "invalid_phone"),
        (4, "date_of_birth", "invalid_date"),
        (4, "phone", "invalid_phone"),
    ]
    # Scored when fields change or issues arrive: not the tombstones, nor the alias's profile.
    assert [p["quality_score"] for p in expected["profiles"]] == [None, 65, None, 60, 30, None]


@postgres_only
def test_postgres_is_the_default_store_on_postgres() -> None:
    from profiles.services.ingest.pipeline import default_store
    from profiles.services.ingest.postgres import PostgresStore

    assert type(default_store()) is PostgresStore


@postgres_only
def test_both_stores_count_identifiers_alike(web_form: Any) -> None:
    from profiles.services.ingest.postgres import PostgresStore

    ingest_messages(
        source=web_form,
        messages=[
            Message(type="identify", user_id="u-1", traits={"email": "a@example.org"}),
            Message(type="identify", user_id="u-1", traits={"phone": "+33612345678"}),
            Message(type="identify", user_id="u-2", traits={"email": "b@example.org"}),
            Message(type="identify", anonymous_id="anon-3"),
        ],
    )
    ids = [*Profile.objects.values_list("pk", flat=True), 10**9]
    kinds = ["email", "phone", "anonymous_id"]

    counts = PostgresStore().identity_counts(ids, kinds)

    assert counts == OrmStore().identity_counts(ids, kinds)
    assert sorted(counts.values()) == [1, 1, 1, 1]
    assert PostgresStore().identity_counts([], kinds) == {}


@postgres_only
@pytest.mark.django_db(transaction=True)  # the setting must end with the real transaction
def test_a_batch_runs_without_jit_and_leaves_the_setting_to_its_transaction(
    web_form: Any,
) -> None:
    """The batch's look-up is costed past jit_above_cost on a large table; compiling it
    cost more than running it (see `_NO_JIT`)."""

    def jit() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('jit')")
            return cursor.fetchone()[0]

    before = jit()
    with transaction.atomic():
        ingest_messages(source=web_form, messages=[Message(type="identify", user_id="u-1")])
        assert jit() == "off"
    assert jit() == before
    assert Profile.objects.count() == 1


def test_json_with_unicode_and_odd_characters_round_trips(web_form: Any) -> None:
    ingest_messages(
        source=web_form,
        messages=[
            Message(
                type="identify",
                message_id="odd",
                user_id="u-odd",
                traits={"firstName": "Zoë", "motto": ODD_JSON["copy_syntax"], "tags": ["a,b"]},
                properties=ODD_JSON,
                context={"page": {"title": ODD_JSON["quotes"]}, "weird": ODD_JSON},
            ),
        ],
    )

    event = Event.objects.get()
    profile = Profile.objects.get()
    assert event.properties == ODD_JSON
    assert event.context == {"page": {"title": ODD_JSON["quotes"]}, "weird": ODD_JSON}
    assert profile.first_name == "Zoë"
    assert profile.traits == {"motto": ODD_JSON["copy_syntax"], "tags": ["a,b"]}
    assert list(ProfileAudit.objects.values_list("fields", flat=True)) == [["first_name", "traits"]]


def test_a_message_id_replayed_inside_one_batch_is_stored_once(web_form: Any) -> None:
    result = ingest_messages(
        source=web_form,
        messages=[
            Message(type="track", message_id="m-1", anonymous_id="a", name="First"),
            Message(type="track", message_id="m-2", anonymous_id="a", name="Other"),
            Message(type="track", message_id="m-1", anonymous_id="a", name="Replay"),
        ],
    )

    assert [r.status for r in result.results] == ["ok", "ok", "duplicate"]
    assert result.events_created == 2
    assert sorted(Event.objects.values_list("message_id", "name")) == [
        ("m-1", "First"),
        ("m-2", "Other"),
    ]


def test_new_profiles_take_ids_in_message_order_with_their_stage(web_form: Any) -> None:
    result = ingest_messages(
        source=web_form,
        messages=[
            Message(type="page", anonymous_id="a-1", name="Home"),
            Message(type="identify", user_id="u-1"),
            Message(type="page", anonymous_id="a-2", name="Home"),
            Message(type="identify", user_id="u-2"),
        ],
    )

    ids = [r.profile_id for r in result.results]
    assert ids == sorted(ids)
    assert [Profile.objects.get(pk=pk).lifecycle_stage for pk in ids] == [
        "anonymous",
        "lead",
        "anonymous",
        "lead",
    ]


def test_a_batch_of_known_people_takes_as_many_statements_as_a_single_message(
    web_form: Any,
) -> None:
    people = [f"u-{n}" for n in range(40)]
    ingest_messages(
        source=web_form, messages=[Message(type="identify", user_id=user) for user in people]
    )

    with CaptureQueriesContext(connection) as one:
        ingest_messages(source=web_form, messages=[Message(type="page", user_id="u-0")])
    with CaptureQueriesContext(connection) as many:
        ingest_messages(
            source=web_form, messages=[Message(type="page", user_id=user) for user in people]
        )

    assert len(many.captured_queries) == len(one.captured_queries)
    assert Event.objects.count() == 81


@postgres_only
def test_a_database_error_in_a_pipelined_write_raises_a_django_error_and_writes_nothing(
    web_form: Any,
) -> None:
    # A source that is not in the database: the foreign keys, checked at once, refuse the
    # batch's pipelined writes.
    ghost = Source(pk=999_999, name="ghost", slug="ghost", kind="api", trust_rank=50)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with pytest.raises(IntegrityError):
        ingest_messages(
            source=ghost,
            messages=[
                Message(type="identify", user_id="u-1", traits={"email": "n@example.org"}),
                Message(type="track", user_id="u-1", name="Later", properties={"x": 1}),
            ],
        )
    with connection.cursor() as cursor:
        # As Django declares them: a batch writes its new profiles after the rows that
        # point at them.
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    ingest_messages(source=web_form, messages=[Message(type="identify", user_id="u-2")])

    assert list(Identity.objects.values_list("value", flat=True)) == ["u-2"]
    assert Profile.objects.count() == 1
    assert FieldProvenance.objects.count() == 0
    assert Event.objects.count() == 1


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_on_the_same_people_in_any_order_all_land(web_form: Any) -> None:
    people = [f"u-{n}" for n in range(12)]
    ingest_messages(
        source=web_form, messages=[Message(type="identify", user_id=user) for user in people]
    )
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            barrier.wait()
            order = people[n:] + people[:n]  # every thread touches everyone, rotated
            ingest_messages(
                source=web_form,
                messages=[
                    Message(
                        type="identify",
                        user_id=user,
                        traits={"city": f"City {n}", "seen_by": n},
                        timestamp=f"2026-06-01T10:00:{n:02d}Z",
                    )
                    for user in order
                ],
            )
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert Event.objects.count() == 12 + 6 * 12
    assert set(Profile.objects.values_list("city", flat=True)) == {"City 5"}
    assert FieldProvenance.objects.filter(field="city").count() == 12


def test_a_message_type_that_is_not_a_string_is_reported(web_form: Any) -> None:
    result = ingest_messages(
        source=web_form,
        messages=[Message(type=["identify"], user_id="u-1")],  # type: ignore[arg-type]  # a wrong type on purpose
    )

    assert result.results[0].errors == {"type": ["unknown message type ['identify']"]}
    assert Profile.objects.count() == 0


_SPACES = re.compile(r"\s+")


def _clean_text_reference(raw: object, *, max_length: int = 200) -> str:
    """clean_text as it was before its fast path."""
    if raw is None:
        return ""
    text = unicodedata.normalize("NFC", str(raw))
    text = "".join(ch for ch in text if ch in "\t\n " or unicodedata.category(ch)[0] != "C")
    return _SPACES.sub(" ", text).strip()[:max_length]


@given(st.text(), st.integers(min_value=0, max_value=40))
def test_clean_text_matches_its_reference_on_any_text(text: str, max_length: int) -> None:
    assert clean_text(text, max_length=max_length) == _clean_text_reference(
        text, max_length=max_length
    )


@given(st.text(alphabet="aé \u00a0\u2003\t\n\x00\u200b\u0301e\u212b  ", max_size=30))
def test_clean_text_matches_its_reference_on_spaces_and_combining_marks(text: str) -> None:
    assert clean_text(text) == _clean_text_reference(text)


@given(st.text(max_size=40) | st.emails())
def test_cached_email_normalisation_answers_like_the_uncached_one(raw: str) -> None:
    from profiles.normalise import _normalise_email

    assert normalise_email(raw) == _normalise_email(raw)
    assert normalise_email(raw) == _normalise_email(raw)  # from the cache


@given(st.text(alphabet="+0123456789 ()-.x", max_size=20), st.sampled_from(["", "FR", "us"]))
def test_cached_phone_normalisation_answers_like_the_uncached_one(raw: str, region: str) -> None:
    from profiles.normalise import _normalise_phone

    assert normalise_phone(raw, region=region) == _normalise_phone(raw, region)
    assert normalise_phone(raw, region=region) == _normalise_phone(raw, region)
