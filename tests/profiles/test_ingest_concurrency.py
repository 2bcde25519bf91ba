"""Races between concurrent batches, on PostgreSQL (SQLite serialises all writers)."""

import threading
from typing import Any

import pytest
from django.db import connection

from profiles.models import Event, Identity, Profile
from profiles.services import Message, ingest_messages
from tests.helpers import postgres_only

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]


def _in_parallel(count: int, work: Any) -> list[BaseException]:
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            barrier.wait()
            work(n)
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_concurrent_batches_with_the_same_new_email_create_one_profile(web_form: Any) -> None:
    def work(n: int) -> None:
        ingest_messages(
            source=web_form,
            messages=[
                Message(
                    type="identify",
                    message_id=f"m{n}",
                    traits={"email": "race@example.org", "firstName": f"N{n}"},
                ),
            ],
        )

    errors = _in_parallel(8, work)

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

    errors = _in_parallel(6, work)

    assert errors == []
    assert Event.objects.count() == 1
    assert Profile.objects.count() == 1
