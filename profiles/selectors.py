"""Reads of the profiles app: search, the 360° view, timelines."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, cast

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, Q, QuerySet

from profiles.fields import PROFILE_FIELDS
from profiles.folding import fold
from profiles.hooks import profile_facts
from profiles.models import Event, FieldProvenance, Identity, Profile, ProfileMerge
from profiles.normalise import clean_text, normalise_email, normalise_phone

# Sorts after any character a prefix can continue with: a btree range finds a prefix under
# any collation (PostgreSQL 15 uses an index for LIKE 'x%' only under the "C" collation).
_PREFIX_END = "\U0010ffff"


def _starts(field: str, prefix: str) -> Q:
    """`field` starts with `prefix`, as an index range (and the exact test, for any collation)."""
    return Q(
        **{
            f"{field}__gte": prefix,
            f"{field}__lt": prefix + _PREFIX_END,
            f"{field}__startswith": prefix,
        }
    )


def profile_search_condition(*, query: str, phone_region: str = "") -> Q:
    """Index-backed search: an email or its start, a phone number, or names' starts.

    Names are compared without case or accents ("amelie durand" finds Amélie Durand), one
    word against the first or the last name, two words in either order; a phone number in
    national form is read in `phone_region` (default: CDP_DEFAULT_PHONE_REGION).
    """
    text = clean_text(query, max_length=200)
    if not text:
        return Q()
    if "@" in text:
        email = normalise_email(text)
        return Q(email=email.value) if email.ok else _starts("email", text.lower())
    digits = sum(ch.isdigit() for ch in text)
    if digits >= 6 and digits >= len(text.replace(" ", "")) - 3:
        phone = normalise_phone(text, region=phone_region or settings.CDP_DEFAULT_PHONE_REGION)
        if phone.ok:
            return Q(phone=phone.value)
    words = fold(text).split()
    if len(words) == 1:
        return (
            _starts("last_name_key", words[0])
            | _starts("first_name_key", words[0])
            | _starts("email", text.lower())
        )
    first, last = " ".join(words[:-1]), words[-1]
    # "Amélie Durand" or "Durand Amélie": both orders, each on the (last, first) index.
    return (_starts("last_name_key", last) & Q(first_name_key__startswith=first)) | (
        _starts("last_name_key", words[0]) & Q(first_name_key__startswith=" ".join(words[1:]))
    )


def profile_list(*, query: str = "", include_merged: bool = False) -> QuerySet[Profile]:
    """Profiles for the staff API and admin, newest first; merged tombstones hidden."""
    queryset = Profile.objects.all()
    if not include_merged:
        queryset = queryset.exclude(status=Profile.Status.MERGED)
    if query:
        queryset = queryset.filter(profile_search_condition(query=query))
    return queryset.order_by("-id")


def event_names(*, limit: int = 300) -> list[str]:
    """The distinct event names of the event log, by name (for the segment builder).

    On PostgreSQL a skip scan of the (type, name, occurred_at) index: one index probe per
    distinct (type, name), however many events there are.
    """
    if connection.vendor != "postgresql":
        names = Event.objects.exclude(name="").values_list("name", flat=True).distinct()
        return sorted(names.order_by("name")[:limit])
    table = Event._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE seen(type, name, n) AS (
                (SELECT type, name, 1 FROM {table} ORDER BY type, name LIMIT 1)
                UNION ALL
                SELECT next.type, next.name, seen.n + 1 FROM seen, LATERAL (
                    SELECT e.type, e.name FROM {table} e
                    WHERE (e.type, e.name) > (seen.type, seen.name)
                    ORDER BY e.type, e.name LIMIT 1
                ) next
                WHERE seen.n < %s
            )
            SELECT DISTINCT name FROM seen WHERE name <> '' ORDER BY name LIMIT %s
            """,  # noqa: S608 - the model's own table
            [limit * 4, limit],
        )
        return [row[0] for row in cursor.fetchall()]


def profile_events(*, profile_id: int) -> QuerySet[Event]:
    """A profile's timeline across channels, newest first."""
    return (
        Event.objects.filter(profile_id=profile_id)
        .select_related("source")
        .order_by("-occurred_at", "-id")
    )


def profile_provenance(*, profile: Profile) -> list[dict[str, Any]]:
    """Per field: the value shown, the rule that picked it, and every source's value.

    The sources come best first under the field's survivorship rule; `wins` marks the one
    the rule picks from provenance (the value shown, unless a steward edited it since).
    """
    from profiles.models import SurvivorshipRule
    from profiles.services.quality.survivorship import (
        TRUST_THEN_RECENCY,
        Candidate,
        candidate_rank,
    )

    rows = FieldProvenance.objects.filter(profile=profile).select_related("source").order_by("pk")
    strategies = dict(SurvivorshipRule.objects.values_list("field", "strategy"))
    labels = dict(SurvivorshipRule.Strategy.choices)
    by_field: dict[str, list[FieldProvenance]] = defaultdict(list)
    for row in rows:
        row.trust_rank = row.source.trust_rank  # type: ignore[attr-defined]  # for candidate_rank, below
        by_field[row.field].append(row)
    out = []
    for name in PROFILE_FIELDS:
        current = getattr(profile, name)
        current_text = current.isoformat() if hasattr(current, "isoformat") else str(current or "")
        strategy = strategies.get(name, TRUST_THEN_RECENCY)
        candidates = sorted(
            by_field.get(name, []),
            key=lambda row: candidate_rank(cast(Candidate, row), strategy),
            reverse=True,
        )
        if not current_text and not candidates:
            continue
        winner = candidates[0] if candidates and candidates[0].value else None
        out.append(
            {
                "field": name,
                "value": current_text,
                "rule": labels[strategy],
                "sources": [
                    {
                        "source": row.source.name,
                        "source_id": row.source_id,
                        "trust_rank": row.source.trust_rank,
                        "value": row.value,
                        "observed_at": row.observed_at,
                        "wins": row is winner,
                    }
                    for row in candidates
                ],
            }
        )
    return out


def profile_360(*, profile_id: int, event_limit: int = 50) -> dict[str, Any]:
    """Everything the steward's 360° page shows about one person."""
    profile = Profile.objects.select_related("merged_into").get(pk=profile_id)
    identities = list(
        Identity.objects.filter(profile=profile).select_related("source").order_by("kind", "id")
    )
    events = list(profile_events(profile_id=profile.pk)[:event_limit])
    event_counts = {
        row["type"]: row["n"]
        for row in Event.objects.filter(profile=profile)
        .values("type")
        .order_by()
        .annotate(n=Count("id"))
    }
    return {
        "profile": profile,
        "identities": identities,
        "provenance": profile_provenance(profile=profile),
        "events": events,
        "event_counts": event_counts,
        **profile_facts(profile_id=profile.pk),
        "absorbed": list(Profile.objects.filter(merged_into=profile).values_list("pk", flat=True)),
        "issues": list(
            profile.quality_issues.select_related("source").order_by(
                F("resolved_at").desc(nulls_first=True), "-detected_at", "pk"
            )[:50]
        ),
    }


def merge_list() -> QuerySet[ProfileMerge]:
    """The merge log, newest first, with the stewards who merged and undid."""
    return ProfileMerge.objects.select_related("actor", "undone_by").order_by("-id")
