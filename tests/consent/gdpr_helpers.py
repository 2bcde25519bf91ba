"""Helpers of the GDPR tests: a person made through the real ingestion pipeline."""

from __future__ import annotations

from typing import Any

from profiles.models import Profile, Source
from profiles.services import ingest_messages
from profiles.services.messages import Message

ADA = {
    "email": "ada.lovelace@example.org",
    "phone": "+33612345678",
    "firstName": "Augusta",
    "lastName": "Lovelace-Byron",
}


def ingest_person(
    source: Source, *, message_id: str, traits: dict[str, Any] | None = None, **fields: Any
) -> Profile:
    """One identify (with the given traits) and one track event; returns the profile."""
    traits = traits if traits is not None else dict(ADA)
    fields.setdefault("user_id", f"user-{message_id}")
    result = ingest_messages(
        source=source,
        messages=[
            Message(type="identify", message_id=message_id, traits=traits, **fields),
            Message(
                type="track",
                message_id=f"{message_id}-t",
                name="Brochure Downloaded",
                properties={"by": traits.get("email", "")},
                context={"ip": "203.0.113.9", "userAgent": "Firefox"},
                **fields,
            ),
        ],
    )
    assert result.rejected == 0, result.results
    return Profile.objects.get(pk=result.results[0].profile_id)
