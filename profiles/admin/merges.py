"""Admin of merges (merge two profiles, the merge log with undo) and of the identity rules."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from profiles.admin.reasons import pair_reasons
from profiles.errors import ProfilesError
from profiles.models import (
    BlockedIdentifier,
    IdentityConflict,
    IdentityRule,
    Profile,
    ProfileMerge,
)
from profiles.services import profile_merge, profile_merge_undo
from profiles.services.conflicts import identity_conflict_dismiss, identity_conflict_merge
from profiles.services.duplicates import identity_conflicts_score
from profiles.services.identity_rules import identity_rules_invalidate
from profiles.services.merge import merge_preview

# The fields shown side by side before a merge.
_COMPARED = ("first_name", "last_name", "email", "phone", "company", "city", "country")


class MergeChoiceForm(forms.Form):
    survivor = forms.TypedChoiceField(coerce=int, widget=forms.RadioSelect, label=_("Keep"))
    reason = forms.CharField(max_length=500, required=False, label=_("Reason"))

    def __init__(self, *args: Any, profiles: list[Profile], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["survivor"].choices = [(p.pk, str(p)) for p in profiles]


def merge_plan_context(*, survivor_id: int, absorbed_id: int) -> dict[str, Any]:
    """The confirmation table: each field, both values, the one the merge keeps and why.

    Computed by `merge_preview`, the function the merge itself applies.
    """
    plan = merge_preview(survivor_id=survivor_id, absorbed_id=absorbed_id)
    rows = [
        {
            "label": capfirst(str(Profile._meta.get_field(row.field).verbose_name)),
            "kept": row.kept,
            "other": row.other,
            "result": row.result,
            "winner": row.winner,
            "why": row.why,
        }
        for row in plan.fields
    ]
    return {"plan_rows": rows, "kept_id": survivor_id, "other_id": absorbed_id}


def merge_selected_profiles(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Profile]
) -> HttpResponse | None:
    """Two selected profiles: choose the survivor, confirm each field's outcome, then merge."""
    profiles = list(queryset.order_by("pk")[:3])
    if len(profiles) != 2:
        modeladmin.message_user(
            request, gettext("Select exactly two profiles to merge."), messages.ERROR
        )
        return None
    chosen = "confirm" in request.POST or "preview" in request.POST
    form = MergeChoiceForm(request.POST if chosen else None, profiles=profiles)
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.model._meta,
        "profiles": profiles,
        "form": form,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    if form.is_valid():
        survivor = form.cleaned_data["survivor"]
        absorbed = next(p.pk for p in profiles if p.pk != survivor)
        try:
            if "confirm" not in request.POST:
                context.update(merge_plan_context(survivor_id=survivor, absorbed_id=absorbed))
                context["title"] = gettext("Merge #%(other)s into #%(kept)s?") % {
                    "other": absorbed,
                    "kept": survivor,
                }
                return TemplateResponse(
                    request, "admin/profiles/profile/merge_preview.html", context
                )
            merge = profile_merge(
                survivor_id=survivor,
                absorbed_id=absorbed,
                actor=request.user,
                reason=form.cleaned_data["reason"],
            )
        except ProfilesError as exc:
            modeladmin.message_user(
                request, gettext("Not merged: %(error)s") % {"error": exc}, messages.ERROR
            )
            return None
        url = reverse("admin:profiles_profilemerge_change", args=[merge.pk])
        modeladmin.message_user(
            request,
            format_html(
                gettext('Merged #{} into #{} (<a href="{}">merge log</a>).'),
                absorbed,
                survivor,
                url,
            ),
            messages.SUCCESS,
        )
        return None
    context.update(
        {
            "title": gettext("Merge two profiles"),
            "rows": [(name, [getattr(p, name) for p in profiles]) for name in _COMPARED],
            "counts": [
                {"identities": p.identities.count(), "events": p.events.count()} for p in profiles
            ],
        }
    )
    return TemplateResponse(request, "admin/profiles/profile/merge_confirm.html", context)


@admin.register(ProfileMerge)
class ProfileMergeAdmin(admin.ModelAdmin):
    """The merge log: read-only; undo from the list (action) or the merge's page (button)."""

    list_display = (
        "id",
        "absorbed",
        "survivor",
        "who",
        "reason",
        "score",
        "merged_at",
        "undone_at",
    )
    list_filter = ("undone_at", "rule")
    list_select_related = ("actor",)
    search_fields = ("=survivor__id", "=absorbed__id", "rule", "reason")
    show_full_result_count = False
    actions = ["undo_selected"]
    change_form_template = "admin/profiles/profilemerge/change_form.html"
    readonly_fields = (
        "survivor",
        "absorbed",
        "actor",
        "rule",
        "reason",
        "score",
        "merged_at",
        "undone_at",
        "undone_by",
        "snapshot",
    )

    @admin.display(description=_("by"))
    def who(self, obj: ProfileMerge) -> str:
        return obj.actor.get_username() if obj.actor else (obj.rule or "")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_undo_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("profiles.add_profilemerge")

    def get_urls(self) -> list[URLPattern]:
        undo = path(
            "<int:merge_id>/undo/",
            self.admin_site.admin_view(self.undo_view),
            name="profiles_profilemerge_undo",
        )
        return [undo, *super().get_urls()]

    def undo_view(self, request: HttpRequest, merge_id: int) -> HttpResponse:
        if not self.has_undo_permission(request):
            raise PermissionDenied
        merge = get_object_or_404(ProfileMerge, pk=merge_id)
        url = reverse("admin:profiles_profilemerge_change", args=[merge.pk])
        if request.method != "POST":
            return HttpResponseRedirect(url)
        self._undo(request, merge.pk)
        return HttpResponseRedirect(url)

    def _undo(self, request: HttpRequest, merge_id: int) -> None:
        try:
            profile_merge_undo(merge_id=merge_id, actor=request.user)
        except ProfilesError as exc:
            self.message_user(
                request,
                gettext("Merge #%(merge_id)s not undone: %(exc)s")
                % {"merge_id": merge_id, "exc": exc},
                messages.ERROR,
            )
        else:
            self.message_user(
                request,
                gettext("Merge #%(merge_id)s undone.") % {"merge_id": merge_id},
                messages.SUCCESS,
            )

    @admin.action(description=_("Undo the selected merges"), permissions=["undo"])
    def undo_selected(self, request: HttpRequest, queryset: QuerySet[ProfileMerge]) -> None:
        # Newest first: a later merge of a survivor must be undone before the earlier one.
        for merge_id in queryset.order_by("-id").values_list("pk", flat=True):
            self._undo(request, merge_id)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        extra = dict(extra_context or {})
        extra["can_undo"] = self.has_undo_permission(request)
        return super().change_view(request, object_id, form_url, extra_context=extra)


def _invalidate_after_commit() -> None:
    transaction.on_commit(identity_rules_invalidate)


@admin.register(IdentityRule)
class IdentityRuleAdmin(admin.ModelAdmin):
    """Per kind: matching priority, maximum per profile, shared-value limit."""

    list_display = ("kind", "priority", "max_per_profile", "shared_limit")
    list_editable = ("priority", "max_per_profile", "shared_limit")

    def save_model(self, request: HttpRequest, obj: IdentityRule, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        _invalidate_after_commit()

    def delete_model(self, request: HttpRequest, obj: IdentityRule) -> None:
        super().delete_model(request, obj)
        _invalidate_after_commit()


class BlockedIdentifierForm(forms.ModelForm):
    class Meta:
        model = BlockedIdentifier
        fields = ["kind", "pattern", "value_hash", "reason", "note", "is_active"]

    def clean_pattern(self) -> str:
        pattern = self.cleaned_data["pattern"]
        try:
            re.compile(pattern)
        except re.error as exc:
            raise forms.ValidationError(
                gettext("Not a valid regular expression: %(exc)s") % {"exc": exc}
            ) from exc
        return pattern

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("pattern")) == bool(data.get("value_hash")):
            raise forms.ValidationError(gettext("Give either a pattern or a value hash, not both."))
        return data


@admin.register(BlockedIdentifier)
class BlockedIdentifierAdmin(admin.ModelAdmin):
    """Values that never match: generic mailboxes, test numbers, values shared by many."""

    form = BlockedIdentifierForm
    list_display = ("kind", "pattern", "short_hash", "reason", "note", "is_active")
    list_filter = ("kind", "reason", "is_active")

    @admin.display(description=_("value hash"))
    def short_hash(self, obj: BlockedIdentifier) -> str:
        return obj.value_hash[:12]

    def save_model(
        self, request: HttpRequest, obj: BlockedIdentifier, form: Any, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        _invalidate_after_commit()

    def delete_model(self, request: HttpRequest, obj: BlockedIdentifier) -> None:
        super().delete_model(request, obj)
        _invalidate_after_commit()


@admin.register(IdentityConflict)
class IdentityConflictAdmin(admin.ModelAdmin):
    """The steward queue: identifiers that would have fused two profiles, likeliest first."""

    list_display = (
        "id",
        "kind",
        "value_masked",
        "profile",
        "other_profile",
        "score_shown",
        "why",
        "reason",
        "status",
        "created_at",
    )
    list_filter = ("status", "kind", "reason")
    list_select_related = ("profile", "other_profile")
    ordering = (F("score").desc(nulls_last=True), "-id")
    show_full_result_count = False
    actions = ["merge_them", "dismiss"]
    readonly_fields = (
        "profile",
        "other_profile",
        "kind",
        "value_hash",
        "value_masked",
        "reason",
        "status",
        "created_at",
        "resolved_at",
        "resolved_by",
        "merge",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description=_("score"), ordering="score")
    def score_shown(self, obj: IdentityConflict) -> str:
        return "" if obj.score is None else f"{obj.score:.3f}"

    @admin.display(description=_("why"))
    def why(self, obj: IdentityConflict) -> str:
        return pair_reasons(obj.features or {})

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # Conflicts queued since the last scan get their score before the steward ranks them.
        if self.has_view_or_change_permission(request):
            identity_conflicts_score()
        return super().changelist_view(request, extra_context)

    @admin.action(description=_("Merge them (the identifier's owner survives)…"))
    def merge_them(
        self, request: HttpRequest, queryset: QuerySet[IdentityConflict]
    ) -> HttpResponse | None:
        if (
            "confirm" not in request.POST
            and queryset.filter(status=IdentityConflict.Status.OPEN).exists()
        ):
            return self._confirm_merges(request, queryset)
        for conflict_id in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                merge = identity_conflict_merge(conflict_id=conflict_id, actor=request.user)
            except ProfilesError as exc:
                self.message_user(
                    request,
                    gettext("Conflict #%(conflict_id)s: %(exc)s")
                    % {"conflict_id": conflict_id, "exc": exc},
                    messages.ERROR,
                )
            else:
                self.message_user(
                    request,
                    gettext("Conflict #%(conflict_id)s: merged (%(merge)s).")
                    % {"conflict_id": conflict_id, "merge": merge},
                    messages.SUCCESS,
                )

    def _confirm_merges(
        self, request: HttpRequest, queryset: QuerySet[IdentityConflict]
    ) -> HttpResponse | None:
        """Each open conflict's merge, field by field, before anything is merged."""
        merges = []
        for conflict in queryset.filter(status=IdentityConflict.Status.OPEN).order_by("pk"):
            try:
                plan = merge_plan_context(
                    survivor_id=conflict.other_profile_id, absorbed_id=conflict.profile_id
                )
            except ProfilesError as exc:
                self.message_user(
                    request,
                    gettext("Conflict #%(pk)s: %(exc)s") % {"pk": conflict.pk, "exc": exc},
                    messages.ERROR,
                )
                continue
            merges.append({"conflict": conflict, **plan})
        if not merges:
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Merge the profiles of these identity conflicts?"),
            "merges": merges,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(
            request, "admin/profiles/identityconflict/merge_confirm.html", context
        )

    @admin.action(description=_("Dismiss (different people)"))
    def dismiss(self, request: HttpRequest, queryset: QuerySet[IdentityConflict]) -> None:
        count = identity_conflict_dismiss(
            conflict_ids=list(queryset.values_list("pk", flat=True)), actor=request.user
        )
        self.message_user(
            request,
            gettext("%(count)s conflict(s) dismissed.") % {"count": count},
            messages.SUCCESS,
        )
