"""Bounces (DSN to a VERP return path) and complaints (ARF, an email service's webhook)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from campaigns.bounces import verp_address, verp_read
from campaigns.models import BlockedAddress, Message
from campaigns.services import broadcast_create, broadcast_schedule, outbox_send_due
from campaigns.services.webhooks import webhook_signature
from profiles.models import Event
from tests.campaigns.conftest import grant, make_people, static_segment

ESP_SECRET = "esp-secret-for-tests"


def _sent_to(people: list[Any], template: Any, purpose: Any, name: str = "News") -> list[Message]:
    for person in people:
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


def _dsn(*, to: str, status: str, action: str, message_id: str) -> bytes:
    return (
        f"From: MAILER-DAEMON@mx.example.net\r\nTo: {to}\r\nSubject: Undelivered Mail\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
        "--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; someone@example.org\r\nAction: {action}\r\n"
        f"Status: {status}\r\nDiagnostic-Code: smtp; 550 No such user\r\n\r\n"
        "--b1\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {message_id}\r\nSubject: Hello\r\n\r\n--b1--\r\n"
    ).encode()


def _arf(*, to: str, message_id: str) -> bytes:
    return (
        f"From: fbl@isp.example.net\r\nTo: {to}\r\nSubject: Complaint\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="b2"\r\n\r\n'
        "--b2\r\nContent-Type: text/plain\r\n\r\nA complaint.\r\n"
        "--b2\r\nContent-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\nUser-Agent: isp-fbl/1.0\r\nVersion: 1\r\n\r\n"
        "--b2\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {message_id}\r\n\r\n--b2--\r\n"
    ).encode()


def _ingest(tmp_path: Path, *mails: bytes) -> None:
    files = []
    for n, raw in enumerate(mails):
        path = tmp_path / f"mail{n}.eml"
        path.write_bytes(raw)
        files.append(str(path))
    call_command("cdp_bounce", *files)


@pytest.mark.django_db
def test_each_email_leaves_with_its_own_signed_return_path(
    smtp_sink: Any, template: Any, newsletter: Any
) -> None:
    messages = _sent_to(make_people(2), template, newsletter)

    assert sorted(smtp_sink.envelope_senders) == sorted(
        verp_address(message_pk=m.pk) for m in messages
    )
    assert [verp_read(address=a) for a in smtp_sink.envelope_senders[:1]] in (
        [messages[0].pk],
        [messages[1].pk],
    )
    forged = verp_address(message_pk=messages[0].pk).replace(
        f"+{messages[0].pk}-", f"+{messages[1].pk}-"
    )
    assert verp_read(address=forged) is None


@pytest.mark.django_db
def test_a_hard_bounce_blocks_the_address_once_and_the_next_broadcast_skips_it(
    smtp_sink: Any, template: Any, newsletter: Any, tmp_path: Path
) -> None:
    bounced, delayed = _sent_to(make_people(2), template, newsletter)
    hard = _dsn(
        to=verp_address(message_pk=bounced.pk), status="5.1.1", action="failed", message_id="<x@y>"
    )
    soft = _dsn(
        to="bounces@cdp.localhost", status="4.2.2", action="delayed", message_id=delayed.message_id
    )

    _ingest(tmp_path, hard, hard, soft)
    people = [bounced.profile, delayed.profile]
    later = _sent_to(people, template, newsletter, name="Later")

    bounced.refresh_from_db()
    delayed.refresh_from_db()
    assert (bounced.status, bounced.last_error) == ("failed", "bounce 5.1.1")
    assert delayed.status == "sent"
    assert BlockedAddress.objects.get().reason == "bounce"
    events = Event.objects.filter(name="Email Bounced").order_by("profile_id")
    assert [(e.profile_id, e.properties["hard"]) for e in events] == [
        (bounced.profile_id, True),
        (delayed.profile_id, False),
    ]
    assert [(m.status, m.skip_reason) for m in later] == [
        ("skipped", "undeliverable"),
        ("sent", ""),
    ]


@pytest.mark.django_db
def test_a_complaint_blocks_the_address_and_a_report_about_nothing_of_ours_is_ignored(
    smtp_sink: Any, template: Any, newsletter: Any, tmp_path: Path
) -> None:
    (message,) = _sent_to(make_people(1), template, newsletter)
    forged = verp_address(message_pk=message.pk).replace("+", "+9")

    _ingest(
        tmp_path,
        _arf(to="fbl@cdp.localhost", message_id=message.message_id),
        _dsn(to=forged, status="5.1.1", action="failed", message_id="<unknown@x>"),
        b"Subject: an ordinary reply\r\n\r\nThanks!\r\n",
    )

    message.refresh_from_db()
    assert message.status == "sent"
    assert BlockedAddress.objects.get().reason == "complaint"
    assert list(
        Event.objects.filter(name__startswith="Email Co").values_list("name", flat=True)
    ) == ["Email Complained"]
    assert not Event.objects.filter(name="Email Bounced").exists()


def _post(client: Client, body: bytes, *, secret: str = ESP_SECRET, age: int = 0) -> Any:
    stamp = int(time.time()) - age
    return client.post(
        "/t/delivery-events/",
        data=body,
        content_type="application/json",
        headers={"X-CDP-Signature": webhook_signature(secret=secret, timestamp=stamp, body=body)},
    )


@pytest.mark.django_db
def test_an_email_services_signed_events_are_recorded_and_unsigned_ones_refused(
    smtp_sink: Any, template: Any, newsletter: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("CDP_ESP_WEBHOOK_SECRET", ESP_SECRET)
    bounced, complained = _sent_to(make_people(2), template, newsletter)
    body = json.dumps(
        {
            "events": [
                {"type": "bounced", "message_id": bounced.message_id, "status": "5.1.1"},
                {"type": "complained", "message_id": complained.message_id},
                {"type": "bounced", "message_id": "<not-ours@x>"},
            ]
        }
    ).encode()
    client = Client()

    wrong = _post(client, body, secret="another")
    stale = _post(client, body, age=3600)
    invalid = _post(client, b'{"events": [{"type": "read"}]}')
    assert Event.objects.filter(name__in=["Email Bounced", "Email Complained"]).count() == 0
    accepted = _post(client, body)

    assert (wrong.status_code, stale.status_code, invalid.status_code) == (401, 401, 400)
    assert sorted(invalid.json()["fields"]["events"]["0"]) == [
        "message_id: the Message-ID of the email.",
        "type: one of bounced, clicked, complained, deferred, delivered, opened, rejected, "
        "unsubscribed.",
    ]
    assert accepted.json() == {"recorded": 2, "unknown": 1}
    assert sorted(BlockedAddress.objects.values_list("reason", flat=True)) == [
        "bounce",
        "complaint",
    ]
    bounced.refresh_from_db()
    assert (bounced.status, bounced.last_error) == ("failed", "bounce 5.1.1")
