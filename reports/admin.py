"""Admin of the reports app: the daily rollups (read-only) and their cursors."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from reports.models import DailyConsents, DailyEvents, RollupCursor
from reports.services import rollups_rebuild


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the rollup services only."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DailyEvents)
class DailyEventsAdmin(ReadOnlyAdmin):
    list_display = (
        "day",
        "type",
        "name",
        "source",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "count",
    )
    list_filter = ("type", "source", "utm_medium")
    list_select_related = ("source",)
    date_hierarchy = "day"
    ordering = ("-day", "type", "name")
    show_full_result_count = False


@admin.register(DailyConsents)
class DailyConsentsAdmin(ReadOnlyAdmin):
    list_display = ("day", "purpose", "status", "count")
    list_filter = ("purpose", "status")
    list_select_related = ("purpose",)
    date_hierarchy = "day"
    ordering = ("-day", "purpose", "status")


@admin.register(RollupCursor)
class RollupCursorAdmin(ReadOnlyAdmin):
    list_display = ("name", "position", "gap_count", "rebuilt_at", "updated_at")
    actions = ["rebuild"]

    @admin.display(description=_("ids awaited"))
    def gap_count(self, obj: RollupCursor) -> int:
        return len(obj.gaps)

    def has_rebuild_permission(self, request: HttpRequest) -> bool:
        """Stewards and admins (who may change rollup cursors), not viewers."""
        return request.user.has_perm("reports.change_rollupcursor")

    @admin.action(
        description=_("Recount every rollup from its ledger now"), permissions=["rebuild"]
    )
    def rebuild(self, request: HttpRequest, queryset: QuerySet[RollupCursor]) -> None:
        results = rollups_rebuild()
        self.message_user(
            request,
            _("Rollups recounted: %(rows)s rows.") % {"rows": sum(r.rows for r in results)},
            messages.SUCCESS,
        )
