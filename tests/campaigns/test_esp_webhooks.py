"""Email services through django-anymail: sending with their backend, their tracking
webhooks posted as they sign them, recorded by the same code as VERP bounces.

The Mailgun backend talks to a local HTTP server standing in for Mailgun's API (the
service's real client code, a real socket); webhooks are posted in each service's own
format, signed or authenticated as the service does, to anymail's views.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote_plus

import pytest
from django.test import Client

from campaigns.models import BlockedAddress, Broadcast, Message
from campaigns.selectors import broadcast_stats
from campaigns.services import broadcast_create, broadcast_schedule, outbox_send_due
from campaigns.services.webhooks import webhook_signature
from consent.models import ConsentRecord
from profiles.models import Event
from tests.campaigns.conftest import grant, make_people, static_segment

SIGNING_KEY = "mailgun-signing-key-for-tests"
BASIC = "anymail:basic-secret-for-tests"
CDP_SECRET = "cdp-esp-secret-for-tests"
PERSON_AGENT = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15"


class MailgunApi:
    """Mailgun's sending API on 127.0.0.1: records each call, answers as Mailgun does."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.status = 200

    def serve(self) -> Iterator[str]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                api.bodies.append(body)
                answer = (
                    {"id": f"<{len(api.bodies)}.mg@mg.example.org>", "message": "Queued."}
                    if api.status == 200
                    else {"message": "Service unavailable"}
                )
                data = json.dumps(answer).encode()
                self.send_response(api.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/v3"
        finally:
            server.shutdown()
            server.server_close()


@pytest.fixture
def mailgun(settings: Any) -> Iterator[MailgunApi]:
    api = MailgunApi()
    serving = api.serve()
    url = next(serving)
    settings.CDP_QUIET_HOURS = ""
    settings.CDP_MACHINE_OPEN_SECONDS = 0
    settings.EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"
    settings.ANYMAIL = {
        "MAILGUN_API_KEY": "key-for-tests",
        "MAILGUN_SENDER_DOMAIN": "mg.example.org",
        "MAILGUN_API_URL": url,
        "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY,
        "WEBHOOK_SECRET": BASIC,
    }
    yield api
    for _ in serving:
        pass


def _broadcast(
    people: list[Any], template: Any, purpose: Any, name: str, *, consent: bool = True
) -> list[Message]:
    for person in people if consent else []:
        grant(person, purpose)
    broadcast = broadcast_create(
        name=name,
        segment_id=static_segment(people, name=name).pk,
        template_id=template.pk,
        purpose_id=purpose.pk,
    )
    broadcast_schedule(broadcast_id=broadcast.pk)
    outbox_send_due()
    return list(Message.objects.filter(origin_id=broadcast.pk).order_by("profile_id"))


# What happens to each of the seven emails, whoever reports it.
SCENARIO = [
    ("delivered", {}),
    ("bounced", {"hard": True}),
    ("bounced", {"hard": False}),
    ("complained", {}),
    ("opened", {}),
    ("clicked", {"url": "https://example.org/offer?a=1&b=2"}),
    ("unsubscribed", {}),
]


def _mailgun(message_id: str, kind: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    token = hashlib.sha256(f"{message_id}{kind}".encode()).hexdigest()
    stamp = str(int(time.time()))
    signature = hmac.new(SIGNING_KEY.encode(), f"{stamp}{token}".encode(), "sha256").hexdigest()
    data: dict[str, Any] = {
        "event": {"bounced": "failed"}.get(kind, kind),
        "timestamp": time.time(),
        "id": token[:22],
        "recipient": "someone@example.org",
        "user-variables": {"cdp_message_id": message_id},
        "message": {"headers": {"message-id": "20260101.1.mg@mg.example.org"}},
        "client-info": {"user-agent": PERSON_AGENT},
    }
    if kind == "bounced":
        hard = options["hard"]
        data["severity"] = "permanent" if hard else "temporary"
        data["reason"] = "bounce" if hard else "generic"
        data["delivery-status"] = {
            "code": 550 if hard else 452,
            "message": "5.1.1 The email account does not exist" if hard else "4.2.2 Mailbox full",
            "description": "",
        }
    if kind == "clicked":
        data["url"] = options["url"]
    return "/t/esp/mailgun/tracking/", {
        "signature": {"timestamp": stamp, "token": token, "signature": signature},
        "event-data": data,
    }


def _postmark(message_id: str, kind: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    common = {
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Metadata": {"cdp_message_id": message_id},
        "Recipient": "someone@example.org",
        "Email": "someone@example.org",
    }
    record: dict[str, Any] = {
        "delivered": {"RecordType": "Delivery", "DeliveredAt": "2026-12-07T10:00:00Z"},
        "bounced": {
            "RecordType": "Bounce",
            "Type": "HardBounce" if options.get("hard") else "SoftBounce",
            "ID": 4323372036854775807,
            "Description": "The server was unable to deliver your message",
            "Details": "smtp;550 5.1.1 unknown user"
            if options.get("hard")
            else "smtp;452 4.2.2 mailbox full",
            "BouncedAt": "2026-12-07T10:00:00Z",
        },
        "complained": {"RecordType": "SpamComplaint", "Type": "SpamComplaint", "ID": 42},
        "opened": {"RecordType": "Open", "UserAgent": PERSON_AGENT},
        "clicked": {
            "RecordType": "Click",
            "UserAgent": PERSON_AGENT,
            "OriginalLink": options.get("url"),
        },
        "unsubscribed": {
            "RecordType": "SubscriptionChange",
            "SuppressSending": True,
            "SuppressionReason": "ManualSuppression",
            "ChangedAt": "2026-12-07T10:00:00Z",
        },
    }[kind]
    return "/t/esp/postmark/tracking/", {**common, **record}


def _brevo(message_id: str, kind: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    event = {
        "delivered": "delivered",
        "bounced": "hard_bounce" if options.get("hard") else "soft_bounce",
        "complained": "spam",
        "opened": "unique_opened",
        "clicked": "click",
        "unsubscribed": "unsubscribe",
    }[kind]
    payload = {
        "event": event,
        "email": "someone@example.org",
        "message-id": "<202612071000.1@smtp-relay.mailin.fr>",
        "ts_epoch": int(time.time() * 1000),
        "X-Mailin-custom": json.dumps({"cdp_message_id": message_id}),
        "reason": "550 5.1.1 unknown user" if options.get("hard") else "",
        "link": options.get("url", ""),
    }
    return "/t/esp/brevo/tracking/", payload


def _cdp(message_id: str, kind: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    event = {"type": kind, "message_id": message_id, "user_agent": PERSON_AGENT, **options}
    if kind == "bounced":
        event["status"] = "5.1.1" if options["hard"] else "4.2.2"
    return "/t/delivery-events/", {"events": [event]}


REPORTERS: dict[str, Callable[[str, str, dict[str, Any]], tuple[str, Any]]] = {
    "mailgun": _mailgun,
    "postmark": _postmark,
    "brevo": _brevo,
    "cdp": _cdp,
}


def _post(client: Client, path: str, payload: Any, *, auth: str = BASIC) -> Any:
    body = json.dumps(payload).encode()
    headers = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()}
    if path == "/t/delivery-events/":
        stamp = int(time.time())
        headers = {
            "X-CDP-Signature": webhook_signature(secret=CDP_SECRET, timestamp=stamp, body=body)
        }
    return client.post(path, data=body, content_type="application/json", headers=headers)


@pytest.mark.django_db
@pytest.mark.parametrize("reporter", list(REPORTERS))
def test_every_service_reports_through_the_same_code_path(
    reporter: str, mailgun: MailgunApi, template: Any, newsletter: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("CDP_ESP_WEBHOOK_SECRET", CDP_SECRET)
    people = make_people(len(SCENARIO))
    messages = _broadcast(people, template, newsletter, "News")
    assert [m.status for m in messages] == ["sent"] * len(SCENARIO)
    # Each email left through the service's API carrying its Message-ID as metadata.
    for message in messages:
        assert any(
            f"v:cdp_message_id={message.message_id}" in unquote_plus(body.decode())
            for body in mailgun.bodies
        )
    client = Client()

    for message, (kind, options) in zip(messages, SCENARIO, strict=True):
        path, payload = REPORTERS[reporter](message.message_id, kind, options)
        response = _post(client, path, payload)
        assert response.status_code == 200, response.content
    # A report repeated (services retry) records nothing more.
    path, payload = REPORTERS[reporter](messages[1].message_id, "bounced", {"hard": True})
    assert _post(client, path, payload).status_code == 200

    for message in messages:
        message.refresh_from_db()
    names = {
        (e.profile_id, e.name, e.properties.get("hard"))
        for e in Event.objects.filter(source__slug="cdp-campaigns").exclude(name="Email Sent")
    }
    p = [m.profile_id for m in messages]
    assert names == {
        (p[0], "Email Delivered", None),
        (p[1], "Email Bounced", True),
        (p[2], "Email Bounced", False),
        (p[3], "Email Complained", True),
        (p[4], "Email Opened", None),
        (p[5], "Email Opened", None),  # a person's click implies the open
        (p[5], "Email Clicked", None),
        (p[6], "Email Unsubscribed", None),
    }
    clicked = Event.objects.get(name="Email Clicked")
    assert clicked.properties["url"] == "https://example.org/offer?a=1&b=2"
    assert [m.status for m in messages] == [
        "sent",
        "failed",
        "sent",
        "sent",
        "sent",
        "sent",
        "sent",
    ]
    assert messages[4].opened_at is not None
    assert messages[5].clicked_at is not None
    assert sorted(BlockedAddress.objects.values_list("reason", flat=True)) == [
        "bounce",
        "complaint",
    ]
    withdrawal = ConsentRecord.objects.get(profile_id=p[6], status="withdrawn")
    assert (withdrawal.method, withdrawal.proof["message_id"]) == (
        "unsubscribe_link",
        messages[6].message_id,
    )
    assert withdrawal.proof["reported_by"] == reporter
    stats = broadcast_stats(broadcast=Broadcast.objects.get(pk=messages[0].origin_id)).as_dict()
    assert {k: stats[k] for k in ("sent", "bounced", "opened", "clicked", "unsubscribed")} == {
        "sent": 6,
        "bounced": 1,
        "opened": 2,
        "clicked": 1,
        "unsubscribed": 1,
    }

    # The next broadcast skips the blocked addresses and the person who unsubscribed.
    later = _broadcast(people, template, newsletter, "Later", consent=False)
    assert [(m.status, m.skip_reason) for m in later] == [
        ("sent", ""),
        ("skipped", "undeliverable"),
        ("sent", ""),
        ("skipped", "undeliverable"),
        ("sent", ""),
        ("sent", ""),
        ("skipped", "withdrawn"),
    ]


@pytest.mark.django_db
def test_unauthenticated_calls_are_refused_and_record_nothing(
    mailgun: MailgunApi, template: Any, newsletter: Any, settings: Any
) -> None:
    (message,) = _broadcast(make_people(1), template, newsletter, "News")
    client = Client()
    path, forged = _mailgun(message.message_id, "complained", {})
    forged["signature"]["signature"] = "0" * 64
    _, postmark = _postmark(message.message_id, "complained", {})

    answers = [
        _post(client, path, forged).status_code,  # a signature made without the key
        _post(client, "/t/esp/postmark/tracking/", postmark, auth="anymail:guess").status_code,
        client.post(
            "/t/esp/postmark/tracking/", data=postmark, content_type="application/json"
        ).status_code,
    ]
    settings.ANYMAIL = {}  # no credentials in the environment: nothing is trusted
    answers.append(_post(client, *_mailgun(message.message_id, "complained", {})).status_code)
    answers.append(_post(client, "/t/esp/brevo/tracking/", postmark).status_code)

    assert answers == [401, 401, 401, 401, 401]
    assert not BlockedAddress.objects.exists()
    assert not Event.objects.filter(name="Email Complained").exists()


@pytest.mark.django_db
def test_a_body_that_is_not_the_services_format_is_a_400(
    mailgun: MailgunApi, template: Any, newsletter: Any
) -> None:
    client = Client()
    auth = {"Authorization": "Basic " + base64.b64encode(BASIC.encode()).decode()}

    answers = [
        client.post(
            "/t/esp/postmark/tracking/",
            data=b"not json",
            content_type="application/json",
            headers=auth,
        ).status_code,
        client.post(
            "/t/esp/mailgun/tracking/",
            data=b'{"event-data": {}}',
            content_type="application/json",
            headers=auth,
        ).status_code,
        client.get("/t/esp/postmark/tracking/", headers=auth).status_code,
    ]

    assert answers == [400, 401, 405]


@pytest.mark.django_db
def test_a_proxys_open_is_a_machine_open_and_an_unknown_email_is_ignored(
    mailgun: MailgunApi, template: Any, newsletter: Any
) -> None:
    (message,) = _broadcast(make_people(1), template, newsletter, "News")
    client = Client()
    path, proxy = _brevo(message.message_id, "opened", {})
    proxy["event"] = "unique_proxy_open"
    _, stranger = _brevo("<not-ours@example.org>", "complained", {})

    assert _post(client, path, proxy).status_code == 200
    assert _post(client, path, stranger).status_code == 200

    message.refresh_from_db()
    assert message.opened_at is None
    assert message.machine_opened_at is not None
    assert Event.objects.get(name="Email Opened").properties["machine"] is True
    assert not BlockedAddress.objects.exists()


@pytest.mark.django_db
def test_the_services_api_failing_puts_the_message_back_and_it_goes_later(
    mailgun: MailgunApi, template: Any, newsletter: Any
) -> None:
    mailgun.status = 503
    (message,) = _broadcast(make_people(1), template, newsletter, "News")
    assert (message.status, message.last_error) == ("queued", "AnymailRequestsAPIError")

    mailgun.status = 200
    Message.objects.filter(pk=message.pk).update(due_at=message.created_at)
    outbox_send_due()

    message.refresh_from_db()
    assert message.status == "sent"
    assert message.attempts == 2
