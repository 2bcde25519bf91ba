"""Races between concurrent batches, on PostgreSQL (SQLite serialises all writers)."""

from typing import Any

import pytest

from profiles.models import Event, Identity, Profile
from profiles.services import Message, ingest_messages
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
                    traits={"email": "race@example.org", "firstName": f"N{n}"},
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
