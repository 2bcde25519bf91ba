"""Admin of journeys: edit with the definition's errors on the offending step, live actions,
and a page drawing the journey with its live counts, results and a simulation."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campaigns.errors import CampaignError
from campaigns.journeys.definition import definition_parse
from campaigns.journeys.selectors import (
    journey_graph,
    journey_send_stats,
    journey_split_results,
)
from campaigns.journeys.services import (
    journey_activate,
    journey_archive,
    journey_create,
    journey_delete,
    journey_pause,
    journey_resume,
    journey_update,
    journey_version_add,
)
from campaigns.journeys.simulate import journey_simulate
from campaigns.models import Journey
from profiles.models import Profile


def trigger_describe(trigger: dict[str, Any]) -> str:
    """A journey's trigger in a sentence, for the graph page."""
    kind = trigger.get("type")
    if kind == "date":
        if "field" in trigger:
            source = gettext("the profile's %(field)s") % {"field": trigger["field"]}
        elif "trait" in trigger:
            source = gettext("the trait %(trait)s") % {"trait": trigger["trait"]}
        else:
            source = gettext("the latest %(event)s event") % {
                "event": trigger["event"].get("name", "")
            }
        text = gettext(
            "On %(source)s plus %(days)d days, at %(time)s in the person's time zone"
        ) % {
            "source": source,
            "days": trigger.get("days", 0),
            "time": trigger.get("time", ""),
        }
        return text + (gettext(", every year") if trigger.get("yearly") else "")
    if kind == "event":
        return gettext("On the event %(event)s") % {
            "event": trigger.get("event", {}).get("name", "")
        }
    if kind in ("segment_entered", "segment_exited"):
        message = (
            gettext("On entering segment #%(segment)s")
            if kind == "segment_entered"
            else gettext("On leaving segment #%(segment)s")
        )
        return message % {"segment": trigger.get("segment")}
    return gettext("By hand (API or steward) only")


class JourneyForm(forms.ModelForm):
    definition = forms.CharField(
        label=_("Definition"),
        widget=forms.Textarea(attrs={"rows": 24, "cols": 100, "class": "vLargeTextField"}),
        help_text=_("JSON: trigger, start and steps (see the journeys guide)."),
    )

    class Meta:
        model = Journey
        fields = [
            "name",
            "description",
            "purpose",
            "reentry",
            "reentry_days",
            "goal_event",
            "goal_days",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        version = self.instance.version if self.instance.pk else None
        if version is not None:
            self.fields["definition"].initial = json.dumps(version.definition, indent=2)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("goal_event") and not cleaned.get("goal_days"):
            self.add_error("goal_days", _("Give the number of days the goal is counted."))
        if cleaned.get("reentry") == Journey.Reentry.AFTER_DAYS and not cleaned.get("reentry_days"):
            self.add_error("reentry_days", _("Give the number of days (1 or more)."))
        return cleaned

    def clean_definition(self) -> Any:
        try:
            raw = json.loads(self.cleaned_data["definition"])
        except ValueError as error:
            raise forms.ValidationError(_("Not valid JSON: %(error)s") % {"error": error}) from None
        try:
            definition_parse(raw)
        except CampaignError as error:
            raise forms.ValidationError(
                [
                    f"{where}: {problem}"
                    for where, items in (error.fields or {}).items()
                    for problem in items
                ]
            ) from None
        return raw


@admin.register(Journey)
class JourneyAdmin(admin.ModelAdmin):
    form = JourneyForm
    list_display = ["name", "status", "purpose", "version_number", "activated_at"]
    list_filter = ["status"]
    list_select_related = ["purpose", "version"]
    search_fields = ["name"]
    readonly_fields = ["status", "version_number"]
    change_form_template = "admin/campaigns/journey/change_form.html"

    @admin.display(description=_("version"))
    def version_number(self, obj: Journey) -> int | None:
        return obj.version.version if obj.version else None

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.status != Journey.Status.DRAFT:
            return False  # a journey that ran is archived, never deleted
        return super().has_delete_permission(request, obj)

    def delete_model(self, request: HttpRequest, obj: Journey) -> None:
        journey_delete(journey_id=obj.pk)

    def save_model(self, request: HttpRequest, obj: Journey, form: Any, change: bool) -> None:
        definition = form.cleaned_data["definition"]
        meta = {name: getattr(obj, name) for name in JourneyForm.Meta.fields}
        meta["purpose_id"] = meta.pop("purpose").pk
        if not change:
            created = journey_create(definition=definition, actor=request.user, **meta)
            obj.pk = created.pk
            return
        journey_update(journey_id=obj.pk, **meta)
        current = obj.version.definition if obj.version else None
        if definition != current:
            journey_version_add(journey_id=obj.pk, definition=definition, actor=request.user)
            messages.info(request, _("A new version was saved; running enrolments keep theirs."))

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/graph/", view(self.graph_view), name="campaigns_journey_graph"),
            path("<int:pk>/act/", view(self.act_view), name="campaigns_journey_act"),
            *super().get_urls(),
        ]

    def graph_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The journey drawn step by step with live counts, its results, a simulation."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        journey = get_object_or_404(Journey.objects.select_related("version"), pk=pk)
        raw = request.GET.get("profile", "")
        simulated = None
        if raw:
            if not request.user.has_perm("profiles.view_profile"):
                raise PermissionDenied
            profile = Profile.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
            if profile is None:
                messages.error(request, _("No profile with this id."))
            else:
                simulated = journey_simulate(
                    journey=journey, profile=profile, event_comes=bool(request.GET.get("event"))
                )
        graph = journey_graph(journey=journey)
        columns = [
            [
                {
                    "key": key,
                    "step": graph["steps"][key],
                    "counts": graph["counts"].get(key),
                    "edges": [(o, t) for k, o, t in graph["edges"] if k == key],
                }
                for key in column
            ]
            for column in graph["columns"]
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": journey,
            "title": _("Journey %(name)s") % {"name": journey.name},
            "columns": columns,
            "sends": journey_send_stats(journey=journey),
            "splits": journey_split_results(journey=journey),
            "simulated": simulated,
            "profile_raw": raw,
            "trigger": trigger_describe(graph["trigger"]) if graph.get("trigger") else "",
        }
        return TemplateResponse(request, "admin/campaigns/journey/graph.html", context)

    def act_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Activate, pause, resume or archive (POST)."""
        if request.method != "POST" or not self.has_change_permission(request):
            raise PermissionDenied
        journey = get_object_or_404(Journey, pk=pk)
        actions = {
            "activate": journey_activate,
            "pause": journey_pause,
            "resume": journey_resume,
            "archive": journey_archive,
        }
        action = actions.get(request.POST.get("action", ""))
        if action is None:
            messages.error(request, _("Unknown action."))
        else:
            try:
                action(journey_id=journey.pk)
                messages.success(request, _("Done."))
            except CampaignError as error:
                messages.error(request, str(error))
        return HttpResponseRedirect(reverse("admin:campaigns_journey_change", args=[pk]))
