"""Admin of the intake buffer: what the HTTP channels accepted and the worker has not ingested."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from collection.models import IntakeBatch


@admin.register(IntakeBatch)
class IntakeBatchAdmin(admin.ModelAdmin):
    """Accepted messages waiting for the worker; rows with attempts failed and await a fix."""

    list_display = ("id", "source", "count", "received_at", "attempts", "last_error")
    list_filter = ("attempts", "source")
    list_select_related = ("source",)
    show_full_result_count = False
    readonly_fields = ("source", "messages", "count", "received_at", "attempts", "last_error")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
