"""The admin site: the steward's dashboard as its first page, navigation by the steward's jobs.

Wiring only: the dashboard's figures come from `reports.selectors`, the groups below
name where each app's models belong.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

# (group label, slug, [(app label, model object name or "*")]), in the order shown.
# Models that no group names fall under Settings, with Django's own apps.
GROUPS: list[tuple[Any, str, list[tuple[str, str]]]] = [
    (_("Collect"), "collect", [("collection", "*"), ("profiles", "Source")]),
    (_("People and quality"), "people", [("profiles", "*")]),
    (_("Consent and GDPR"), "consent", [("consent", "*")]),
    (_("Segments"), "segments", [("segments", "*")]),
    (_("Campaigns"), "campaigns", [("campaigns", "*")]),
    (_("Reports"), "reports", [("reports", "*")]),
]
SETTINGS = (_("Settings"), "settings")


def _group_of(app_label: str, object_name: str) -> str:
    for _label, slug, members in GROUPS:
        if (app_label, object_name) in members:
            return slug
    for _label, slug, members in GROUPS:
        if (app_label, "*") in members:
            return slug
    return SETTINGS[1]


class CdpAdminSite(admin.AdminSite):
    site_header = _("CDP · data stewardship")
    site_title = _("CDP admin")
    index_title = _("Dashboard")
    index_template = "admin/reports/dashboard.html"

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[Any]:
        """By the steward's jobs (Collect, People and quality, ...), Settings last; an app's
        own page keeps Django's list of that app."""
        apps = super().get_app_list(request, app_label)
        if app_label is not None:
            return apps
        groups: dict[str, dict[str, Any]] = {}
        for label, slug in [(label, slug) for label, slug, _m in GROUPS] + [SETTINGS]:
            groups[slug] = {
                "name": label,
                "app_label": slug,
                "app_url": "",
                "has_module_perms": True,
                "models": [],
            }
        for app in apps:
            for model in app["models"]:
                group = groups[_group_of(app["app_label"], model["object_name"])]
                group["models"].append(model)
                group["app_url"] = group["app_url"] or app["app_url"]
        return [group for group in groups.values() if group["models"]]

    def index(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        from reports.selectors import dashboard

        context = dict(extra_context or {})
        # Counts only, no person in them; still, only roles that may read reports see them.
        if request.user.has_perm("reports.view_dailyevents"):
            context.setdefault("dashboard", dashboard())
        return super().index(request, context)
