"""Admin of the intake buffer: what the HTTP channels accepted and the worker has not ingested."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from collection.models import IntakeBatch
from consent.services import access_log_add


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

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        if response.status_code == 200:  # the messages as received: personal data, audited
            access_log_add(
                user=request.user, action="view", what="admin:intake-batch", profile_id=None
            )
        return response
