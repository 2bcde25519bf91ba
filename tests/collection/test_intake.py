"""The buffered intake (production default): accept fast, ingest in batches after commit."""

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from collection.models import Form, IntakeBatch
from collection.services.intake import intake_accept, intake_drain
from profiles.models import Event, Profile
from profiles.services.messages import Message

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _buffered(settings: Any) -> None:
    settings.CDP_INTAKE_MODE = "buffered"


@pytest.fixture
def eager_celery(settings: Any) -> None:
    # Through Django's settings, restored after the test: a value set on celery's own
    # configuration would shadow CELERY_TASK_ALWAYS_EAGER for every later test.
    settings.CELERY_TASK_ALWAYS_EAGER = True


def _post_batch(client: Client, key: str, batch: list[dict[str, Any]]) -> Any:
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    return client.post(
        "/v1/batch",
        json.dumps({"batch": batch}),
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
    )


def test_a_batch_is_answered_once_stored_and_ingested_by_the_drain(
    client: Client, make_source: Any
) -> None:
    _, key = make_source("Website", kind="web_form")

    response = _post_batch(
        client,
        key,
        [
            {
                "type": "identify",
                "userId": "u1",
                "messageId": "m1",
                "traits": {"email": "ada@example.org"},
            },
            {"type": "track", "userId": "u1", "messageId": "m2", "event": "Signed Up"},
            {"type": "identify", "userId": "u2", "traits": {"firstName": "a" * 101}},
        ],
    )

    assert response.status_code == 200
    assert [r["status"] for r in response.json()["results"]] == ["accepted", "accepted", "error"]
    assert list(IntakeBatch.objects.values_list("count", flat=True)) == [2]
    assert Profile.objects.count() == 0

    assert intake_drain() == {"ingested": 2, "failed": 0}

    assert IntakeBatch.objects.count() == 0
    assert Profile.objects.get().email == "ada@example.org"
    assert list(Event.objects.order_by("id").values_list("message_id", flat=True)) == ["m1", "m2"]


def test_the_drain_is_scheduled_after_commit(
    client: Client,
    make_source: Any,
    django_capture_on_commit_callbacks: Any,
    eager_celery: None,
) -> None:
    _, key = make_source("Website", kind="web_form")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        _post_batch(
            client,
            key,
            [{"type": "identify", "userId": "u9", "traits": {"email": "grace@example.org"}}],
        )

    assert len(callbacks) == 1
    assert IntakeBatch.objects.count() == 0
    assert Profile.objects.get().email == "grace@example.org"


def test_a_replay_accepted_twice_is_stored_once(client: Client, make_source: Any) -> None:
    _, key = make_source("Website", kind="web_form")
    call = {"type": "track", "anonymousId": "a1", "messageId": "same", "event": "Clicked"}

    _post_batch(client, key, [call])
    _post_batch(client, key, [call])
    intake_drain()

    assert Event.objects.count() == 1


def test_events_keep_the_time_they_were_received(make_source: Any) -> None:
    source, _ = make_source("API")
    accepted_at = timezone.now()
    intake_accept(source=source, messages=[Message(type="track", anonymous_id="a", name="X")])
    IntakeBatch.objects.update(received_at=accepted_at - timedelta(minutes=5))

    intake_drain()

    assert Event.objects.get().received_at == accepted_at - timedelta(minutes=5)


def test_a_failing_batch_is_kept_for_later_and_does_not_block_others(make_source: Any) -> None:
    good, _ = make_source("Good")
    bad, _ = make_source("Bad")
    intake_accept(source=good, messages=[Message(type="track", anonymous_id="a", name="X")])
    IntakeBatch.objects.create(
        source=bad,
        messages=json.dumps([{"type": "track", "unexpected": 1}]),
        count=1,
        received_at=timezone.now(),
    )

    counts = intake_drain()

    stuck = IntakeBatch.objects.get()
    assert counts == {"ingested": 1, "failed": 1}
    assert (stuck.source_id, stuck.attempts, stuck.last_error) == (bad.pk, 1, "TypeError")
    assert Event.objects.filter(source=good).count() == 1


def test_a_form_post_is_accepted_then_ingested(client: Client, make_source: Any) -> None:
    source, _ = make_source("Website", kind="web_form")
    Form.objects.create(
        name="Newsletter",
        slug="newsletter",
        source=source,
        fields=[
            {
                "name": "email",
                "label": "Email",
                "target": "email",
                "type": "email",
                "required": True,
            }
        ],
    )

    response = client.post(
        "/api/forms/newsletter/submissions",
        json.dumps({"email": "LEA@example.org"}),
        content_type="application/json",
    )

    assert response.status_code == 201
    assert Profile.objects.count() == 0
    intake_drain()
    assert Profile.objects.get().email == "lea@example.org"
    assert Event.objects.get().type == "form"


def test_an_invalid_form_post_is_refused_at_once(client: Client, make_source: Any) -> None:
    source, _ = make_source("Website", kind="web_form")
    Form.objects.create(
        name="Contact",
        slug="contact",
        source=source,
        fields=[
            {
                "name": "email",
                "label": "Email",
                "target": "email",
                "type": "email",
                "required": True,
            },
            {
                "name": "name",
                "label": "Name",
                "target": "first_name",
                "type": "text",
                "required": False,
            },
        ],
    )

    response = client.post(
        "/api/forms/contact/submissions",
        json.dumps({"email": "a@example.org", "name": "a" * 101}),
        content_type="application/json",
    )

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["name"]
    assert IntakeBatch.objects.count() == 0
