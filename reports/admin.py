"""Admin of the reports app: the daily rollups (read-only) and their cursors."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyAdmin
from reports.builtin import DEFINITIONS, last_complete_period, report_build
from reports.models import (
    DailyConsents,
    DailyEvents,
    DailyLifecycle,
    DailyMessages,
    ReportSchedule,
    RollupCursor,
)
from reports.rendering import report_context, report_csv, report_xlsx
from reports.services import rollups_rebuild
from reports.services.deliveries import next_run_at, recipients_parse


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


@admin.register(DailyMessages)
class DailyMessagesAdmin(ReadOnlyAdmin):
    list_display = (
        "day",
        "origin_kind",
        "origin_id",
        "step",
        "variant",
        "channel",
        "metric",
        "reason",
        "erased",
        "count",
    )
    list_filter = ("origin_kind", "metric", "channel", "erased")
    date_hierarchy = "day"
    ordering = ("-day", "origin_kind", "origin_id", "step", "variant", "metric")
    show_full_result_count = False


@admin.register(DailyLifecycle)
class DailyLifecycleAdmin(ReadOnlyAdmin):
    list_display = ("day", "cohort", "stage", "source", "count")
    list_filter = ("stage", "source")
    list_select_related = ("source",)
    date_hierarchy = "day"
    ordering = ("-day", "-cohort", "stage")


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


def _without_format(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("format", None)
    return query.urlencode()


class PeriodForm(forms.Form):
    start = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            raise forms.ValidationError(_("The period ends before it starts."))
        if data.get("start") and data.get("end") and (data["end"] - data["start"]).days > 366:
            raise forms.ValidationError(_("A report covers at most a year."))
        return data


class ReportScheduleForm(forms.ModelForm):
    report = forms.ChoiceField(label=_("Report"))

    class Meta:
        model = ReportSchedule
        fields = ["report", "cadence", "recipients", "is_active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["report"].choices = [(code, d.title) for code, d in DEFINITIONS.items()]

    def clean_recipients(self) -> str:
        text = self.cleaned_data["recipients"]
        addresses = recipients_parse(text)
        bad = [address for address in addresses if "@" not in address]
        if not addresses or bad:
            raise forms.ValidationError(_("Give one or more email addresses."))
        return "\n".join(addresses)


@admin.register(ReportSchedule)
class ReportScheduleAdmin(admin.ModelAdmin):
    """Scheduled reports; its page lists the built-in reports, each with its own page."""

    form = ReportScheduleForm
    list_display = ("report", "cadence", "is_active", "next_run_at")
    list_filter = ("report", "cadence", "is_active")
    change_list_template = "admin/reports/reportschedule/change_list.html"

    def save_model(
        self, request: HttpRequest, obj: ReportSchedule, form: Any, change: bool
    ) -> None:
        if not change or "cadence" in form.changed_data:
            obj.next_run_at = next_run_at(cadence=obj.cadence, after=timezone.now())
        super().save_model(request, obj, form, change)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> Any:
        context = {
            "definitions": list(DEFINITIONS.values()),
            **(extra_context or {}),
        }
        return super().changelist_view(request, context)

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.report_view)
        return [path("view/<slug:code>/", view, name="reports_report_view"), *super().get_urls()]

    def report_view(self, request: HttpRequest, code: str) -> HttpResponse:
        """A built-in report over a chosen period, with its exports."""
        if not request.user.has_perm("reports.view_dailyevents"):
            raise PermissionDenied
        if code not in DEFINITIONS:
            raise Http404(_("No such report."))
        definition = DEFINITIONS[code]
        period = last_complete_period(cadence=definition.cadence, today=timezone.localdate())
        form = PeriodForm(request.GET or {"start": period.start, "end": period.end})
        report = None
        if form.is_valid():
            report = report_build(
                code=code, start=form.cleaned_data["start"], end=form.cleaned_data["end"]
            )
            export = request.GET.get("format")
            if export in ("csv", "xlsx"):
                body = report_csv(report) if export == "csv" else report_xlsx(report)
                content_type = (
                    "text/csv"
                    if export == "csv"
                    else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                )
                response = HttpResponse(body, content_type=content_type)
                name = f"{code}-{report.start}-{report.end}.{export}"
                response["Content-Disposition"] = f'attachment; filename="{name}"'
                return response
        context = {
            **self.admin_site.each_context(request),
            "title": definition.title,
            "definition": definition,
            "form": form,
            "query": _without_format(request) or f"start={period.start}&end={period.end}",
            "opts": self.model._meta,
            **(report_context(report) if report else {}),
        }
        return TemplateResponse(request, "admin/reports/report.html", context)
