"""Admin of data quality: the overview, issues, the rules stewards edit, maintenance runs."""

from __future__ import annotations

from functools import partial
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from consent.services import access_log_add
from profiles.fields import PROFILE_FIELDS
from profiles.models import (
    DataQualityIssue,
    JobFunctionRule,
    MaintenanceRun,
    Profile,
    QualityWeight,
    SurvivorshipRule,
)
from profiles.selectors_quality import open_issue_condition, quality_overview
from profiles.services.quality.config import VALIDITY
from profiles.services.quality.issues import quality_issues_resolve
from profiles.services.quality.maintenance import maintenance_start, maintenance_summary
from profiles.services.quality.rules import quality_rule_delete, quality_rule_save

TEMPLATES = "admin/profiles/dataqualityissue"


class OpenIssueFilter(admin.SimpleListFilter):
    """Profiles with an open data-quality issue of one type (the overview links here)."""

    title = _("open data-quality issue")
    parameter_name = "issue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(DataQualityIssue.Code.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Profile]) -> QuerySet[Profile]:
        code = self.value()
        if code not in DataQualityIssue.Code.values:
            return queryset
        return queryset.filter(open_issue_condition(code=code))


class OpenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("open", "Open"), ("resolved", "Resolved")]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[DataQualityIssue]
    ) -> QuerySet[DataQualityIssue]:
        if self.value() == "open":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


@admin.register(DataQualityIssue)
class DataQualityIssueAdmin(admin.ModelAdmin):
    """Issues found on profiles; the overview page counts them per type."""

    list_display = (
        "detected_at",
        "code",
        "severity",
        "field",
        "profile_link",
        "source",
        "message",
        "suggestion",
        "resolved_at",
    )
    list_filter = (OpenFilter, "code", "severity", "source")
    list_select_related = ("source",)
    raw_id_fields = ("profile",)
    show_full_result_count = False
    ordering = ("-detected_at", "-id")
    actions = ["mark_resolved"]
    readonly_fields = (
        "profile",
        "field",
        "code",
        "severity",
        "message",
        "suggestion",
        "value",
        "source",
        "detected_at",
        "resolved_at",
    )

    @admin.display(description=_("profile"))
    def profile_link(self, obj: DataQualityIssue) -> str:
        url = reverse("admin:profiles_profile_change", args=[obj.profile_id])
        return format_html('<a href="{}">#{}</a>', url, obj.profile_id)

    @admin.action(description=_("Mark resolved (checked by a steward)"))
    def mark_resolved(self, request: HttpRequest, queryset: QuerySet[DataQualityIssue]) -> None:
        count = quality_issues_resolve(
            issue_ids=list(queryset.values_list("pk", flat=True)), actor_id=request.user.pk
        )
        messages.success(request, gettext("%(count)s issue(s) marked resolved.") % {"count": count})

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # issues are found by ingestion and maintenance

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
        issue = self.get_object(request, object_id) if response.status_code == 200 else None
        if issue is not None:  # the value as received and its fix: personal data, audited
            access_log_add(
                user=request.user,
                action="view",
                what="admin:quality-issue",
                profile_id=issue.profile_id,
            )
        return response

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("overview/", wrap(self.overview_view), name="profiles_quality_overview"),
            path(
                "overview/run/<str:kind>/",
                wrap(require_POST(self.run_view)),
                name="profiles_quality_run",
            ),
            *super().get_urls(),
        ]

    def overview_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        overview = quality_overview()
        profiles_url = reverse("admin:profiles_profile_changelist")
        issues_url = reverse("admin:profiles_dataqualityissue_changelist")
        for row in overview["issue_types"]:
            row["profiles_url"] = f"{profiles_url}?issue={row['code']}"
            row["issues_url"] = f"{issues_url}?state=open&code__exact={row['code']}"
        for run in overview["runs"]:
            run.summary_text = maintenance_summary(run=run)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext(gettext("Data quality overview")),
            "overview": overview,
            "kinds": MaintenanceRun.Kind.choices,
            "can_run": request.user.has_perm("profiles.add_maintenancerun"),
        }
        return TemplateResponse(request, f"{TEMPLATES}/overview.html", context)

    def run_view(self, request: HttpRequest, kind: str) -> HttpResponse:
        if not request.user.has_perm("profiles.add_maintenancerun"):
            raise PermissionDenied
        if kind not in MaintenanceRun.Kind.values:
            messages.error(request, gettext("Unknown maintenance run."))
            return HttpResponseRedirect(reverse("admin:profiles_quality_overview"))
        from profiles.tasks import quality_maintain_task

        with transaction.atomic():
            run = maintenance_start(
                kind=kind, reason="started by a steward", actor_id=request.user.pk
            )
            transaction.on_commit(
                partial(
                    quality_maintain_task.apply_async,
                    kwargs={"kind": run.kind, "run_id": run.pk},
                )
            )
        messages.success(
            request,
            gettext("Maintenance run #%(pk)s (%(value)s) started.")
            % {"pk": run.pk, "value": run.get_kind_display()},
        )
        return HttpResponseRedirect(reverse("admin:profiles_quality_overview"))


class _RuleAdmin(admin.ModelAdmin):
    """Saving or deleting a rule re-applies the rules to every profile (a maintenance run)."""

    def save_model(self, request: HttpRequest, obj: Model, form: Any, change: bool) -> None:
        run = quality_rule_save(rule=obj, actor_id=request.user.pk)
        messages.info(
            request,
            gettext("Maintenance run #%(pk)s re-applies the rules to every profile.")
            % {"pk": run.pk},
        )

    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        quality_rule_delete(rule=obj, actor_id=request.user.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        with transaction.atomic():
            for rule in queryset.order_by("pk"):
                quality_rule_delete(rule=rule, actor_id=request.user.pk)


@admin.register(JobFunctionRule)
class JobFunctionRuleAdmin(_RuleAdmin):
    list_display = ("position", "keyword", "function", "is_active")
    list_display_links = ("keyword",)
    list_filter = ("function", "is_active")
    search_fields = ("keyword",)
    ordering = ("position", "id")


_WEIGHT_FIELDS = [(VALIDITY, _("validity (no open issues)"))] + [
    (name, name) for name in (*PROFILE_FIELDS, "job_function")
]


class QualityWeightForm(forms.ModelForm):
    field = forms.ChoiceField(choices=_WEIGHT_FIELDS, label=_("Field"))

    class Meta:
        model = QualityWeight
        fields = ["field", "weight"]


@admin.register(QualityWeight)
class QualityWeightAdmin(_RuleAdmin):
    form = QualityWeightForm
    list_display = ("field", "weight")


class SurvivorshipRuleForm(forms.ModelForm):
    field = forms.ChoiceField(choices=[(name, name) for name in PROFILE_FIELDS], label=_("Field"))

    class Meta:
        model = SurvivorshipRule
        fields = ["field", "strategy"]


@admin.register(SurvivorshipRule)
class SurvivorshipRuleAdmin(_RuleAdmin):
    form = SurvivorshipRuleForm
    list_display = ("field", "strategy")


@admin.register(MaintenanceRun)
class MaintenanceRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "status",
        "progress",
        "changed",
        "summary_text",
        "reason",
        "started_by",
        "started_at",
        "finished_at",
    )
    list_filter = ("kind", "status")
    list_select_related = ("started_by",)
    readonly_fields = (
        "kind",
        "status",
        "reason",
        "cursor",
        "total",
        "processed",
        "changed",
        "summary",
        "started_by",
        "started_at",
        "finished_at",
    )

    @admin.display(description=_("progress"))
    def progress(self, obj: MaintenanceRun) -> str:
        if obj.status == MaintenanceRun.Status.DONE:
            return f"{obj.processed} (done)"
        percent = 100 * obj.processed // obj.total if obj.total else 0
        return f"{obj.processed} / {obj.total} ({min(percent, 100)}%)"

    @admin.display(description=_("summary"))
    def summary_text(self, obj: MaintenanceRun) -> str:
        return maintenance_summary(run=obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # started from the overview, by a rule change or by beat

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


__all__ = ["OpenIssueFilter"]
