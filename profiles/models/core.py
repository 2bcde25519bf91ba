"""Sources, profiles, identities, events and where each field value came from."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import ExtractDay, ExtractMonth
from django.utils.translation import gettext_lazy as _

from profiles.folding import Folded


class Source(models.Model):
    """A channel people's data arrives through; authenticated by a hashed write key."""

    class Kind(models.TextChoices):
        WEB_FORM = "web_form", _("Web form")
        TRADE_SHOW = "trade_show", _("Trade show")
        CRM = "crm", _("CRM")
        MEDIA_CAMPAIGN = "media_campaign", _("Media campaign")
        EMAIL_PLATFORM = "email_platform", _("Email platform")
        API = "api", _("API")
        IMPORT = "import", _("Import")

    name = models.CharField(max_length=120, verbose_name=_("name"))
    slug = models.SlugField(max_length=60, unique=True, verbose_name=_("slug"))
    kind = models.CharField(max_length=20, choices=Kind.choices, verbose_name=_("kind"))
    # Only a short prefix is stored in clear, to find the row; the key itself is an HMAC.
    write_key_prefix = models.CharField(
        max_length=16, unique=True, editable=False, verbose_name=_("write key prefix")
    )
    write_key_hash = models.CharField(
        max_length=64, editable=False, verbose_name=_("write key hash")
    )
    key_rotated_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("key rotated at")
    )
    allowed_origins = models.JSONField(
        default=list,
        blank=True,
        help_text=_('Browser origins allowed to post, e.g. ["https://www.example.org"].'),
        verbose_name=_("allowed origins"),
    )
    default_phone_region = models.CharField(
        max_length=2,
        blank=True,
        help_text=_("ISO country code used for national phone numbers."),
        verbose_name=_("default phone region"),
    )
    trust_rank = models.PositiveSmallIntegerField(
        default=50,
        help_text=_("Higher wins when sources disagree about a field (0-100)."),
        verbose_name=_("trust rank"),
    )
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    # Every save moves it; a form post checks it in its INSERT (collection.services.forms).
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("source")
        verbose_name_plural = _("sources")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(trust_rank__lte=100), name="source_trust_rank_max_100"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Profile(models.Model):
    """One person, unified across channels. A merged profile stays as a tombstone."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        MERGED = "merged", _("Merged")
        ERASED = "erased", _("Erased")
        RESTRICTED = "restricted", _("Restricted")

    class Lifecycle(models.TextChoices):
        ANONYMOUS = "anonymous", _("Anonymous")
        LEAD = "lead", _("Lead")
        PROSPECT = "prospect", _("Prospect")
        CUSTOMER = "customer", _("Customer")
        CHURNED = "churned", _("Churned")

    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.ACTIVE, verbose_name=_("status")
    )
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="absorbed",
        verbose_name=_("merged into"),
    )
    lifecycle_stage = models.CharField(
        max_length=12,
        choices=Lifecycle.choices,
        default=Lifecycle.LEAD,
        verbose_name=_("lifecycle stage"),
    )
    email = models.CharField(max_length=254, blank=True, verbose_name=_("email"))
    phone = models.CharField(max_length=20, blank=True, help_text="E.164", verbose_name=_("phone"))
    first_name = models.CharField(max_length=100, blank=True, verbose_name=_("first name"))
    last_name = models.CharField(max_length=100, blank=True, verbose_name=_("last name"))
    # Kept by the database on every write path, for accent-blind search (profiles.folding).
    first_name_key = models.GeneratedField(
        expression=Folded("first_name"),
        output_field=models.CharField(max_length=100),
        db_persist=True,
        verbose_name=_("first name key"),
    )
    last_name_key = models.GeneratedField(
        expression=Folded("last_name"),
        output_field=models.CharField(max_length=100),
        db_persist=True,
        verbose_name=_("last name key"),
    )
    company = models.CharField(max_length=200, blank=True, verbose_name=_("company"))
    job_title = models.CharField(max_length=200, blank=True, verbose_name=_("job title"))
    job_function = models.CharField(max_length=20, blank=True, verbose_name=_("job function"))
    address_line = models.CharField(max_length=300, blank=True, verbose_name=_("address line"))
    postcode = models.CharField(max_length=20, blank=True, verbose_name=_("postcode"))
    city = models.CharField(max_length=100, blank=True, verbose_name=_("city"))
    country = models.CharField(
        max_length=2, blank=True, help_text=_("ISO 3166-1 alpha-2"), verbose_name=_("country")
    )
    date_of_birth = models.DateField(null=True, blank=True, verbose_name=_("date of birth"))
    language = models.CharField(max_length=16, blank=True, verbose_name=_("language"))
    timezone = models.CharField(max_length=64, blank=True, verbose_name=_("timezone"))
    traits = models.JSONField(default=dict, blank=True, verbose_name=_("traits"))
    first_seen_at = models.DateTimeField(null=True, blank=True, verbose_name=_("first seen at"))
    last_seen_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last seen at"))
    quality_score = models.PositiveSmallIntegerField(
        null=True, blank=True, verbose_name=_("quality score")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("profile")
        verbose_name_plural = _("profiles")
        constraints = [
            models.CheckConstraint(
                condition=Q(status="merged", merged_into__isnull=False)
                | (~Q(status="merged") & Q(merged_into__isnull=True)),
                name="profile_merged_points_at_survivor",
            ),
            models.CheckConstraint(
                condition=Q(email="") | Q(email__contains="@"), name="profile_email_has_at"
            ),
            models.CheckConstraint(
                condition=Q(phone="") | Q(phone__startswith="+"), name="profile_phone_e164"
            ),
        ]
        indexes = [
            models.Index(fields=["email"], name="profile_email_idx"),
            models.Index(fields=["phone"], name="profile_phone_idx"),
            models.Index(fields=["last_name_key", "first_name_key"], name="profile_name_key_idx"),
            models.Index(fields=["first_name_key"], name="profile_first_name_key_idx"),
            # A yearly date journey's tick looks people up by the month and day of birth.
            models.Index(
                ExtractMonth("date_of_birth"),
                ExtractDay("date_of_birth"),
                condition=Q(date_of_birth__isnull=False),
                name="profile_birthday_idx",
            ),
        ]

    def __str__(self) -> str:
        # Ids only: this label shows in foreign keys, raw-id widgets and admin history of
        # every app, where viewers' masking does not reach. Names appear only where it does.
        return f"#{self.pk}"

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email or f"#{self.pk}"


class Identity(models.Model):
    """An identifier that points at exactly one profile: (kind, namespace, value) is unique."""

    class Kind(models.TextChoices):
        USER_ID = "user_id", _("User id")
        EMAIL = "email", _("Email")
        PHONE = "phone", _("Phone")
        EXTERNAL_ID = "external_id", _("External id")
        ANONYMOUS_ID = "anonymous_id", _("Anonymous id")

    # Covered by identity_profile_kind_idx (profile first): a single index would only slow inserts.
    profile = models.ForeignKey(
        Profile,
        on_delete=models.CASCADE,
        related_name="identities",
        db_index=False,
        verbose_name=_("profile"),
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, verbose_name=_("kind"))
    # External ids are scoped by the source that issued them; other kinds use "".
    namespace = models.CharField(max_length=60, blank=True, default="", verbose_name=_("namespace"))
    value = models.CharField(max_length=255, verbose_name=_("value"))
    source = models.ForeignKey(
        Source, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("source")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("identity")
        verbose_name_plural = _("identities")
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "namespace", "value"], name="identity_kind_namespace_value_unique"
            ),
        ]
        indexes = [models.Index(fields=["profile", "kind"], name="identity_profile_kind_idx")]

    def __str__(self) -> str:
        scope = f"{self.namespace}:" if self.namespace else ""
        return f"{self.kind}:{scope}{self.value}"


class Event(models.Model):
    """Append-only timeline entry; a message id is stored once per source."""

    class Type(models.TextChoices):
        IDENTIFY = "identify", _("Identify")
        TRACK = "track", _("Track")
        PAGE = "page", _("Page")
        SCREEN = "screen", _("Screen")
        GROUP = "group", _("Group")
        ALIAS = "alias", _("Alias")
        FORM = "form", _("Form submission")
        IMPORT = "import", _("Import row")

    # Both are covered by the composite indexes below; single ones would only slow inserts.
    profile = models.ForeignKey(
        Profile,
        on_delete=models.CASCADE,
        related_name="events",
        db_index=False,
        verbose_name=_("profile"),
    )
    source = models.ForeignKey(
        Source,
        on_delete=models.PROTECT,
        related_name="events",
        db_index=False,
        verbose_name=_("source"),
    )
    type = models.CharField(max_length=16, choices=Type.choices, verbose_name=_("type"))
    name = models.CharField(max_length=200, blank=True, verbose_name=_("name"))
    properties = models.JSONField(default=dict, blank=True, verbose_name=_("properties"))
    context = models.JSONField(default=dict, blank=True, verbose_name=_("context"))
    # Media-campaign attribution, from context.campaign or the page URL's utm_* parameters.
    utm_source = models.CharField(max_length=100, blank=True, verbose_name=_("utm source"))
    utm_medium = models.CharField(max_length=100, blank=True, verbose_name=_("utm medium"))
    utm_campaign = models.CharField(max_length=200, blank=True, verbose_name=_("utm campaign"))
    utm_term = models.CharField(max_length=200, blank=True, verbose_name=_("utm term"))
    utm_content = models.CharField(max_length=200, blank=True, verbose_name=_("utm content"))
    message_id = models.CharField(max_length=200, verbose_name=_("message id"))
    occurred_at = models.DateTimeField(verbose_name=_("occurred at"))
    received_at = models.DateTimeField(verbose_name=_("received at"))

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        constraints = [
            models.UniqueConstraint(
                fields=["source", "message_id"], name="event_source_message_id_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["profile", "-occurred_at"], name="event_profile_time_idx"),
            models.Index(fields=["type", "name", "occurred_at"], name="event_type_name_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.name}".strip()


class FieldProvenance(models.Model):
    """The latest value each source gave for a profile field, and when."""

    # Covered by the unique constraint below (profile first).
    profile = models.ForeignKey(
        Profile,
        on_delete=models.CASCADE,
        related_name="provenance",
        db_index=False,
        verbose_name=_("profile"),
    )
    field = models.CharField(max_length=64, verbose_name=_("field"))
    source = models.ForeignKey(
        Source, on_delete=models.CASCADE, related_name="+", verbose_name=_("source")
    )
    value = models.TextField(blank=True, verbose_name=_("value"))
    observed_at = models.DateTimeField(verbose_name=_("observed at"))

    class Meta:
        verbose_name = _("field provenance")
        verbose_name_plural = _("field provenance")
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "field", "source"], name="provenance_profile_field_source_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.field} from {self.source_id}"


class ProfileAudit(models.Model):
    """Who changed which fields of a profile, and how (ingestion, admin, merge)."""

    # Covered by audit_profile_time_idx (profile first).
    profile = models.ForeignKey(
        Profile,
        on_delete=models.CASCADE,
        related_name="audit",
        db_index=False,
        verbose_name=_("profile"),
    )
    action = models.CharField(max_length=32, verbose_name=_("action"))
    fields = models.JSONField(
        default=list,
        help_text=_("Names of the fields changed; no values."),
        verbose_name=_("fields"),
    )
    source = models.ForeignKey(
        Source, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("source")
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("actor"),
    )
    at = models.DateTimeField(auto_now_add=True, verbose_name=_("at"))

    class Meta:
        verbose_name = _("profile audit")
        verbose_name_plural = _("profile audits")
        indexes = [models.Index(fields=["profile", "-at"], name="audit_profile_time_idx")]

    def __str__(self) -> str:
        return f"{self.action} #{self.profile_id}"
