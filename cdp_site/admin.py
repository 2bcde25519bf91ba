from django.contrib import admin

from cdp_site.models import Heartbeat


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ("kind", "name", "seen_at")
    list_filter = ("kind",)
    readonly_fields = ("kind", "name", "seen_at")

    def has_add_permission(self, request) -> bool:  # written by processes only
        return False
