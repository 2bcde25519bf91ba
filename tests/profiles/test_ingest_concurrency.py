"""Races between concurrent batches, on PostgreSQL (SQLite serialises all writers)."""

import logging
import threading
from typing import Any

import pytest
from django.db import connection, transaction

from profiles.models import Event, Identity, Profile
from profiles.services import Message, ingest_messages
from profiles.services.ingest import pipeline
from profiles.services.ingest.postgres import PostgresStore
from profiles.services.ingest.store import OrmStore
from tests.helpers import in_parallel, postgres_only

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]


def test_concurrent_batches_with_the_same_new_email_create_one_profile(web_form: Any) -> None:
    def work(n: int) -> None:
        ingest_messages(
            source=web_form,
            messages=[
                Message(
                    type="identify",
                    message_id=f"m{n}",
                    traits={"email": "race@example.org", "firstName": "Ada", "title": f"N{n}"},
                ),
            ],
        )

    errors = in_parallel(8, work)

    assert errors == []
    assert Profile.objects.count() == 1
    assert Identity.objects.filter(kind="email").count() == 1
    assert Event.objects.filter(profile=Profile.objects.get()).count() == 8


def test_concurrent_replays_of_one_message_store_one_event(web_form: Any) -> None:
    def work(n: int) -> None:
        ingest_messages(
            source=web_form,
            messages=[
                Message(type="track", message_id="same", anonymous_id="a-1", name="Signed Up"),
            ],
        )

    errors = in_parallel(6, work)

    assert errors == []
    assert Event.objects.count() == 1
    assert Profile.objects.count() == 1


def test_concurrent_replays_answer_one_ok_and_the_others_duplicate(web_form: Any) -> None:
    statuses: list[str] = []
    created: list[int] = []

    def work(n: int) -> None:
        result = ingest_messages(
            source=web_form,
            messages=[
                Message(
                    type="identify",
                    message_id="same-signup",
                    traits={"email": "replayed@example.org", "firstName": "Ada"},
                ),
            ],
        )
        statuses.extend(item.status for item in result.results)
        created.append(result.events_created)

    errors = in_parallel(6, work)

    assert errors == []
    assert sorted(statuses) == ["duplicate"] * 5 + ["ok"]
    assert sum(created) == 1
    assert Event.objects.count() == 1
    assert Profile.objects.count() == 1


def test_concurrent_batches_of_new_people_do_not_run_out_of_lock_slots(web_form: Any) -> None:
    """Creating people takes no lock per identifier: PostgreSQL's lock table holds
    max_locks_per_transaction x max_connections entries (6,400 by default, with some
    slack), and four batches of 2,000 new people with three identifiers each took 24,000."""
    people = 2000

    def work(n: int) -> None:
        ingest_messages(
            source=web_form,
            messages=[
                Message(
                    type="identify",
                    message_id=f"m{n}-{i}",
                    user_id=f"u{n}-{i}",
                    traits={
                        "email": f"p{n}-{i}@example.org",
                        "phone": f"06{n:02d}{i + 100000:06d}",
                    },
                )
                for i in range(people)
            ],
        )

    errors = in_parallel(4, work)

    assert errors == []
    assert Profile.objects.count() == 4 * people
    assert Identity.objects.count() == 3 * 4 * people


@pytest.mark.parametrize("store", [PostgresStore, OrmStore])
def test_a_batch_that_meets_new_identifiers_of_an_open_batch_waits_and_joins_its_profile(
    web_form: Any,
    store: type[OrmStore],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The second batch's insert of the same email waits for the first to commit, finds the
    email taken, and starts again: its phone and event go to the first batch's profile."""
    monkeypatch.setattr(pipeline, "default_store", store)
    caplog.set_level(logging.INFO, logger=pipeline.__name__)
    first_stored, first_may_commit = threading.Event(), threading.Event()
    second_done = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction.atomic():
                ingest_messages(
                    source=web_form,
                    messages=[
                        Message(type="identify", message_id="a", traits={"email": "x@example.org"})
                    ],
                )
                first_stored.set()
                first_may_commit.wait(10)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def second() -> None:
        try:
            first_stored.wait(10)
            ingest_messages(
                source=web_form,
                messages=[
                    Message(
                        type="identify",
                        message_id="b",
                        traits={"email": "X@example.org", "phone": "06 12 34 56 78"},
                    )
                ],
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            second_done.set()
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_stored.wait(10)
    waited = not second_done.wait(0.5)  # the second is held while the first is open
    first_may_commit.set()
    for thread in threads:
        thread.join(20)

    assert errors == []
    assert waited
    profile = Profile.objects.get()
    assert sorted(profile.identities.values_list("kind", "value")) == [
        ("email", "x@example.org"),
        ("phone", "+33612345678"),
    ]
    assert sorted(Event.objects.filter(profile=profile).values_list("message_id", flat=True)) == [
        "a",
        "b",
    ]
    # The second batch started again, once; the log names no person.
    restarts = [r.getMessage() for r in caplog.records if "started again" in r.getMessage()]
    assert restarts == [
        f"ingestion batch of 1 messages from source {web_form.pk} started again: "
        "a concurrent batch stored the same new identifiers"
    ]
