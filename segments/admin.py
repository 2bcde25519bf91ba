"""Admin for segments: a rule builder with live count and sample, the rule in words, a
size-history chart, the member list with CSV export, static-list edits; personas."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from consent.services import access_log_add, mask_value, may_unmask
from consent.services.access import EXPORT_PERMISSION
from core.leases import job_lease_annotations
from core.spreadsheets import spreadsheet_safe
from segments.builder import builder_meta, size_chart
from segments.describe import Line, rule_describe
from segments.errors import RuleError, SegmentsError
from segments.models import Persona, Segment
from segments.selectors import segment_members, segment_preview, segment_sizes
from segments.services import (
    persona_create,
    segment_create,
    segment_members_add,
    segment_members_remove,
    segment_refresh_job,
    segment_update,
)
from segments.services.membership import profile_ids_from_identifiers

TEMPLATES = "admin/segments/segment"
MEMBERS_PAGE = 100


def lines_html(line: Line) -> SafeString:
    """Nested lines of a rule as a nested HTML list."""
    children = format_html_join("", "{}", ((lines_html(child),) for child in line.children))
    inner = format_html("<ul>{}</ul>", children) if line.children else ""
    return format_html("<li>{}{}</li>", line.text, inner)


class SegmentForm(forms.ModelForm):
    rule = forms.JSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 12, "cols": 90, "class": "vLargeTextField"}),
        help_text=_("Edit with the builder above, or as JSON (see the README for the grammar)."),
        label=_("Rule"),
    )

    class Meta:
        model = Segment
        fields = ["name", "description", "kind", "rule", "refresh_every_minutes", "is_active"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        kind = data.get("kind") or (self.instance.kind if self.instance.pk else None)
        rule = data.get("rule")
        if kind == Segment.Kind.DYNAMIC and rule is not None:
            try:
                rule_describe(rule, segment_id=self.instance.pk)
            except RuleError as error:
                self.add_error("rule", f"{error.path}: {error.detail}")
        return data


class MembersForm(forms.Form):
    identifiers = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "cols": 60}),
        required=False,
        help_text=_("Profile ids or email addresses, one a line (or separated by commas)."),
        label=_("Identifiers"),
    )
    file = forms.FileField(
        required=False, help_text=_("Or a CSV / text file of them."), label=_("File")
    )
    remove = forms.BooleanField(
        required=False, help_text=_("Remove them instead of adding."), label=_("Remove")
    )

    def identifiers_list(self) -> list[str]:
        text = self.cleaned_data.get("identifiers") or ""
        upload = self.cleaned_data.get("file")
        if upload is not None:
            text += "\n" + upload.read(5_000_000).decode("utf-8-sig", errors="replace")
        found = []
        for row in csv.reader(text.splitlines()):
            found.extend(cell.strip() for cell in row if cell.strip())
        return found


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    list_display = (
        "name",
        "kind",
        "member_count",
        "last_refreshed_at",
        "refresh_state",
        "is_active",
    )
    list_filter = ("kind", "is_active")
    search_fields = ("name",)
    readonly_fields = (
        "rule_in_words",
        "members",
        "size_history",
        "last_refreshed_at",
        "refresh_state",
    )
    change_form_template = f"{TEMPLATES}/change_form.html"
    actions = ["refresh_now"]

    def get_readonly_fields(self, request: HttpRequest, obj: Segment | None = None) -> Any:
        if obj is None:
            return ()
        return ("kind", *self.readonly_fields)

    def get_fieldsets(self, request: HttpRequest, obj: Segment | None = None) -> Any:
        main = ["name", "description", "kind", "rule", "refresh_every_minutes", "is_active"]
        if obj is None:
            return [(None, {"fields": main})]
        return [
            (None, {"fields": main}),
            (
                _("Members"),
                {"fields": ["rule_in_words", "members", "size_history", "refresh_state"]},
            ),
        ]

    def get_queryset(self, request: HttpRequest) -> Any:
        # Whether a refresh a steward asked for is queued or running (its job lease).
        prefix = segment_refresh_job(0).removesuffix("0")
        return super().get_queryset(request).annotate(**job_lease_annotations(prefix=prefix))

    @admin.display(description=_("Requested refresh"))
    def refresh_state(self, obj: Segment) -> str:
        if not getattr(obj, "lease_owed", False):
            return "—"
        claimed_at = getattr(obj, "lease_claimed_at", None)
        if claimed_at is None:
            return gettext("queued")
        return gettext("running since %(time)s") % {
            "time": date_format(timezone.localtime(claimed_at), "DATETIME_FORMAT")
        }

    @admin.display(description=_("Rule in words"))
    def rule_in_words(self, obj: Segment) -> SafeString:
        if obj.kind == Segment.Kind.STATIC:
            return format_html(
                "{}", gettext("A static list: members are added by hand or by import.")
            )
        try:
            return format_html(
                '<ul class="rule-words">{}</ul>', lines_html(rule_describe(obj.rule))
            )
        except RuleError as error:
            return format_html("{} {}", gettext("Invalid rule:"), str(error))

    @admin.display(description=_("Members"))
    def members(self, obj: Segment) -> SafeString:
        members_url = reverse("admin:segments_segment_members", args=[obj.pk])
        return format_html(
            '{} · <a href="{}">{}</a> · <a href="{}">{}</a>',
            ngettext("%(count)s member", "%(count)s members", obj.member_count)
            % {"count": obj.member_count},
            members_url,
            gettext("list"),
            reverse("admin:segments_segment_export", args=[obj.pk]),
            gettext("export CSV"),
        )

    @admin.display(description=_("Size over time"))
    def size_history(self, obj: Segment) -> SafeString:
        return size_chart(
            segment_sizes(segment_id=obj.pk, limit=200),
            created_at=obj.created_at,
            member_count=obj.member_count,
        )

    def save_model(self, request: HttpRequest, obj: Segment, form: Any, change: bool) -> None:
        data = {k: form.cleaned_data.get(k) for k in form.changed_data if k != "kind"}
        try:
            if change:
                saved = segment_update(segment_id=obj.pk, **data)
            else:
                saved = segment_create(
                    name=obj.name,
                    rule=obj.rule if obj.kind == Segment.Kind.DYNAMIC else None,
                    kind=obj.kind,
                    description=obj.description,
                    refresh_every_minutes=obj.refresh_every_minutes,
                    is_active=obj.is_active,
                    created_by=request.user,
                    refresh=True,
                )
        except SegmentsError as error:
            # Validated by the form already; a race (a name taken meanwhile) ends here.
            raise PermissionDenied(str(error)) from error
        obj.pk = saved.pk
        obj.created_at = saved.created_at

    @admin.action(description=_("Refresh now (in the background)"))
    def refresh_now(self, request: HttpRequest, queryset: Any) -> None:
        from segments.services import segment_refresh_request

        dynamic = list(queryset.filter(kind=Segment.Kind.DYNAMIC).values_list("pk", flat=True))
        for pk in dynamic:
            segment_refresh_request(segment_id=pk)
        messages.info(
            request, gettext("%(len)s segment(s) queued for a refresh.") % {"len": len(dynamic)}
        )

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("preview/", view(self.preview_view), name="segments_segment_preview"),
            path("<int:pk>/members/", view(self.members_view), name="segments_segment_members"),
            path("<int:pk>/export/", view(self.export_view), name="segments_segment_export"),
            *super().get_urls(),
        ]

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        context["builder_meta"] = builder_meta()
        context["preview_url"] = reverse("admin:segments_segment_preview")
        return super().render_change_form(request, context, *args, **kwargs)

    def preview_view(self, request: HttpRequest) -> JsonResponse:
        """Live count, sample and rule in words for the builder; nothing is saved."""
        if request.method != "POST":
            return JsonResponse({"error": {"message": "POST a rule"}}, status=405)
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            body = json.loads(request.body or b"{}")
            rule = body.get("rule")
            segment_id = body.get("segment_id") if isinstance(body.get("segment_id"), int) else None
            words = rule_describe(rule, segment_id=segment_id)
            found = segment_preview(rule=rule, segment_id=segment_id, sample=10)
        except (ValueError, AttributeError):
            return JsonResponse({"error": {"path": "rule", "message": "not JSON"}}, status=400)
        except RuleError as error:
            return JsonResponse(
                {"error": {"path": error.path, "message": error.detail}}, status=400
            )
        unmasked = may_unmask(request.user)
        return JsonResponse(
            {
                "count": found.count,
                "sample": [
                    {
                        "id": p.pk,
                        "name": p.display_name if unmasked else str(p),
                        "url": reverse("admin:profiles_profile_change", args=[p.pk]),
                    }
                    for p in found.sample
                ],
                "words": str(format_html('<ul class="rule-words">{}</ul>', lines_html(words))),
            }
        )

    def members_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The current members, a page at a time by profile id (no COUNT over millions)."""
        segment = get_object_or_404(Segment, pk=pk)
        if not self.has_view_permission(request, segment):
            raise PermissionDenied
        form = MembersForm()
        if request.method == "POST":
            if not self.has_change_permission(request, segment):
                raise PermissionDenied
            form = MembersForm(request.POST, request.FILES)
            if form.is_valid():
                ids, unknown = profile_ids_from_identifiers(identifiers=form.identifiers_list())
                try:
                    if form.cleaned_data["remove"]:
                        done = segment_members_remove(segment_id=segment.pk, profile_ids=ids)
                        messages.success(
                            request, gettext("%(done)s member(s) removed.") % {"done": done}
                        )
                    else:
                        done = segment_members_add(segment_id=segment.pk, profile_ids=ids)
                        messages.success(
                            request, gettext("%(done)s member(s) added.") % {"done": done}
                        )
                except SegmentsError as error:
                    messages.error(request, str(error))
                if unknown:
                    messages.warning(request, f"{len(unknown)} unknown: {', '.join(unknown[:20])}")
                return HttpResponseRedirect(request.path)
        after = request.GET.get("after", "")
        rows = segment_members(segment_id=segment.pk).order_by("profile_id")
        if after.isdigit():
            rows = rows.filter(profile_id__gt=int(after))
        page = list(rows[: MEMBERS_PAGE + 1])
        unmasked = may_unmask(request.user)
        for stay in page:
            # Names and addresses for those who may see them; ids and masks for viewers.
            stay.label = stay.profile.display_name if unmasked else str(stay.profile)
            stay.email = stay.profile.email if unmasked else mask_value(stay.profile.email)
        access_log_add(
            user=request.user,
            action="view",
            what=f"admin:segment-members:{segment.pk}",
            profile_id=None,
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "segment": segment,
            "members": page[:MEMBERS_PAGE],
            "next_after": page[MEMBERS_PAGE - 1].profile_id if len(page) > MEMBERS_PAGE else None,
            "form": form if segment.kind == Segment.Kind.STATIC else None,
            "can_export": request.user.has_perm(EXPORT_PERMISSION),
            "title": gettext("Members of %(name)s") % {"name": segment.name},
        }
        return TemplateResponse(request, f"{TEMPLATES}/members.html", context)

    def export_view(self, request: HttpRequest, pk: int) -> StreamingHttpResponse:
        """All current members as CSV, streamed in chunks (stewards: the export permission)."""
        if not (self.has_view_permission(request) and request.user.has_perm(EXPORT_PERMISSION)):
            raise PermissionDenied
        segment = get_object_or_404(Segment, pk=pk)
        columns = ["profile_id", "email", "first_name", "last_name", "company", "country"]
        unmasked = may_unmask(request.user)
        access_log_add(
            user=request.user,
            action="export",
            what=f"admin:segment-export:{segment.pk}",
            profile_id=None,
        )

        def rows() -> Iterator[str]:
            buffer = _Echo()
            writer = csv.writer(buffer)
            yield writer.writerow([*columns, "entered_at"])
            members = segment_members(segment_id=segment.pk).order_by("profile_id")
            for row in members.values_list(
                "profile_id",
                "profile__email",
                "profile__first_name",
                "profile__last_name",
                "profile__company",
                "profile__country",
                "entered_at",
            ).iterator(chunk_size=2000):
                values = row[:-1] if unmasked else [row[0], *map(mask_value, row[1:-1])]
                yield writer.writerow([*map(spreadsheet_safe, values), row[-1].isoformat()])

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="segment-{segment.pk}.csv"'
        return response


class _Echo:
    def write(self, value: str) -> str:
        return value


class PersonaForm(forms.ModelForm):
    class Meta:
        model = Persona
        fields = ["name", "segment", "description", "goals", "pains", "messaging"]


@admin.register(Persona)
class PersonaAdmin(admin.ModelAdmin):
    form = PersonaForm
    list_display = ("name", "segment")
    autocomplete_fields = ("segment",)
    search_fields = ("name",)

    def save_model(self, request: HttpRequest, obj: Persona, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        saved = persona_create(
            name=obj.name,
            segment_id=obj.segment_id,
            description=obj.description,
            goals=obj.goals,
            pains=obj.pains,
            messaging=obj.messaging,
        )
        obj.pk = saved.pk
