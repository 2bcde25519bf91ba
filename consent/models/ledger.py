"""Purposes, their wordings, and the append-only consent ledger.

The ledger's rows point at profiles by the string "profiles.Profile": consent is the
lowest app and imports nothing from the others. The current consent of a person is
always derived from the ledger (the latest row per profile and purpose), never stored.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

# The same rule the web forms use for the purpose codes they ask for.
PURPOSE_CODE_RE = r"^[a-z0-9][a-z0-9_-]*$"


# Choices live at module level so that the models' Meta constraints can name them.
class LegalBasis(models.TextChoices):
    CONSENT = "consent", "Consent"
    LEGITIMATE_INTEREST = "legitimate_interest", "Legitimate interest"
    CONTRACT = "contract", "Contract"
    LEGAL_OBLIGATION = "legal_obligation", "Legal obligation"


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    PHONE = "phone", "Phone"
    POST = "post", "Post"
    ADS = "ads", "Advertising"
    PROFILING = "profiling", "Profiling"


class ConsentStatus(models.TextChoices):
    GRANTED = "granted", "Granted"
    WITHDRAWN = "withdrawn", "Withdrawn"
    PENDING_CONFIRMATION = "pending_confirmation", "Pending confirmation"


class ConsentMethod(models.TextChoices):
    FORM = "form", "Form"
    API = "api", "API"
    IMPORT = "import", "Import"
    ADMIN = "admin", "Admin"
    UNSUBSCRIBE_LINK = "unsubscribe_link", "Unsubscribe link"
    DOUBLE_OPT_IN = "double_opt_in", "Double opt-in confirmation"
    PREFERENCE_PAGE = "preference_page", "Preference page"


class Purpose(models.Model):
    """Why the organisation processes data: a code forms and the API use, its legal basis."""

    LegalBasis = LegalBasis
    Channel = Channel

    code = models.SlugField(
        max_length=60,
        unique=True,
        validators=[RegexValidator(PURPOSE_CODE_RE, "Lower-case letters, digits, - and _.")],
        help_text="What forms and the API call this purpose, e.g. newsletter.",
    )
    name = models.CharField(max_length=120)
    legal_basis = models.CharField(
        max_length=24, choices=LegalBasis.choices, default=LegalBasis.CONSENT
    )
    channel = models.CharField(max_length=12, choices=Channel.choices)
    requires_double_opt_in = models.BooleanField(
        default=False,
        help_text="A grant from a form or the API counts only once confirmed by email.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(legal_basis__in=LegalBasis.values), name="purpose_legal_basis_valid"
            ),
            models.CheckConstraint(
                condition=Q(channel__in=Channel.values), name="purpose_channel_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PurposeVersion(models.Model):
    """One wording of a purpose, as shown to people; never edited, a new text is a new version."""

    purpose = models.ForeignKey(Purpose, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    text = models.TextField(help_text="The exact text people see next to the checkbox.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "wording"
        ordering = ["purpose", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["purpose", "version"], name="purpose_version_unique_per_purpose"
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="purpose_version_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.purpose.code} v{self.version}"


class ConsentRecord(models.Model):
    """One decision of a person about a purpose, with its proof. Rows are never changed.

    The latest row (highest id) per (profile, purpose) is the current state: decisions
    about one profile are serialised by a lock on the profile row, so ids follow the
    order in which the decisions were taken.
    """

    Status = ConsentStatus
    Method = ConsentMethod

    # The composite indexes below lead with profile and purpose: no single-column ones.
    profile = models.ForeignKey(
        "profiles.Profile",
        on_delete=models.PROTECT,
        related_name="consent_records",
        db_index=False,
    )
    purpose = models.ForeignKey(
        Purpose, on_delete=models.PROTECT, related_name="records", db_index=False
    )
    status = models.CharField(max_length=24, choices=Status.choices)
    source = models.ForeignKey(
        "profiles.Source",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="consent_records",
    )
    method = models.CharField(max_length=20, choices=Method.choices)
    wording = models.ForeignKey(
        PurposeVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="records",
        help_text="The wording the person saw.",
    )
    proof = models.JSONField(
        default=dict, help_text="Form, time, truncated IP, user agent, note: what proves it."
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    recorded_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ConsentStatus.values), name="consent_record_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(method__in=ConsentMethod.values), name="consent_record_method_valid"
            ),
            # A decision taken on a form (or its email confirmation) proves which text was read.
            models.CheckConstraint(
                condition=~Q(method__in=[ConsentMethod.FORM, ConsentMethod.DOUBLE_OPT_IN])
                | Q(wording__isnull=False),
                name="consent_record_form_has_wording",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(expires_at__gt=models.F("recorded_at")),
                name="consent_record_expires_after_recorded",
            ),
        ]
        indexes = [
            # The latest record of one profile, per purpose (state, recording).
            models.Index(fields=["profile", "purpose", "-id"], name="consent_profile_latest_idx"),
            # The latest record of every profile, for one purpose (contactable profiles).
            models.Index(fields=["purpose", "profile", "-id"], name="consent_purpose_latest_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.profile_id} {self.purpose_id} {self.status}"
