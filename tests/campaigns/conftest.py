"""Fixtures of the campaigns tests: a real SMTP server (aiosmtpd), people, a segment."""

from __future__ import annotations

import email
import socket
import threading
from collections.abc import Iterator
from email.message import Message as MailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from campaigns.services import template_create
from consent.services import consent_record
from profiles.models import Profile
from segments.models import Segment
from segments.services import segment_create, segment_members_add

MJML = (
    "<mjml><mj-head><mj-style>.lead { color: #123456; }</mj-style></mj-head>"
    '<mj-body><mj-section><mj-column><mj-text css-class="lead">GREETING '
    "{{ profile.first_name }}</mj-text>"
    '<mj-text>{% if personas contains "Curious (demo)" %}PERSONA-BLOCK{% endif %}'
    '<a href="https://example.org/offer?a=1&amp;b=2">offer</a> '
    '<a href="{{ links.preferences }}">prefs</a></mj-text>'
    "</mj-column></mj-section></mj-body></mjml>"
)


def variants() -> dict[str, Any]:
    return {
        "en": {
            "subject": "Hello {{ profile.first_name }}",
            "preheader": "News for you",
            "mjml": MJML.replace("GREETING", "Hello"),
            "text": "Hello {{ profile.first_name }}",
        },
        "fr": {
            "subject": "Bonjour {{ profile.first_name }}",
            "preheader": "Des nouvelles",
            "mjml": MJML.replace("GREETING", "Bonjour"),
            "text": "Bonjour {{ profile.first_name }}",
        },
    }


class Sink:
    """What the SMTP server received: one parsed message per recipient delivery."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[MailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.original_content)
        with self.lock:
            self.messages.append(parsed)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.startswith("bounce"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def ids(self) -> list[str]:
        with self.lock:
            return [m["Message-ID"] for m in self.messages]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_sink(settings: Any) -> Iterator[Sink]:
    """An aiosmtpd server on a free port, and Django's SMTP backend pointed at it."""
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = False
    settings.CDP_QUIET_HOURS = ""
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def newsletter(purposes: dict[str, Any]) -> Any:
    return purposes["newsletter"]


@pytest.fixture
def template(db: None) -> Any:
    return template_create(name="Monthly news", variants=variants())


def grant(profile: Profile, purpose: Any) -> None:
    consent_record(
        profile_id=profile.pk,
        purpose=purpose,
        status="granted",
        method="admin",
        proof={"note": "t"},
    )


def withdraw(profile: Profile, purpose: Any) -> None:
    consent_record(
        profile_id=profile.pk,
        purpose=purpose,
        status="withdrawn",
        method="admin",
        proof={"note": "t"},
    )


def make_people(count: int, *, language: str = "en") -> list[Profile]:
    return [
        Profile.objects.create(
            email=f"person{n}@example.org", first_name=f"P{n}", language=language
        )
        for n in range(count)
    ]


def static_segment(people: list[Profile], name: str = "Readers") -> Segment:
    segment = segment_create(name=name, kind=Segment.Kind.STATIC, rule=None)
    segment_members_add(segment_id=segment.pk, profile_ids=[p.pk for p in people])
    return segment
