"""Masking personal data for viewers in admin pages (any app's admin may use the mixin)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest

from consent.services.access import mask_value, may_unmask


class MaskedForViewersAdmin:
    """ModelAdmin mixin: viewers get list columns swapped and detail values masked.

    `mask_columns` maps a list column to what viewers see instead (e.g. a foreign key whose
    label names the person -> its id); `mask_fields` are attributes masked on detail pages.
    """

    mask_columns: dict[str, str] = {}
    mask_fields: tuple[str, ...] = ()
    # Fields viewers may not filter or search on (besides `mask_fields`): a look-up such
    # as `?email__startswith=a` would reveal a value a character at a time.
    personal_lookups: tuple[str, ...] = ()

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        personal = {*self.mask_fields, *self.personal_lookups}
        if not may_unmask(request.user) and personal & set(lookup.split(LOOKUP_SEP)):
            return False  # the admin answers 400
        return bool(super().lookup_allowed(lookup, value, request))  # type: ignore[misc]  # a mixin: the ModelAdmin it is mixed into has it

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        if not may_unmask(request.user):
            return search_by_id_only(queryset, search_term)
        return super().get_search_results(request, queryset, search_term)  # type: ignore[misc]  # idem

    def get_list_display(self, request: HttpRequest) -> Any:
        names = super().get_list_display(request)  # type: ignore[misc]  # a mixin: the ModelAdmin it is mixed into has it
        if may_unmask(request.user):
            return names
        return [
            _masked_column(name) if name in self.mask_fields else self.mask_columns.get(name, name)
            for name in names
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        names = super().get_readonly_fields(request, obj)  # type: ignore[misc]  # idem
        if may_unmask(request.user):
            return names
        return [self.mask_columns.get(name, name) for name in names]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        names = super().get_fields(request, obj)  # type: ignore[misc]  # idem
        if may_unmask(request.user):
            return names
        return [self.mask_columns.get(name, name) for name in names]

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        obj = super().get_object(request, object_id, from_field)  # type: ignore[misc]  # idem
        if obj is not None and not may_unmask(request.user):
            for name in self.mask_fields:
                setattr(obj, name, mask_value(getattr(obj, name)))
        return obj


def search_by_id_only(queryset: QuerySet[Any], search_term: str) -> tuple[QuerySet[Any], bool]:
    """Viewers find rows by id only: a search on personal data confirms a person exists."""
    term = search_term.strip()
    if not term:
        return queryset, False
    return (queryset.filter(pk=int(term)) if term.isdigit() else queryset.none()), False


def _masked_column(name: str) -> Any:
    def column(obj: Any) -> Any:
        return mask_value(getattr(obj, name))

    column.short_description = name.replace("_", " ")  # type: ignore[attr-defined]  # the admin reads a function attribute
    return column
