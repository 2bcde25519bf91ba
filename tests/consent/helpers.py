"""Helpers of the consent tests."""

from __future__ import annotations

from typing import Any

from consent.models import ConsentRecord, Purpose
from consent.services import consent_record
from profiles.models import Profile

NEWSLETTER_TEXT = "Send me the monthly newsletter. I can unsubscribe at any time."
OFFERS_TEXT = "Send me partner offers by email."


def decide(
    profile: Profile, purpose: Purpose, status: str = "granted", **options: Any
) -> tuple[ConsentRecord, bool]:
    """Record a decision through the service, with an API proof unless told otherwise."""
    options.setdefault("method", ConsentRecord.Method.API)
    options.setdefault("proof", {"system": "crm", "ticket": "T-1"})
    return consent_record(profile_id=profile.pk, purpose=purpose, status=status, **options)
