"""FilterSets of the consent staff API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone

from consent.models import ConsentRecord, DataSubjectRequest, Purpose

BIGINT_MAX = 2**63 - 1


class IdFilter(django_filters.NumberFilter):
    """A whole number within the database's range (a larger one is a 400, not a 500)."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", BIGINT_MAX)
        super().__init__(*args, **kwargs)


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """ISO 8601 with any offset Python accepts, compared in UTC (PostgreSQL caps offsets)."""

    def filter(self, qs: QuerySet[Any], value: datetime | None) -> QuerySet[Any]:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return super().filter(qs, value)


class ConsentRecordFilter(django_filters.FilterSet):
    profile = IdFilter(field_name="profile_id")
    purpose = django_filters.CharFilter(field_name="purpose__code", label="Purpose code")
    status = django_filters.ChoiceFilter(choices=ConsentRecord.Status.choices)
    method = django_filters.ChoiceFilter(choices=ConsentRecord.Method.choices)
    recorded_after = UtcDateTimeFilter(field_name="recorded_at", lookup_expr="gte")
    recorded_before = UtcDateTimeFilter(field_name="recorded_at", lookup_expr="lt")

    class Meta:
        model = ConsentRecord
        fields = ["profile", "purpose", "status", "method"]


class PurposeFilter(django_filters.FilterSet):
    class Meta:
        model = Purpose
        fields = ["channel", "legal_basis", "is_active", "requires_double_opt_in"]


class DataSubjectRequestFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=DataSubjectRequest.Status.choices)
    kind = django_filters.ChoiceFilter(choices=DataSubjectRequest.Kind.choices)
    overdue = django_filters.BooleanFilter(method="filter_overdue", label="Open and past due")

    class Meta:
        model = DataSubjectRequest
        fields = ["status", "kind"]

    def filter_overdue(self, queryset: QuerySet[Any], name: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        condition = Q(status__in=["received", "verified"], due_at__lt=timezone.now())
        return queryset.filter(condition) if value else queryset.exclude(condition)
