"""Fixtures of the segments tests: profiles, events and consent made directly."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from profiles.models import Event, Profile

_ids = itertools.count(1)


@pytest.fixture
def source(make_source: Any) -> Any:
    made, _ = make_source("Website", kind="web_form")
    return made


@pytest.fixture
def make_profile(db: None) -> Any:
    """make_profile(**fields) -> Profile (active unless told)."""

    def make(**fields: Any) -> Profile:
        return Profile.objects.create(**fields)

    return make


@pytest.fixture
def make_event(source: Any) -> Any:
    """make_event(profile, name, days_ago=0, type="track", properties=None, source=...)."""

    def make(
        profile: Profile,
        name: str,
        *,
        days_ago: float = 0,
        type: str = "track",
        properties: dict[str, Any] | None = None,
        at: datetime | None = None,
        from_source: Any = None,
    ) -> Event:
        moment = at or timezone.now() - timedelta(days=days_ago)
        return Event.objects.create(
            profile=profile,
            source=from_source or source,
            type=type,
            name=name,
            properties=properties or {},
            message_id=f"m{next(_ids)}",
            occurred_at=moment,
            received_at=moment,
        )

    return make


@pytest.fixture
def grant(purposes: dict[str, Any]) -> Any:
    """grant(profile, code="newsletter", granted=True): a decision in the consent ledger."""
    from consent.services import consent_record

    def record(profile: Profile, code: str = "newsletter", granted: bool = True) -> Any:
        made, _ = consent_record(
            profile_id=profile.pk,
            purpose=purposes[code],
            status="granted" if granted else "withdrawn",
            method="admin",
            proof={"note": "test"},
        )
        return made

    return record
