"""The webhook channel: signed JSON POSTs to a real local HTTP server, through the outbox."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.utils import timezone

from campaigns.errors import InvalidWebhook
from campaigns.models import Message, WebhookEndpoint
from campaigns.services import outbox_send_due, webhook_enqueue
from profiles.models import Event, Profile
from tests.campaigns.conftest import grant, make_people

SECRET = "s3cret-for-tests"


class Receiver:
    """What the HTTP server received, and the statuses it answers with, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, bytes]] = []
        self.answers: list[int] = []
        self.delay = 0.0


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.calls.append((self.headers, body))
            time.sleep(state.delay)
            status = state.answers.pop(0) if state.answers else 200
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def endpoint(receiver: tuple[Receiver, str], monkeypatch: Any, settings: Any) -> WebhookEndpoint:
    """An SMS gateway; marketing calls are not held by quiet hours in these tests."""
    settings.CDP_QUIET_HOURS = ""
    monkeypatch.setenv("SMS_GATEWAY_SECRET", SECRET)
    return WebhookEndpoint.objects.create(
        name="SMS gateway", url=receiver[1], secret_env="SMS_GATEWAY_SECRET", timeout_seconds=1
    )


def _queue(person: Profile, endpoint: WebhookEndpoint, purpose: Any, **options: Any) -> Message:
    return webhook_enqueue(
        origin_kind=Message.Origin.JOURNEY_STEP,
        origin_id=7,
        profile_id=person.pk,
        endpoint_id=endpoint.pk,
        purpose_id=purpose.pk,
        payload={"text": "Your code is 1234"},
        **options,
    )


@pytest.mark.django_db
def test_a_webhook_call_is_signed_carries_the_person_and_is_recorded(
    receiver: tuple[Receiver, str], endpoint: WebhookEndpoint, newsletter: Any
) -> None:
    person = make_people(1)[0]
    message = _queue(person, endpoint, newsletter)

    result = outbox_send_due()

    assert (result.sent, result.failed, result.retried) == (1, 0, 0)
    ((headers, body),) = receiver[0].calls
    stamp, signature = (part.split("=", 1)[1] for part in headers["X-CDP-Signature"].split(","))
    expected = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert signature == expected
    assert headers["X-CDP-Message-Id"] == message.message_id
    document = json.loads(body)
    assert document["payload"] == {"text": "Your code is 1234"}
    assert document["person"]["profile"]["first_name"] == "P0"
    assert document["profile_id"] == person.pk
    message.refresh_from_db()
    assert (message.status, message.response_status, message.channel) == ("sent", 200, "webhook")
    assert Event.objects.filter(profile=person, name="Webhook Called").count() == 1


@pytest.mark.django_db
def test_a_server_error_is_retried_after_a_backoff_then_succeeds(
    receiver: tuple[Receiver, str], endpoint: WebhookEndpoint, newsletter: Any
) -> None:
    person = make_people(1)[0]
    message = _queue(person, endpoint, newsletter)
    receiver[0].answers = [503]

    before = timezone.now()
    first = outbox_send_due()
    message.refresh_from_db()
    retry_due = message.due_at
    again_too_soon = outbox_send_due()
    Message.objects.filter(pk=message.pk).update(due_at=timezone.now())  # the backoff passed
    second = outbox_send_due()

    assert (first.retried, again_too_soon.claimed, second.sent) == (1, 0, 1)
    assert retry_due >= before + timedelta(seconds=30)
    message.refresh_from_db()
    assert (message.status, message.attempts, message.response_status) == ("sent", 2, 200)
    assert len(receiver[0].calls) == 2


@pytest.mark.django_db
def test_a_timeout_is_retried_and_a_refusal_fails_the_message(
    receiver: tuple[Receiver, str], endpoint: WebhookEndpoint, newsletter: Any
) -> None:
    slow, refused = make_people(2)
    first = _queue(slow, endpoint, newsletter)
    receiver[0].delay = 1.5
    outbox_send_due()
    receiver[0].delay = 0.0
    second = webhook_enqueue(
        origin_kind=Message.Origin.JOURNEY_STEP,
        origin_id=8,
        profile_id=refused.pk,
        endpoint_id=endpoint.pk,
        purpose_id=newsletter.pk,
    )
    receiver[0].answers = [422]
    outbox_send_due()

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.last_error, first.response_status) == (
        "queued",
        "timeout or connection refused",
        None,
    )
    assert first.due_at > timezone.now()
    assert (second.status, second.last_error, second.response_status) == ("failed", "HTTP 422", 422)


@pytest.mark.django_db
def test_the_gate_holds_webhooks_and_a_missing_secret_fails_closed(
    receiver: tuple[Receiver, str], endpoint: WebhookEndpoint, newsletter: Any, monkeypatch: Any
) -> None:
    without, with_consent = make_people(2)
    grant(with_consent, newsletter)
    skipped = _queue(without, endpoint, newsletter, kind=Message.Kind.MARKETING)
    unsigned = _queue(with_consent, endpoint, newsletter, kind=Message.Kind.MARKETING)
    monkeypatch.delenv("SMS_GATEWAY_SECRET")

    outbox_send_due()

    skipped.refresh_from_db()
    unsigned.refresh_from_db()
    assert (skipped.status, skipped.skip_reason) == ("skipped", "no_consent")
    assert (unsigned.status, unsigned.last_error) == ("failed", "no secret")
    assert receiver[0].calls == []


@pytest.mark.django_db
def test_queuing_twice_gives_one_row_and_bad_input_queues_nothing(
    endpoint: WebhookEndpoint, newsletter: Any
) -> None:
    person = make_people(1)[0]
    first = _queue(person, endpoint, newsletter)
    again = _queue(person, endpoint, newsletter)
    with pytest.raises(InvalidWebhook) as refused:
        webhook_enqueue(
            origin_kind=Message.Origin.JOURNEY_STEP,
            origin_id=9,
            profile_id=person.pk,
            endpoint_id=endpoint.pk + 100,
            purpose_id=newsletter.pk,
            payload=["not", "an", "object"],  # type: ignore[arg-type]
        )

    assert first.pk == again.pk
    assert Message.objects.count() == 1
    assert sorted(refused.value.fields or {}) == ["endpoint", "payload"]


@pytest.mark.django_db
def test_a_journeys_webhook_step_calls_the_endpoint_once_per_person(
    receiver: tuple[Receiver, str], endpoint: WebhookEndpoint, newsletter: Any
) -> None:
    from campaigns.errors import InvalidJourney
    from campaigns.journeys.definition import definition_parse
    from campaigns.journeys.engine import journeys_advance
    from campaigns.journeys.services import journey_enrol
    from tests.campaigns.journeys import live_journey

    definition = {
        "trigger": {"type": "manual"},
        "start": "crm",
        "steps": {
            "crm": {
                "type": "webhook",
                "endpoint": endpoint.pk,
                "payload": {"list": "welcome"},
                "next": "done",
            },
            "done": {"type": "exit"},
        },
    }
    journey = live_journey(definition, newsletter)
    people = make_people(2)
    for person in people:
        grant(person, newsletter)
    journey_enrol(journey_id=journey.pk, profile_ids=[p.pk for p in people])

    journeys_advance(now=timezone.now())
    journeys_advance(now=timezone.now())  # a second tick finds nothing new to call
    result = outbox_send_due()

    assert result.sent == 2
    bodies = sorted(
        (json.loads(body) for _, body in receiver[0].calls), key=lambda d: d["profile_id"]
    )
    assert [d["profile_id"] for d in bodies] == sorted(p.pk for p in people)
    assert bodies[0]["payload"] == {"list": "welcome", "journey": journey.pk, "step": "crm"}
    assert Message.objects.filter(channel="webhook", status="sent").count() == 2

    bad = {
        **definition,
        "steps": {
            **definition["steps"],
            "crm": {"type": "webhook", "endpoint": 999999, "next": "done"},
        },
    }
    with pytest.raises(InvalidJourney) as error:
        definition_parse(bad)
    assert "steps.crm.endpoint" in str(error.value.fields)
