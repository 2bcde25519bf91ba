"""Reads of the segments app: previews, members, a profile's segments, size history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from core.statistics import statistics_refresh
from profiles.models import Profile
from segments.compiler import compile_rule, scanned_models
from segments.models import Membership, Persona, Segment, SegmentSize


@dataclass(frozen=True)
class Preview:
    count: int
    sample: list[Profile]


def segment_list() -> QuerySet[Segment]:
    """Segments by name."""
    return Segment.objects.order_by("name", "pk")


def segment_preview(*, rule: Any, segment_id: int | None = None, sample: int = 10) -> Preview:
    """How many active profiles a rule selects now, and a few of them (nothing is saved;
    stale planner statistics are refreshed first, as for a refresh)."""
    statistics_refresh(models=scanned_models())
    members = Profile.objects.filter(status=Profile.Status.ACTIVE).filter(
        compile_rule(rule, segment_id=segment_id)
    )
    return Preview(count=members.count(), sample=list(members.order_by("pk")[:sample]))


def segment_members(*, segment_id: int) -> QuerySet[Membership]:
    """The current stays of a segment, with their profiles."""
    return Membership.objects.filter(segment_id=segment_id, exited_at__isnull=True).select_related(
        "profile"
    )


def segment_sizes(*, segment_id: int, limit: int = 500) -> list[SegmentSize]:
    """The latest size-history rows of a segment, oldest first."""
    rows = SegmentSize.objects.filter(segment_id=segment_id).order_by("-at", "-id")[:limit]
    return list(reversed(rows))


def profile_segments(*, profile_id: int) -> QuerySet[Membership]:
    """The segments a profile is in now (merges followed by the caller), by name."""
    return (
        Membership.objects.filter(profile_id=profile_id, exited_at__isnull=True)
        .select_related("segment")
        .order_by("segment__name")
    )


def profile_personas(*, profile_id: int) -> QuerySet[Persona]:
    """The personas of the segments a profile is in now."""
    return Persona.objects.filter(
        segment__memberships__profile_id=profile_id, segment__memberships__exited_at__isnull=True
    ).select_related("segment")


def persona_list() -> QuerySet[Persona]:
    """Personas by name, with their segment."""
    return Persona.objects.select_related("segment").order_by("name")
