"""FilterSets of the staff API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from profiles.models import Event, Profile, ProfileMerge
from profiles.selectors import profile_search_condition


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """ISO 8601 with any offset Python accepts, compared in UTC (PostgreSQL caps offsets)."""

    def filter(self, qs: QuerySet[Any], value: datetime | None) -> QuerySet[Any]:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return super().filter(qs, value)


class ProfileFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="search", label=_("Name, phone or start of an email address (index-backed)")
    )
    email = django_filters.CharFilter(field_name="email", lookup_expr="exact")
    country = django_filters.CharFilter(field_name="country", lookup_expr="iexact")
    last_seen_after = UtcDateTimeFilter(field_name="last_seen_at", lookup_expr="gte")
    last_seen_before = UtcDateTimeFilter(field_name="last_seen_at", lookup_expr="lt")
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    source = django_filters.CharFilter(method="from_source", label="Slug of a source it came from")

    class Meta:
        model = Profile
        fields = ["status", "lifecycle_stage", "country", "email"]

    def search(self, queryset: QuerySet[Profile], name: str, value: str) -> QuerySet[Profile]:
        return queryset.filter(profile_search_condition(query=value))

    def from_source(self, queryset: QuerySet[Profile], name: str, value: str) -> QuerySet[Profile]:
        return queryset.filter(provenance__source__slug=value).distinct()


class EventFilter(django_filters.FilterSet):
    occurred_after = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="lt")
    source = django_filters.CharFilter(field_name="source__slug")

    class Meta:
        model = Event
        fields = ["type", "name", "utm_campaign"]


# Profile ids are 64-bit: a larger number is a 400, not an overflow in the database driver.
_ID_BOUNDS = {"min_value": 1, "max_value": 2**63 - 1}


class MergeFilter(django_filters.FilterSet):
    profile = django_filters.NumberFilter(
        method="with_profile",
        label="Merges a profile took part in (survivor or absorbed)",
        **_ID_BOUNDS,
    )
    survivor = django_filters.NumberFilter(field_name="survivor_id", **_ID_BOUNDS)
    absorbed = django_filters.NumberFilter(field_name="absorbed_id", **_ID_BOUNDS)
    undone = django_filters.BooleanFilter(
        field_name="undone_at", lookup_expr="isnull", exclude=True
    )
    merged_after = UtcDateTimeFilter(field_name="merged_at", lookup_expr="gte")
    merged_before = UtcDateTimeFilter(field_name="merged_at", lookup_expr="lt")
    actor = django_filters.CharFilter(field_name="actor__username")

    class Meta:
        model = ProfileMerge
        fields = ["survivor", "absorbed", "rule"]

    def with_profile(self, queryset: QuerySet[Any], name: str, value: int) -> QuerySet[Any]:
        return queryset.filter(Q(survivor_id=value) | Q(absorbed_id=value))
