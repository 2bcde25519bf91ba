"""Admin for sources, profiles (the 360° page), identities and events."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from consent.links import preferences_url
from consent.masking import MaskedForViewersAdmin, search_by_id_only
from consent.selectors import consent_history_for_profile
from consent.services import access_log_add, mask_value, may_unmask
from core.widgets import RepeatedTextInput, TextListField
from profiles.admin.merges import merge_selected_profiles
from profiles.admin.quality import OpenIssueFilter
from profiles.fields import EVENT_FIELDS, PERSONAL_FIELDS, PROFILE_SHOWN_FIELDS
from profiles.hooks import profile_panels
from profiles.models import Event, Identity, Profile, ProfileAudit, Source
from profiles.selectors import profile_360, profile_search_condition
from profiles.services import source_cache_clear, source_create, source_rotate_key


class EstimatedCountPaginator(Paginator):
    """The planner's estimate instead of COUNT(*) for an unfiltered million-row table."""

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
            if row and row[0] > 10_000:
                return int(row[0])
        return super().count


class OriginsField(TextListField):
    """Browser origins, one an input: scheme and host (and port), no path."""

    def item_clean(self, item: str) -> str:
        parts = urlsplit(item if "://" in item else f"https://{item}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise forms.ValidationError(
                _("%(origin)s is not an origin such as https://www.example.org") % {"origin": item}
            )
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise forms.ValidationError(
                _("%(origin)s has a path: an origin is only https://host (and a port)")
                % {"origin": item}
            )
        return f"{parts.scheme}://{parts.netloc.lower()}"


class SourceAddForm(forms.ModelForm):
    allowed_origins = OriginsField(
        label=_("Allowed origins"),
        required=False,
        widget=RepeatedTextInput(placeholder="https://www.example.org"),
        help_text=_("The sites whose pages may post to this source (forms, browser SDKs)."),
    )

    class Meta:
        model = Source
        fields = [
            "name",
            "slug",
            "kind",
            "allowed_origins",
            "default_phone_region",
            "trust_rank",
            "is_active",
        ]


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "kind", "trust_rank", "is_active", "write_key_prefix")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("write_key_prefix", "key_rotated_at", "created_at")
    actions = ["rotate_write_keys"]
    form = SourceAddForm

    def save_model(self, request: HttpRequest, obj: Source, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            source_cache_clear(source=obj)
            return
        source, key = source_create(
            name=obj.name,
            kind=obj.kind,
            slug=obj.slug,
            allowed_origins=obj.allowed_origins,
            default_phone_region=obj.default_phone_region,
            trust_rank=obj.trust_rank,
        )
        obj.pk = source.pk
        obj.write_key_prefix = source.write_key_prefix
        messages.warning(
            request,
            gettext("Write key of %(name)s (shown once, store it now): %(key)s")
            % {"name": source.name, "key": key},
        )

    def delete_model(self, request: HttpRequest, obj: Source) -> None:
        source_cache_clear(source=obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        for source in queryset:
            source_cache_clear(source=source)
        super().delete_queryset(request, queryset)

    @admin.action(description=_("Rotate the write key (the old key stops working)"))
    def rotate_write_keys(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        for source in queryset.order_by("pk"):
            key = source_rotate_key(source=source)
            messages.warning(
                request,
                gettext("New write key of %(name)s (shown once): %(key)s")
                % {"name": source.name, "key": key},
            )


class IdentityInline(admin.TabularInline):
    model = Identity
    fields = ("kind", "namespace", "value", "source", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Profile)
class ProfileAdmin(MaskedForViewersAdmin, admin.ModelAdmin):
    """The 360° page: identities, each field's sources, the cross-channel timeline."""

    list_display = (
        "id",
        "name",
        "email",
        "phone",
        "company",
        "lifecycle_stage",
        "status",
        "quality_score",
        "last_seen_at",
    )
    list_filter = ("status", "lifecycle_stage", OpenIssueFilter)
    search_fields = ("email",)  # the real search is index-backed, see get_search_results
    personal_lookups = (*PERSONAL_FIELDS, "value", "traits")
    search_help_text = _(
        "First or last name, with or without accents (“amelie durand”), phone "
        "(“06 12 34 56 78”), or the start of an email address."
    )
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    ordering = ("-id",)
    inlines = [IdentityInline]
    actions = ["merge_selected"]
    change_form_template = "admin/profiles/profile/change_form.html"
    readonly_fields = PROFILE_SHOWN_FIELDS
    fieldsets = (
        (
            _("Person"),
            {
                "fields": (
                    ("first_name", "last_name"),
                    ("email", "phone"),
                    ("company", "job_title", "job_function"),
                )
            },
        ),
        (_("Address"), {"fields": ("address_line", ("postcode", "city", "country"))}),
        (_("More"), {"fields": (("date_of_birth", "language", "timezone"), "traits")}),
        (
            _("Lifecycle"),
            {
                "fields": (
                    ("lifecycle_stage", "status", "merged_into"),
                    ("first_seen_at", "last_seen_at"),
                    ("created_at", "updated_at"),
                    "quality_score",
                )
            },
        ),
    )

    @admin.display(description=_("name"), ordering="last_name")
    def name(self, obj: Profile) -> str:
        return f"{obj.first_name} {obj.last_name}".strip()

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Profile], search_term: str
    ) -> tuple[QuerySet[Profile], bool]:
        if not may_unmask(request.user):
            return search_by_id_only(queryset, search_term)
        if not search_term.strip():
            return queryset, False
        return queryset.filter(profile_search_condition(query=search_term)), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # people arrive through a source: forms, API, imports

    # Viewers see personal data masked (consent's unmask permission), identities hidden.
    @admin.display(description=_("name"))
    def masked_name(self, obj: Profile) -> str:
        return mask_value(self.name(obj))

    @admin.display(description=_("email"))
    def masked_email(self, obj: Profile) -> str:
        return mask_value(obj.email)

    @admin.display(description=_("phone"))
    def masked_phone(self, obj: Profile) -> str:
        return mask_value(obj.phone)

    def get_list_display(self, request: HttpRequest) -> Any:
        if may_unmask(request.user):
            return self.list_display
        masked = {"name": "masked_name", "email": "masked_email", "phone": "masked_phone"}
        return [masked.get(name, name) for name in self.list_display if name != "company"]

    def get_inlines(self, request: HttpRequest, obj: Any) -> Any:
        return self.inlines if may_unmask(request.user) else []

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        profile = super().get_object(request, object_id, from_field)
        if profile is not None and not may_unmask(request.user):
            for name in PERSONAL_FIELDS:
                setattr(profile, name, mask_value(getattr(profile, name)))
        return profile

    def _consent_context(self, request: HttpRequest, profile_id: int) -> dict[str, Any]:
        """Consent per purpose with its ledger; proof and the preference link for unmaskers."""
        unmasked = may_unmask(request.user)
        return {
            "consent360": consent_history_for_profile(profile_id=profile_id),
            "show_proof": unmasked,
            # A bearer link: whoever holds it changes the person's consent.
            "preferences_link": preferences_url(profile_id=profile_id) if unmasked else "",
        }

    @admin.action(description=_("Merge the two selected profiles…"), permissions=["change"])
    def merge_selected(self, request: HttpRequest, queryset: QuerySet[Profile]) -> Any:
        return merge_selected_profiles(self, request, queryset)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        extra = dict(extra_context or {})
        if object_id.isdigit() and Profile.objects.filter(pk=object_id).exists():
            view360 = profile_360(profile_id=int(object_id))
            for row in view360["provenance"]:  # the field's name in the steward's language
                row["label"] = Profile._meta.get_field(row["field"]).verbose_name
            if not may_unmask(request.user):
                for row in view360["provenance"]:
                    row["value"] = mask_value(row["value"])
                    for seen in row["sources"]:
                        seen["value"] = mask_value(seen["value"])
                for issue in view360["issues"]:  # raw values as received, and their fixes
                    issue.value = mask_value(issue.value)
                    issue.suggestion = mask_value(issue.suggestion)
            extra["view360"] = view360
            access_log_add(
                user=request.user, action="view", what="admin:profile", profile_id=int(object_id)
            )
            if view360["issues"]:  # the data-quality panel: values as received, audited too
                access_log_add(
                    user=request.user,
                    action="view",
                    what="admin:profile:quality",
                    profile_id=int(object_id),
                )
            extra["panels360"] = profile_panels(profile_id=int(object_id))
            extra.update(self._consent_context(request, int(object_id)))
            extra["title"] = _person_title(view360["profile"], unmasked=may_unmask(request.user))
            extra["subtitle"] = None  # "#242" stays in the breadcrumbs
        return super().change_view(request, object_id, form_url, extra_context=extra)


def _person_title(profile: Profile, *, unmasked: bool) -> str:
    """The page's title: the person's name, else their email, else "Profile #id"."""
    name = f"{profile.first_name} {profile.last_name}".strip() or profile.email
    if not name:
        return str(_("Profile #%(id)s") % {"id": profile.pk})
    return name if unmasked else mask_value(name)


@admin.register(Identity)
class IdentityAdmin(MaskedForViewersAdmin, admin.ModelAdmin):
    mask_columns = {"profile": "profile_id"}
    mask_fields = ("value",)
    list_display = ("kind", "namespace", "value", "profile", "source", "created_at")
    list_filter = ("kind",)
    search_fields = ("=value",)
    list_select_related = ("profile", "source")
    raw_id_fields = ("profile",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = ("profile", "kind", "namespace", "value", "source", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Event)
class EventAdmin(MaskedForViewersAdmin, admin.ModelAdmin):
    mask_columns = {"profile": "profile_id"}
    mask_fields = ("properties", "context")
    list_display = ("occurred_at", "type", "name", "profile_link", "source", "utm_campaign")
    list_filter = ("type", "source")
    search_fields = ("=message_id", "name")
    list_select_related = ("profile", "source")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    date_hierarchy = None
    ordering = ("-id",)
    readonly_fields = ("profile", "source", *EVENT_FIELDS)

    @admin.display(description=_("profile"))
    def profile_link(self, obj: Event) -> str:
        return format_html(
            '<a href="../profile/{}/change/">#{}</a>', obj.profile_id, obj.profile_id
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the timeline is append-only

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ProfileAudit)
class ProfileAuditAdmin(admin.ModelAdmin):
    list_display = ("at", "profile", "action", "fields", "source", "actor")
    list_filter = ("action",)
    list_select_related = ("profile", "source", "actor")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    raw_id_fields = ("profile",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
