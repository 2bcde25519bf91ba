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
from django.utils.translation import gettext_lazy as _

# The same rule the web forms use for the purpose codes they ask for.
PURPOSE_CODE_RE = r"^[a-z0-9][a-z0-9_-]*$"


# Choices live at module level so that the models' Meta constraints can name them.
class LegalBasis(models.TextChoices):
    CONSENT = "consent", _("Consent")
    LEGITIMATE_INTEREST = "legitimate_interest", _("Legitimate interest")
    CONTRACT = "contract", _("Contract")
    LEGAL_OBLIGATION = "legal_obligation", _("Legal obligation")


class Channel(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    PHONE = "phone", _("Phone")
    POST = "post", _("Post")
    ADS = "ads", _("Advertising")
    PROFILING = "profiling", _("Profiling")


class ConsentStatus(models.TextChoices):
    GRANTED = "granted", _("Granted")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    PENDING_CONFIRMATION = "pending_confirmation", _("Pending confirmation")


class ConsentMethod(models.TextChoices):
    FORM = "form", _("Form")
    API = "api", _("API")
    IMPORT = "import", _("Import")
    ADMIN = "admin", _("Admin")
    UNSUBSCRIBE_LINK = "unsubscribe_link", _("Unsubscribe link")
    DOUBLE_OPT_IN = "double_opt_in", _("Double opt-in confirmation")
    PREFERENCE_PAGE = "preference_page", _("Preference page")


class Purpose(models.Model):
    """Why the organisation processes data: a code forms and the API use, its legal basis."""

    LegalBasis = LegalBasis
    Channel = Channel

    code = models.SlugField(
        max_length=60,
        unique=True,
        validators=[RegexValidator(PURPOSE_CODE_RE, "Lower-case letters, digits, - and _.")],
        help_text=_("What forms and the API call this purpose, e.g. newsletter."),
        verbose_name=_("code"),
    )
    name = models.CharField(max_length=120, verbose_name=_("name"))
    legal_basis = models.CharField(
        max_length=24,
        choices=LegalBasis.choices,
        default=LegalBasis.CONSENT,
        verbose_name=_("legal basis"),
    )
    channel = models.CharField(max_length=12, choices=Channel.choices, verbose_name=_("channel"))
    requires_double_opt_in = models.BooleanField(
        default=False,
        help_text=_("A grant from a form or the API counts only once confirmed by email."),
        verbose_name=_("requires double opt in"),
    )
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("purpose")
        verbose_name_plural = _("purposes")
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

    purpose = models.ForeignKey(
        Purpose, on_delete=models.CASCADE, related_name="versions", verbose_name=_("purpose")
    )
    version = models.PositiveIntegerField(verbose_name=_("version"))
    text = models.TextField(
        help_text=_("The exact text people see next to the checkbox."), verbose_name=_("text")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name_plural = _("wordings")
        verbose_name = _("wording")
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
        verbose_name=_("profile"),
    )
    purpose = models.ForeignKey(
        Purpose,
        on_delete=models.PROTECT,
        related_name="records",
        db_index=False,
        verbose_name=_("purpose"),
    )
    status = models.CharField(max_length=24, choices=Status.choices, verbose_name=_("status"))
    source = models.ForeignKey(
        "profiles.Source",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="consent_records",
        verbose_name=_("source"),
    )
    method = models.CharField(max_length=20, choices=Method.choices, verbose_name=_("method"))
    wording = models.ForeignKey(
        PurposeVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="records",
        help_text=_("The wording the person saw."),
        verbose_name=_("wording"),
    )
    proof = models.JSONField(
        default=dict,
        help_text=_("Form, time, truncated IP, user agent, note: what proves it."),
        verbose_name=_("proof"),
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    recorded_at = models.DateTimeField(verbose_name=_("recorded at"))
    expires_at = models.DateTimeField(null=True, blank=True, verbose_name=_("expires at"))

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
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
