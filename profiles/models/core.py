"""Sources, profiles, identities, events and where each field value came from."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from profiles.folding import Folded


class Source(models.Model):
    """A channel people's data arrives through; authenticated by a hashed write key."""

    class Kind(models.TextChoices):
        WEB_FORM = "web_form", "Web form"
        TRADE_SHOW = "trade_show", "Trade show"
        CRM = "crm", "CRM"
        MEDIA_CAMPAIGN = "media_campaign", "Media campaign"
        EMAIL_PLATFORM = "email_platform", "Email platform"
        API = "api", "API"
        IMPORT = "import", "Import"

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # Only a short prefix is stored in clear, to find the row; the key itself is an HMAC.
    write_key_prefix = models.CharField(max_length=16, unique=True, editable=False)
    write_key_hash = models.CharField(max_length=64, editable=False)
    key_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    allowed_origins = models.JSONField(
        default=list,
        blank=True,
        help_text='Browser origins allowed to post, e.g. ["https://www.example.org"].',
    )
    default_phone_region = models.CharField(
        max_length=2, blank=True, help_text="ISO country code used for national phone numbers."
    )
    trust_rank = models.PositiveSmallIntegerField(
        default=50, help_text="Higher wins when sources disagree about a field (0-100)."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Every save moves it; a form post checks it in its INSERT (collection.services.forms).
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
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
        ACTIVE = "active", "Active"
        MERGED = "merged", "Merged"
        ERASED = "erased", "Erased"
        RESTRICTED = "restricted", "Restricted"

    class Lifecycle(models.TextChoices):
        ANONYMOUS = "anonymous", "Anonymous"
        LEAD = "lead", "Lead"
        PROSPECT = "prospect", "Prospect"
        CUSTOMER = "customer", "Customer"
        CHURNED = "churned", "Churned"

    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="absorbed"
    )
    lifecycle_stage = models.CharField(
        max_length=12, choices=Lifecycle.choices, default=Lifecycle.LEAD
    )
    email = models.CharField(max_length=254, blank=True)
    phone = models.CharField(max_length=20, blank=True, help_text="E.164")
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    # Kept by the database on every write path, for accent-blind search (profiles.folding).
    first_name_key = models.GeneratedField(
        expression=Folded("first_name"),
        output_field=models.CharField(max_length=100),
        db_persist=True,
    )
    last_name_key = models.GeneratedField(
        expression=Folded("last_name"),
        output_field=models.CharField(max_length=100),
        db_persist=True,
    )
    company = models.CharField(max_length=200, blank=True)
    job_title = models.CharField(max_length=200, blank=True)
    job_function = models.CharField(max_length=20, blank=True)
    address_line = models.CharField(max_length=300, blank=True)
    postcode = models.CharField(max_length=20, blank=True)
    city = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    date_of_birth = models.DateField(null=True, blank=True)
    language = models.CharField(max_length=16, blank=True)
    timezone = models.CharField(max_length=64, blank=True)
    traits = models.JSONField(default=dict, blank=True)
    first_seen_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    quality_score = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
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
        USER_ID = "user_id", "User id"
        EMAIL = "email", "Email"
        PHONE = "phone", "Phone"
        EXTERNAL_ID = "external_id", "External id"
        ANONYMOUS_ID = "anonymous_id", "Anonymous id"

    # Covered by identity_profile_kind_idx (profile first): a single index would only slow inserts.
    profile = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="identities", db_index=False
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # External ids are scoped by the source that issued them; other kinds use "".
    namespace = models.CharField(max_length=60, blank=True, default="")
    value = models.CharField(max_length=255)
    source = models.ForeignKey(Source, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "identities"
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
        IDENTIFY = "identify", "Identify"
        TRACK = "track", "Track"
        PAGE = "page", "Page"
        SCREEN = "screen", "Screen"
        GROUP = "group", "Group"
        ALIAS = "alias", "Alias"
        FORM = "form", "Form submission"
        IMPORT = "import", "Import row"

    # Both are covered by the composite indexes below; single ones would only slow inserts.
    profile = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    source = models.ForeignKey(
        Source, on_delete=models.PROTECT, related_name="events", db_index=False
    )
    type = models.CharField(max_length=16, choices=Type.choices)
    name = models.CharField(max_length=200, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    context = models.JSONField(default=dict, blank=True)
    # Media-campaign attribution, from context.campaign or the page URL's utm_* parameters.
    utm_source = models.CharField(max_length=100, blank=True)
    utm_medium = models.CharField(max_length=100, blank=True)
    utm_campaign = models.CharField(max_length=200, blank=True)
    utm_term = models.CharField(max_length=200, blank=True)
    utm_content = models.CharField(max_length=200, blank=True)
    message_id = models.CharField(max_length=200)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()

    class Meta:
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
        Profile, on_delete=models.CASCADE, related_name="provenance", db_index=False
    )
    field = models.CharField(max_length=64)
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="+")
    value = models.TextField(blank=True)
    observed_at = models.DateTimeField()

    class Meta:
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
        Profile, on_delete=models.CASCADE, related_name="audit", db_index=False
    )
    action = models.CharField(max_length=32)
    fields = models.JSONField(default=list, help_text="Names of the fields changed; no values.")
    source = models.ForeignKey(Source, null=True, blank=True, on_delete=models.SET_NULL)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["profile", "-at"], name="audit_profile_time_idx")]

    def __str__(self) -> str:
        return f"{self.action} #{self.profile_id}"
