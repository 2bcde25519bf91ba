"""Fixtures of the campaigns tests: a real SMTP server (tests/mail.py), people, a segment."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from campaigns.services import template_create
from consent.services import consent_record
from profiles.models import Profile
from segments.models import Segment
from segments.services import segment_create, segment_members_add
from tests.mail import Sink, free_port, smtp_server

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


@pytest.fixture
def smtp_sink(settings: Any) -> Iterator[Sink]:
    """A real SMTP server; marketing is not held by quiet hours in these tests."""
    settings.CDP_QUIET_HOURS = ""
    with smtp_server(settings) as sink:
        yield sink


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


__all__ = ["Sink", "free_port", "grant", "make_people", "static_segment", "variants", "withdraw"]
