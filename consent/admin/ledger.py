"""Admin: purposes with their wordings, and the consent ledger (read-only).

Nobody changes or deletes a ledger row, not even a superuser: a steward records a new
decision (the "Record a decision" page), which appends to the ledger through the service.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.functional import cached_property
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from consent.errors import ConsentError
from consent.masking import MaskedForViewersAdmin
from consent.models import ConsentRecord, Purpose, PurposeVersion
from consent.selectors import purpose_list
from consent.services import consent_record, purpose_wording_add

RECORD_PERMISSION = "consent.add_consentrecord"
ESTIMATE_ABOVE_ROWS = 10_000


class EstimatedCountPaginator(Paginator):
    """The planner's estimate instead of COUNT(*) for the unfiltered ledger on PostgreSQL."""

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if connection.vendor == "postgresql" and query is not None and not query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [self.object_list.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] > ESTIMATE_ABOVE_ROWS:
                return int(row[0])
        return super().count


class PurposeVersionInline(admin.TabularInline):
    """Wordings: a new text is added as the next version; earlier ones cannot be edited."""

    model = PurposeVersion
    fields = ("version", "text", "created_by", "created_at")
    readonly_fields = ("version", "created_by", "created_at")
    extra = 1
    can_delete = False
    verbose_name = "wording"
    verbose_name_plural = _(_("wordings (a new text is a new version; proofs keep the old one)"))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Purpose)
class PurposeAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "legal_basis",
        "channel",
        "requires_double_opt_in",
        "is_active",
        "current_version",
    )
    list_filter = ("legal_basis", "channel", "is_active")
    search_fields = ("code", "name")
    inlines = [PurposeVersionInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Purpose]:
        return purpose_list()

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # Forms and the API name a purpose by its code: renaming it would break them.
        return ("code", "created_at") if obj else ("created_at",)

    def get_prepopulated_fields(self, request: HttpRequest, obj: Any = None) -> dict[str, Any]:
        return {} if obj else {"code": ("name",)}

    @admin.display(description=_("wording version"))
    def current_version(self, obj: Purpose) -> int | None:
        return getattr(obj, "current_version", None)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not PurposeVersion:
            super().save_formset(request, form, formset, change)
            return
        added = [
            purpose_wording_add(purpose=form.instance, text=wording.text, actor=request.user)
            for wording in formset.save(commit=False)
        ]
        # The change message names the versions actually created.
        formset.new_objects = added


class DecisionForm(forms.Form):
    profile = forms.IntegerField(min_value=1, label=_("Profile id"))
    purpose = forms.ModelChoiceField(queryset=Purpose.objects.order_by("name"), label=_("Purpose"))
    status = forms.ChoiceField(
        choices=[
            (ConsentRecord.Status.WITHDRAWN, "Withdrawn"),
            (ConsentRecord.Status.GRANTED, "Granted"),
        ],
        label=_("Status"),
    )
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=1000,
        help_text=_("How the person told us (letter, phone call, ticket number): kept as proof."),
        label=_("Note"),
    )


@admin.register(ConsentRecord)
class ConsentRecordAdmin(MaskedForViewersAdmin, admin.ModelAdmin):
    """The ledger, read-only for everyone; new decisions through "Record a decision"."""

    mask_columns = {"profile": "profile_id"}
    mask_fields = ("proof",)

    list_display = (
        "id",
        "profile",
        "purpose",
        "status",
        "method",
        "wording_version",
        "source",
        "recorded_by",
        "recorded_at",
        "expires_at",
    )
    list_filter = ("purpose", "status", "method")
    list_select_related = ("profile", "purpose", "wording", "source", "recorded_by")
    raw_id_fields = ("profile",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    ordering = ("-id",)
    list_per_page = 50
    fields = (
        "profile",
        "purpose",
        "status",
        "method",
        "wording",
        "source",
        "proof",
        "recorded_by",
        "recorded_at",
        "expires_at",
    )
    readonly_fields = fields

    @admin.display(description=_("version"), ordering="wording__version")
    def wording_version(self, obj: ConsentRecord) -> int | None:
        return obj.wording.version if obj.wording else None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        record = path(
            "record/",
            self.admin_site.admin_view(self.record_view),
            name="consent_consentrecord_record",
        )
        return [record, *super().get_urls()]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {"can_record": request.user.has_perm(RECORD_PERMISSION), **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)

    def record_view(self, request: HttpRequest) -> HttpResponse:
        """Record a decision a person gave outside our forms (letter, phone), with a note."""
        if not request.user.has_perm(RECORD_PERMISSION):
            raise PermissionDenied
        form = DecisionForm(request.POST or None, initial={"profile": request.GET.get("profile")})
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                record, created = consent_record(
                    profile_id=data["profile"],
                    purpose=data["purpose"],
                    status=data["status"],
                    method=ConsentRecord.Method.ADMIN,
                    proof={"note": data["note"], "recorded_in": "admin"},
                    actor=request.user,
                )
            except ConsentError as error:
                for field, errors in (error.fields or {None: [str(error)]}).items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                if created:
                    messages.success(
                        request,
                        gettext("Recorded: %(purpose)s %(status)s.")
                        % {"purpose": record.purpose, "status": record.status},
                    )
                else:
                    messages.info(
                        request, gettext("This was already the person's decision: nothing added.")
                    )
                url = reverse("admin:consent_consentrecord_changelist")
                return HttpResponseRedirect(f"{url}?profile={record.profile_id}")
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Record a consent decision"),
            "opts": self.opts,
            "form": form,
        }
        return TemplateResponse(request, "admin/consent/consentrecord/record.html", context)
