"""Admin of the campaigns app: templates (each save a new version), broadcasts, messages.

A broadcast is created as a draft, then confirmed on a page that shows how many members
it will reach and how many consent leaves out; confirming takes the audience snapshot.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Max
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext_lazy as _

from campaigns.errors import CampaignError
from campaigns.models import BlockedAddress, Broadcast, Message, Template, WebhookEndpoint
from campaigns.rendering import LANGUAGES, variants_compile
from campaigns.selectors import broadcast_stats, template_latest_version
from campaigns.services import (
    broadcast_cancel,
    broadcast_create,
    broadcast_estimate,
    broadcast_pause,
    broadcast_resume,
    broadcast_schedule,
    template_create,
    template_version_add,
)
from campaigns.services.preview import template_preview, template_test_send
from consent.services import access_log_add, may_unmask
from profiles.models import Profile

PART_WIDGETS = {
    "subject": forms.TextInput(attrs={"size": 80}),
    "preheader": forms.TextInput(attrs={"size": 80}),
    "mjml": forms.Textarea(attrs={"rows": 16, "cols": 100, "class": "vLargeTextField"}),
    "text": forms.Textarea(attrs={"rows": 6, "cols": 100}),
}


class TemplateForm(forms.ModelForm):
    """The template's name and, per language, the parts of its next version."""

    class Meta:
        model = Template
        fields = ["name", "description", "default_language"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        latest = template_latest_version(template_id=self.instance.pk) if self.instance.pk else None
        current = latest.variants if latest else {}
        for language in LANGUAGES:
            for part in PART_WIDGETS:
                self.fields[f"{part}_{language}"].initial = current.get(language, {}).get(part, "")

    def variants(self) -> dict[str, dict[str, str]]:
        found = {}
        for language in LANGUAGES:
            parts = {part: self.cleaned_data.get(f"{part}_{language}", "") for part in PART_WIDGETS}
            if any(parts.values()):
                found[language] = parts
        return found

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        try:
            variants_compile(self.variants())
        except CampaignError as error:
            for field, problems in (error.fields or {}).items():
                _, language, part = ([*field.split("."), "", ""])[:3]
                name = f"{part}_{language}"
                self.add_error(name if name in self.fields else None, problems)
        return cleaned


# The parts of each language are form fields, declared once for the admin's fieldsets.
for _language in LANGUAGES:
    for _part, _widget in PART_WIDGETS.items():
        TemplateForm.base_fields[f"{_part}_{_language}"] = TemplateForm.declared_fields[
            f"{_part}_{_language}"
        ] = forms.CharField(label=f"{_part.title()} ({_language})", required=False, widget=_widget)


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    form = TemplateForm
    fieldsets = [
        (None, {"fields": ["name", "description", "default_language"]}),
        *[
            (f"{language.upper()}", {"fields": [f"{part}_{language}" for part in PART_WIDGETS]})
            for language in LANGUAGES
        ],
    ]
    list_display = ["name", "default_language", "latest_version", "updated_at"]
    search_fields = ["name"]
    change_form_template = "admin/campaigns/template/change_form.html"

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).annotate(latest=Max("versions__version"))

    @admin.display(description=_("version"), ordering="latest")
    def latest_version(self, obj: Any) -> int | None:
        return getattr(obj, "latest", None)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            Template.objects.filter(pk=obj.pk).update(
                description=obj.description, default_language=obj.default_language
            )
            template_version_add(template_id=obj.pk, variants=form.variants(), actor=request.user)
        else:
            created = template_create(
                name=obj.name,
                description=obj.description,
                default_language=obj.default_language,
                variants=form.variants(),
                actor=request.user,
            )
            obj.pk = created.pk

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/preview/", view(self.preview_view), name="campaigns_template_preview"),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The latest version as a chosen person, at desktop and mobile widths; a test send."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        template = get_object_or_404(Template, pk=pk)
        raw = request.POST.get("profile") or request.GET.get("profile", "")
        if raw and not may_unmask(request.user):
            raise PermissionDenied  # a person's values, rendered: not for viewers
        profile = Profile.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
        shown = None
        if profile is not None:
            access_log_add(
                user=request.user,
                action="view",
                what="admin:campaign-preview",
                profile_id=profile.pk,
            )
            try:
                shown = template_preview(template=template, profile=profile)
            except CampaignError as error:
                messages.error(request, str(error))
        if request.method == "POST" and shown is not None and profile is not None:
            if not request.user.email:
                messages.error(request, _("Your account has no email address."))
            else:
                template_test_send(template=template, profile=profile, to=request.user.email)
                messages.success(request, _("A test copy was sent to your address."))
            return HttpResponseRedirect(f"{request.path}?profile={profile.pk}")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": template,
            "title": _("Preview of %(name)s") % {"name": template.name},
            "profile": profile,
            "shown": shown,
        }
        return TemplateResponse(request, "admin/campaigns/template/preview.html", context)


class BroadcastForm(forms.ModelForm):
    class Meta:
        model = Broadcast
        fields = [
            "name",
            "segment",
            "template",
            "purpose",
            "kind",
            "scheduled_at",
            "throttle_per_minute",
        ]


@admin.register(Broadcast)
class BroadcastAdmin(admin.ModelAdmin):
    form = BroadcastForm
    list_display = [
        "name",
        "segment",
        "template",
        "purpose",
        "status",
        "scheduled_at",
        "audience_size",
    ]
    list_filter = ["status", "kind"]
    list_select_related = ["segment", "template", "purpose"]
    autocomplete_fields = ["segment", "template"]
    search_fields = ["name"]
    change_form_template = "admin/campaigns/broadcast/change_form.html"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["stats"]
        return [*BroadcastForm.Meta.fields, "status", "audience_size", "snapshot_at", "stats"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return BroadcastForm.Meta.fields
        return self.get_readonly_fields(request, obj)

    @admin.display(description=_("figures"))
    def stats(self, obj: Any) -> str:
        if obj is None or obj.pk is None:
            return ""
        figures = broadcast_stats(broadcast=obj).as_dict()
        return ", ".join(f"{k}: {v}" for k, v in figures.items() if v not in (0, {}))

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            return  # a broadcast changes only through its actions
        created = broadcast_create(
            name=obj.name,
            segment_id=obj.segment_id,
            template_id=obj.template_id,
            purpose_id=obj.purpose_id,
            kind=obj.kind,
            scheduled_at=obj.scheduled_at,
            throttle_per_minute=obj.throttle_per_minute,
            actor=request.user,
        )
        obj.pk = created.pk

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> Any:
        return HttpResponseRedirect(reverse("admin:campaigns_broadcast_confirm", args=[obj.pk]))

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/confirm/", view(self.confirm_view), name="campaigns_broadcast_confirm"),
            path("<int:pk>/act/", view(self.act_view), name="campaigns_broadcast_act"),
            *super().get_urls(),
        ]

    def confirm_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """How many will be sent and skipped; confirming schedules (snapshots the audience)."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        broadcast = get_object_or_404(Broadcast, pk=pk)
        if request.method == "POST":
            try:
                broadcast_schedule(broadcast_id=broadcast.pk)
                messages.success(request, _("The broadcast is scheduled."))
            except CampaignError as error:
                messages.error(request, str(error))
            return HttpResponseRedirect(reverse("admin:campaigns_broadcast_change", args=[pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": broadcast,
            "title": _("Confirm %(name)s") % {"name": broadcast.name},
            "estimate": broadcast_estimate(broadcast=broadcast),
        }
        return TemplateResponse(request, "admin/campaigns/broadcast/confirm.html", context)

    def act_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Pause, resume or cancel (POST)."""
        if request.method != "POST" or not self.has_change_permission(request):
            raise PermissionDenied
        broadcast = get_object_or_404(Broadcast, pk=pk)
        actions = {"pause": broadcast_pause, "resume": broadcast_resume, "cancel": broadcast_cancel}
        action = actions.get(request.POST.get("action", ""))
        if action is None:
            messages.error(request, _("Unknown action."))
        else:
            try:
                action(broadcast_id=broadcast.pk)
                messages.success(request, _("Done."))
            except CampaignError as error:
                messages.error(request, str(error))
        return HttpResponseRedirect(reverse("admin:campaigns_broadcast_change", args=[pk]))


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "origin_kind",
        "origin_id",
        "profile",
        "channel",
        "status",
        "skip_reason",
        "sent_at",
    ]
    list_filter = ["status", "skip_reason", "origin_kind", "kind", "channel"]
    list_select_related = ["profile"]
    show_full_result_count = False
    raw_id_fields = ["profile"]
    search_fields = ["=message_id", "=profile__id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(BlockedAddress)
class BlockedAddressAdmin(admin.ModelAdmin):
    list_display = ["channel", "digest", "reason", "detail", "created_at"]
    list_filter = ["channel", "reason"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Endpoints the outbox may call; the secret stays in the environment."""

    list_display = ["name", "url", "secret_env", "timeout_seconds", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name"]


from campaigns.journeys import admin as _journeys_admin  # noqa: E402, F401  (registers Journey)
