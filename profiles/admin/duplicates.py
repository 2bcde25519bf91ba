"""Admin for probable duplicates: the review queue, the side-by-side compare, the settings."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from consent.services import access_log_add
from profiles.admin.merges import merge_plan_context
from profiles.admin.reasons import pair_reasons
from profiles.errors import ProfilesError
from profiles.models import DuplicateCandidate, DuplicateScan, DuplicateSettings, Profile
from profiles.services.duplicates import (
    MERGE,
    NOT_SAME_PERSON,
    duplicate_decide,
    duplicate_settings_get,
    duplicate_settings_update,
)

COMPARED_FIELDS = (
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("email", "Email"),
    ("phone", "Phone"),
    ("company", "Company"),
    ("address_line", "Address"),
    ("postcode", "Postcode"),
    ("city", "City"),
    ("date_of_birth", _("Date of birth")),
)
SHOWN_FIELDS = (
    ("country", "Country"),
    ("lifecycle_stage", "Lifecycle stage"),
    ("status", "Status"),
    ("first_seen_at", "First seen"),
    ("last_seen_at", "Last seen"),
)


class StatusFilter(admin.SimpleListFilter):
    """The queue opens on the pairs waiting for a decision."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [*DuplicateCandidate.Status.choices, ("all", "All")]

    def choices(self, changelist: Any) -> Any:
        current = self.value() or DuplicateCandidate.Status.OPEN
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[DuplicateCandidate]
    ) -> QuerySet[DuplicateCandidate]:
        value = self.value() or DuplicateCandidate.Status.OPEN
        return queryset if value == "all" else queryset.filter(status=value)


def _name(profile: Profile) -> str:
    return profile.display_name


@admin.register(DuplicateCandidate)
class DuplicateCandidateAdmin(admin.ModelAdmin):
    """The steward queue: the likeliest pairs first; a pair opens side by side."""

    list_display = (
        "pair",
        "left",
        "right",
        "score_shown",
        "why",
        "status",
        "found_at",
        "decided_by",
    )
    list_filter = (StatusFilter,)
    list_select_related = ("profile_low", "profile_high", "decided_by")
    ordering = ("-score", "id")
    show_full_result_count = False
    list_per_page = 50
    actions = ["mark_not_same_person"]

    @admin.display(description=_("pair"))
    def pair(self, obj: DuplicateCandidate) -> str:
        url = reverse("admin:profiles_duplicatecandidate_change", args=[obj.pk])
        return format_html(
            '<a href="{}">Compare #{} / #{}</a>', url, obj.profile_low_id, obj.profile_high_id
        )

    @admin.display(description=_("profile"))
    def left(self, obj: DuplicateCandidate) -> str:
        return _name(obj.profile_low)

    @admin.display(description=_("probable duplicate"))
    def right(self, obj: DuplicateCandidate) -> str:
        return _name(obj.profile_high)

    @admin.display(description=_("score"), ordering="score")
    def score_shown(self, obj: DuplicateCandidate) -> str:
        return f"{obj.score:.3f}"

    @admin.display(description=_("why"))
    def why(self, obj: DuplicateCandidate) -> str:
        return pair_reasons(obj.features)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[DuplicateCandidate]:
        # An open pair whose profile was merged or erased since waits for no one.
        return (
            super()
            .get_queryset(request)
            .filter(
                ~Q(status=DuplicateCandidate.Status.OPEN)
                | Q(
                    profile_low__status=Profile.Status.ACTIVE,
                    profile_high__status=Profile.Status.ACTIVE,
                )
            )
        )

    @admin.action(description=_("Not the same person (remembered)"), permissions=["change"])
    def mark_not_same_person(
        self, request: HttpRequest, queryset: QuerySet[DuplicateCandidate]
    ) -> None:
        done = 0
        for candidate in queryset.filter(status=DuplicateCandidate.Status.OPEN):
            duplicate_decide(
                candidate_id=candidate.pk, decision=NOT_SAME_PERSON, actor=request.user
            )
            done += 1
        self.message_user(
            request, gettext("%(done)s pair(s) marked as two different people.") % {"done": done}
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """Side by side: each field of both profiles, its similarity, and the decisions."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied  # before the look-up: a refusal says nothing of the row
        candidate = get_object_or_404(
            DuplicateCandidate.objects.select_related("profile_low", "profile_high"),
            pk=object_id,
        )
        if not self.has_view_or_change_permission(request, candidate):
            raise PermissionDenied
        if request.method == "POST":
            return self._decide(request, candidate)
        return self._compare(request, candidate, extra_context or {})

    def _compare(
        self, request: HttpRequest, candidate: DuplicateCandidate, extra: dict[str, Any]
    ) -> HttpResponse:
        left, right = candidate.profile_low, candidate.profile_high
        for profile_id in (left.pk, right.pk):  # both people's values, side by side: audited
            access_log_add(
                user=request.user, action="view", what="admin:duplicate", profile_id=profile_id
            )
        rows = []
        for name, label in COMPARED_FIELDS:
            a, b = getattr(left, name), getattr(right, name)
            rows.append(
                {
                    "label": label,
                    "left": a or "",
                    "right": b or "",
                    "same": (a or "") == (b or ""),
                    "similarity": candidate.features.get(name),
                }
            )
        shown = [
            {"label": label, "left": getattr(left, name), "right": getattr(right, name)}
            for name, label in SHOWN_FIELDS
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Probable duplicate: #%(pk)s and #%(pk2)s")
            % {"pk": left.pk, "pk2": right.pk},
            "opts": self.model._meta,
            "candidate": candidate,
            "left": left,
            "right": right,
            "rows": rows,
            "shown": shown,
            "can_decide": self.has_change_permission(request, candidate)
            and candidate.status == DuplicateCandidate.Status.OPEN,
            "left_url": reverse("admin:profiles_profile_change", args=[left.pk]),
            "right_url": reverse("admin:profiles_profile_change", args=[right.pk]),
            **extra,
        }
        return TemplateResponse(request, "admin/profiles/duplicatecandidate/compare.html", context)

    def _decide(self, request: HttpRequest, candidate: DuplicateCandidate) -> HttpResponse:
        if not self.has_change_permission(request, candidate):
            raise PermissionDenied
        decision = request.POST.get("decision", "")
        survivor = request.POST.get("survivor", "")
        pair = (candidate.profile_low_id, candidate.profile_high_id)
        chosen = int(survivor) if survivor.isdigit() else pair[0]
        confirmed = "confirm" in request.POST or candidate.status != DuplicateCandidate.Status.OPEN
        if decision.startswith("merge") and not confirmed and chosen in pair:
            # First what each field will keep, computed as the merge will; then the merge.
            other = pair[1] if chosen == pair[0] else pair[0]
            try:
                plan = merge_plan_context(survivor_id=chosen, absorbed_id=other)
            except ProfilesError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return HttpResponseRedirect(request.path)
            return self._compare(request, candidate, plan)
        try:
            duplicate_decide(
                candidate_id=candidate.pk,
                decision=MERGE if decision.startswith("merge") else decision,
                actor=request.user,
                survivor_id=int(survivor) if survivor.isdigit() else None,
            )
        except ProfilesError as exc:
            details = "; ".join(
                f"{field}: {', '.join(map(str, texts))}"
                for field, texts in (exc.fields or {}).items()
            )
            self.message_user(request, f"{exc} {details}".strip(), messages.ERROR)
            return HttpResponseRedirect(request.path)
        if decision.startswith("merge"):
            self.message_user(
                request, gettext("Merged. The absorbed profile stays as a tombstone.")
            )
        else:
            self.message_user(request, gettext("Remembered: this pair will not be proposed again."))
        return HttpResponseRedirect(reverse("admin:profiles_duplicatecandidate_changelist"))


class DuplicateSettingsForm(forms.ModelForm):
    class Meta:
        model = DuplicateSettings
        fields = [
            "review_threshold",
            "auto_merge_threshold",
            "auto_merge_enabled",
            "max_block_size",
        ]


@admin.register(DuplicateSettings)
class DuplicateSettingsAdmin(admin.ModelAdmin):
    """One row: the thresholds and whether pairs above the auto-merge one merge by themselves."""

    form = DuplicateSettingsForm
    list_display = ("__str__", "review_threshold", "auto_merge_threshold", "auto_merge_enabled")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> DuplicateSettings | None:
        if object_id != str(DuplicateSettings.SINGLETON):
            return None
        return duplicate_settings_get()

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        settings = duplicate_settings_get()
        return HttpResponseRedirect(
            reverse("admin:profiles_duplicatesettings_change", args=[settings.pk])
        )

    def save_model(
        self, request: HttpRequest, obj: DuplicateSettings, form: Any, change: bool
    ) -> None:
        duplicate_settings_update(
            review_threshold=obj.review_threshold,
            auto_merge_threshold=obj.auto_merge_threshold,
            auto_merge_enabled=obj.auto_merge_enabled,
            max_block_size=obj.max_block_size,
        )


@admin.register(DuplicateScan)
class DuplicateScanAdmin(admin.ModelAdmin):
    """Scans and their progress (read only)."""

    list_display = (
        "__str__",
        "status",
        "progress",
        "profiles_scanned",
        "pairs_compared",
        "candidates_found",
        "auto_merged",
        "started_at",
        "finished_at",
    )
    list_filter = ("kind", "status")

    @admin.display(description=_("progress"))
    def progress(self, obj: DuplicateScan) -> str:
        percent = obj.progress_percent
        return "" if percent is None else f"{percent} %"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
