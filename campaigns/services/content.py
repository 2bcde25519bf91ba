"""What a template sees about a person, built for a batch of people at once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings

from campaigns.rendering import PROFILE_FIELDS
from consent.links import preferences_url, unsubscribe_url
from consent.selectors import consent_state_for_profile
from profiles.models import Profile
from segments.models import Membership, Persona


def organisation() -> dict[str, str]:
    return {
        "name": getattr(settings, "CDP_ORGANISATION_NAME", ""),
        "postal_address": getattr(settings, "CDP_POSTAL_ADDRESS", ""),
    }


def contexts_build(
    *,
    profiles: Sequence[Profile],
    purpose_id: int,
    uses: frozenset[str] = frozenset({"*"}),
    messages: Mapping[int, int] | None = None,
) -> dict[int, dict[str, Any]]:
    """The Liquid context of each profile; segments, personas and consents only if used.

    `messages`: {profile id: the outbox message being rendered for them}; its unsubscribe
    and preference links then name the message, which counts the unsubscribe."""
    messages = messages or {}
    ids = [p.pk for p in profiles]
    everything = "*" in uses
    segments: dict[int, list[str]] = defaultdict(list)
    personas: dict[int, list[str]] = defaultdict(list)
    if everything or "segments" in uses:
        for profile_id, name in (
            Membership.objects.filter(profile_id__in=ids, exited_at__isnull=True)
            .values_list("profile_id", "segment__name")
            .order_by("segment__name")
        ):
            segments[profile_id].append(name)
    if everything or "personas" in uses:
        for profile_id, name in (
            Persona.objects.filter(
                segment__memberships__profile_id__in=ids,
                segment__memberships__exited_at__isnull=True,
            )
            .values_list("segment__memberships__profile_id", "name")
            .order_by("name")
        ):
            personas[profile_id].append(name)
    org = organisation()
    contexts = {}
    for profile in profiles:
        consents: list[str] = []
        if everything or "consents" in uses:
            consents = [
                s.purpose.code
                for s in consent_state_for_profile(profile_id=profile.pk)
                if s.in_force
            ]
        contexts[profile.pk] = {
            "profile": {name: getattr(profile, name) or "" for name in PROFILE_FIELDS},
            "traits": profile.traits or {},
            "consents": consents,
            "segments": segments[profile.pk],
            "personas": personas[profile.pk],
            "links": {
                "unsubscribe": unsubscribe_url(
                    profile_id=profile.pk,
                    purpose_id=purpose_id,
                    message_id=messages.get(profile.pk),
                ),
                "preferences": preferences_url(
                    profile_id=profile.pk, message_id=messages.get(profile.pk)
                ),
            },
            "organisation": org,
        }
    return contexts
