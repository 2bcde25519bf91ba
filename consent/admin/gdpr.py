"""Admin of GDPR work: data-subject requests, the suppression list, the access log, retention.

Requests move only through the services: verify, extend, export, carry out, erase — each
an action with a confirmation page. Exports need the steward's permission, erasure the
admin's; viewers see subjects masked.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext_lazy
from django.utils.translation import gettext_lazy as _

from consent.errors import ConsentError
from consent.masking import MaskedForViewersAdmin
from consent.models import (
    AccessLog,
    DataSubjectRequest,
    DataSubjectRequestEvent,
    RetentionPolicy,
    RetentionRun,
    Suppression,
)
from consent.models.gdpr import STEP_LABELS
from consent.services import (
    dsar_create,
    dsar_erase,
    dsar_erasure_preview,
    dsar_execute,
    dsar_export,
    dsar_extend,
    dsar_verify,
    mask_value,
    may_unmask,
)
from consent.services.access import ERASE_PERMISSION, EXPORT_PERMISSION
from consent.services.retention import retention_run

BUTTONS = {
    "verify": _("Verify the identity…"),
    "extend": _("Extend the deadline…"),
    "export": _("Export the data…"),
    "carry_out": _("Carry out…"),
    "erase": _("Erase the person…"),
}
# What the steward reads once an action has run, by action (a count of requests).
DONE = {
    "verified": ngettext_lazy(
        "%(count)d request verified.", "%(count)d requests verified.", "count"
    ),
    "extended": ngettext_lazy(
        "%(count)d request extended.", "%(count)d requests extended.", "count"
    ),
    "carried out": ngettext_lazy(
        "%(count)d request carried out.", "%(count)d requests carried out.", "count"
    ),
    "erased": ngettext_lazy(
        "%(count)d request carried out: the person is erased.",
        "%(count)d requests carried out: the people are erased.",
        "count",
    ),
}
Kind = DataSubjectRequest.Kind
Status = DataSubjectRequest.Status
OPEN = (Status.RECEIVED, Status.VERIFIED)


class DueFilter(admin.SimpleListFilter):
    title = "due"
    parameter_name = "due"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("overdue", "Overdue"), ("week", "Due within 7 days"), ("open", "Open")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        open_requests = queryset.filter(status__in=OPEN)
        if self.value() == "overdue":
            return open_requests.filter(due_at__lt=now)
        if self.value() == "week":
            return open_requests.filter(due_at__gte=now, due_at__lt=now + timedelta(days=7))
        if self.value() == "open":
            return open_requests
        return queryset


class RequestStepInline(admin.TabularInline):
    model = DataSubjectRequestEvent
    fields = ("at", "step", "actor", "note")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = _("audit trail")

    @admin.display(description=_("step"))
    def step(self, obj: DataSubjectRequestEvent) -> str:
        return str(STEP_LABELS.get(obj.action, obj.action))

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RequestAddForm(forms.ModelForm):
    changes = forms.JSONField(
        required=False,
        help_text=_('Rectification only: {"last_name": "King"}.'),
        label=_("Changes"),
    )

    class Meta:
        model = DataSubjectRequest
        fields = ["kind", "subject_email", "subject_phone", "changes", "received_at"]

    def clean_changes(self) -> Any:
        return self.cleaned_data.get("changes") or {}


@admin.register(DataSubjectRequest)
class DataSubjectRequestAdmin(MaskedForViewersAdmin, admin.ModelAdmin):
    personal_lookups = ("subject_email", "subject_phone", "changes", "answer")
    list_display = (
        "id",
        "kind",
        "status",
        "subject",
        "received_at",
        "due_at",
        "overdue",
        "extended",
        "handler",
    )
    list_filter = (DueFilter, "status", "kind", "extended")
    list_select_related = ("handler",)
    date_hierarchy = "received_at"
    inlines = [RequestStepInline]
    actions = ["verify", "extend", "export", "carry_out", "erase"]
    readonly_fields = (
        "kind",
        "status",
        "subject",
        "subject_digest",
        "changes",
        "received_at",
        "due_at",
        "extended",
        "extension_reason",
        "verification",
        "verified_at",
        "completed_at",
        "answer",
    )
    fields = (*readonly_fields[:1], "handler", *readonly_fields[1:])

    @admin.display(description=_("subject"))
    def subject(self, obj: DataSubjectRequest) -> str:
        shown = " / ".join(value for value in (obj.subject_email, obj.subject_phone) if value)
        if not shown:
            return "(erased)" if obj.subject_digest else ""
        return shown if getattr(self, "_unmasked", False) else str(mask_value(shown))

    @admin.display(boolean=True)
    def overdue(self, obj: DataSubjectRequest) -> bool:
        return obj.status in OPEN and obj.due_at < timezone.now()

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"received_at": timezone.now(), **super().get_changeform_initial_data(request)}

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = RequestAddForm
            kwargs["fields"] = RequestAddForm.Meta.fields
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return RequestAddForm.Meta.fields if obj is None else self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else self.readonly_fields

    def get_inlines(self, request: HttpRequest, obj: Any) -> list[Any]:
        return self.inlines if obj is not None else []

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        self._unmasked = may_unmask(request.user)
        return super().changelist_view(request, extra_context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        self._unmasked = may_unmask(request.user)
        return super().change_view(request, object_id, form_url, extra_context)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> Any:
        if obj is not None and obj.pk:
            context["request_actions"] = self._actions_for(request, obj)
            context["changelist_url"] = reverse("admin:consent_datasubjectrequest_changelist")
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _actions_for(self, request: HttpRequest, dsar: DataSubjectRequest) -> list[tuple[str, Any]]:
        """The actions this request can take now, as (action name, button label)."""
        if dsar.status not in OPEN:
            return []
        offered = self.get_actions(request)
        wanted = []
        if dsar.status == Status.RECEIVED:
            wanted.append("verify")
        if not dsar.extended:
            wanted.append("extend")
        if dsar.kind in (Kind.ACCESS, Kind.PORTABILITY):
            wanted.append("export")
        if dsar.kind in (Kind.RECTIFICATION, Kind.RESTRICTION, Kind.OBJECTION):
            wanted.append("carry_out")
        if dsar.kind == Kind.ERASURE:
            wanted.append("erase")
        # Export and erasure check their own permission when run: offer them only to holders.
        needs = {"export": EXPORT_PERMISSION, "erase": ERASE_PERMISSION}
        return [
            (name, BUTTONS[name])
            for name in wanted
            if name in offered and (name not in needs or request.user.has_perm(needs[name]))
        ]

    def response_action(self, request: HttpRequest, queryset: QuerySet) -> Any:
        """An action started from a request's page comes back to that page when done."""
        response = super().response_action(request, queryset)
        back = request.POST.get("back_to_request", "")
        if isinstance(response, HttpResponseRedirect) and back.isdigit():
            return HttpResponseRedirect(
                reverse("admin:consent_datasubjectrequest_change", args=[int(back)])
            )
        return response

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            obj.save(update_fields=["handler"])
            return
        created = dsar_create(
            kind=obj.kind,
            email=obj.subject_email,
            phone=obj.subject_phone,
            changes=obj.changes,
            received_at=obj.received_at,
            actor=request.user,
        )
        obj.pk = created.pk

    # --- actions: each asks for confirmation (and a note) before calling a service ---

    def _confirm(
        self,
        request: HttpRequest,
        queryset: QuerySet,
        *,
        action: str,
        title: str,
        warning: str,
        button: str,
        note_label: str = "",
        erasures: list[Any] | None = None,
    ) -> TemplateResponse | None:
        """The confirmation page, or None once confirmed (with a note if one is asked)."""
        if request.POST.get("confirm") == "yes" and (
            not note_label or request.POST.get("note", "").strip()
        ):
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "warning": warning,
            "button": button,
            "note_label": note_label,
            "action": action,
            "requests": list(queryset),
            "erasures": erasures or [],
            "unmasked": may_unmask(request.user),
            "back_to_request": request.POST.get("back_to_request", ""),
        }
        return TemplateResponse(request, "admin/consent/datasubjectrequest/confirm.html", context)

    def _each(self, request: HttpRequest, queryset: QuerySet, step: Any, done: str) -> None:
        ok = 0
        for dsar in queryset.order_by("pk"):
            try:
                step(dsar)
            except ConsentError as exc:
                messages.error(request, f"{dsar}: {exc}")
            else:
                ok += 1
        if ok:
            messages.success(request, DONE[done] % {"count": ok})

    @admin.action(description=_("Verify the requester's identity"), permissions=["change"])
    def verify(self, request: HttpRequest, queryset: QuerySet) -> Any:
        page = self._confirm(
            request,
            queryset,
            action="verify",
            title=gettext("Verify identity"),
            warning=gettext(
                "Say how the requester's identity was checked (keep no copy of documents)."
            ),
            button="Verified",
            note_label=gettext("How it was verified"),
        )
        if page is not None:
            return page
        note = request.POST["note"]
        self._each(
            request,
            queryset,
            lambda dsar: dsar_verify(request=dsar, method=note, actor=request.user),
            "verified",
        )
        return None

    @admin.action(description=_("Extend the deadline by two months"), permissions=["change"])
    def extend(self, request: HttpRequest, queryset: QuerySet) -> Any:
        page = self._confirm(
            request,
            queryset,
            action="extend",
            title=gettext("Extend the deadline"),
            warning=gettext(
                "Once per request, for complex or numerous requests; tell the person why."
            ),
            button="Extend",
            note_label="Reason",
        )
        if page is not None:
            return page
        reason = request.POST["note"]
        self._each(
            request,
            queryset,
            lambda dsar: dsar_extend(request=dsar, reason=reason, actor=request.user),
            "extended",
        )
        return None

    @admin.action(description=_("Export the person's data (access, portability)"))
    def export(self, request: HttpRequest, queryset: QuerySet) -> Any:
        if not request.user.has_perm(EXPORT_PERMISSION):
            raise PermissionDenied
        if queryset.count() != 1:
            messages.error(request, gettext("Export one request at a time."))
            return None
        page = self._confirm(
            request,
            queryset,
            action="export",
            title=gettext("Export personal data"),
            warning=gettext(
                "The file holds everything we hold about the person: send it to them only."
            ),
            button="Download",
        )
        if page is not None:
            return page
        dsar = queryset.get()
        try:
            data = dsar_export(request=dsar, actor=request.user, via="admin")
        except ConsentError as exc:
            messages.error(request, f"{dsar}: {exc}")
            return None
        response = HttpResponse(
            json.dumps(data, indent=2, cls=DjangoJSONEncoder), content_type="application/json"
        )
        response["Content-Disposition"] = f'attachment; filename="request-{dsar.pk}.json"'
        return response

    @admin.action(
        description=_("Carry out (rectification, restriction, objection)"),
        permissions=["change"],
    )
    def carry_out(self, request: HttpRequest, queryset: QuerySet) -> Any:
        kinds = (Kind.RECTIFICATION, Kind.RESTRICTION, Kind.OBJECTION)
        queryset = queryset.filter(kind__in=kinds)
        page = self._confirm(
            request,
            queryset,
            action="carry_out",
            title=gettext("Carry out requests"),
            warning=gettext(
                "Rectifications correct fields; restrictions and objections take the "
                "people out of segments and sending."
            ),
            button="Carry out",
        )
        if page is not None:
            return page
        self._each(
            request,
            queryset,
            lambda dsar: dsar_execute(request=dsar, actor=request.user),
            "carried out",
        )
        return None

    @admin.action(description=_("Erase the person (cannot be undone)"))
    def erase(self, request: HttpRequest, queryset: QuerySet) -> Any:
        if not request.user.has_perm(ERASE_PERMISSION):
            raise PermissionDenied
        queryset = queryset.filter(kind=Kind.ERASURE)
        page = self._confirm(
            request,
            queryset,
            action="erase",
            title=_("Erase people"),
            warning=_(
                "Every app's data about these people is removed or anonymised for good; "
                "their email and phone go on the suppression list."
            ),
            button=_("Erase for good"),
            erasures=(
                [dsar_erasure_preview(request=dsar) for dsar in queryset.order_by("pk")]
                if request.POST.get("confirm") != "yes"
                else None
            ),
        )
        if page is not None:
            return page
        self._each(
            request,
            queryset,
            lambda dsar: dsar_erase(request=dsar, actor=request.user, via="admin"),
            "erased",
        )
        return None


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Suppression)
class SuppressionAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "short_digest", "reason", "request", "created_at", "lifted_at")
    list_filter = ("kind", "reason", ("lifted_at", admin.EmptyFieldListFilter))
    show_full_result_count = False

    @admin.display(description=_("digest"))
    def short_digest(self, obj: Suppression) -> str:
        return f"{obj.digest[:16]}…"


@admin.register(AccessLog)
class AccessLogAdmin(ReadOnlyAdmin):
    list_display = ("at", "user", "action", "what", "profile_id", "request", "masked")
    list_filter = ("action", "what", "masked")
    list_select_related = ("user",)
    search_fields = ("=profile_id", "user__username")
    show_full_result_count = False
    date_hierarchy = "at"


class RetentionRunInline(admin.TabularInline):
    model = RetentionRun
    fields = ("started_at", "dry_run", "cutoff", "matched", "anonymised", "finished_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    list_display = ("name", "lifecycle_stage", "days_without_contact", "is_active", "dry_run_at")
    readonly_fields = ("dry_run_at", "created_at")
    inlines = [RetentionRunInline]
    actions = ["dry_run"]

    @admin.action(description=_("Dry run: count who would be anonymised"))
    def dry_run(self, request: HttpRequest, queryset: QuerySet) -> None:
        for policy in queryset:
            run = retention_run(policy=policy, dry_run=True)
            messages.info(
                request,
                gettext("%(policy)s: %(matched)s profile(s) would be anonymised.")
                % {"policy": policy, "matched": run.matched},
            )
