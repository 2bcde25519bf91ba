"""Data quality: issues found on profiles, and the rules stewards edit (jobs, weights, winners)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from profiles.normalise_data import JOB_FUNCTIONS


class DataQualityIssue(models.Model):
    """A value a source gave that is invalid or suspicious, kept here instead of the profile.

    `value` is the raw value as received (personal data: exported and erased with the
    profile); `message` never repeats it. One row per profile, field, code and source: a
    source repeating the same mistake refreshes the row.
    """

    class Code(models.TextChoices):
        INVALID_EMAIL = "invalid_email", _("Invalid email")
        EMAIL_DOMAIN_TYPO = "email_domain_typo", _("Email domain looks mistyped")
        INVALID_PHONE = "invalid_phone", _("Invalid phone")
        INVALID_COUNTRY = "invalid_country", _("Unknown country")
        INVALID_POSTCODE = "invalid_postcode", _("Invalid postcode")
        INVALID_DATE = "invalid_date", _("Invalid date")
        STALE = "stale", _("Not seen for a long time")

    class Severity(models.TextChoices):
        ERROR = "error", _("Error (value kept out of the profile)")
        WARNING = "warning", _("Warning (value kept, check it)")
        INFO = "info", _("Info")

    # Covered by the unique constraint below (profile first).
    profile = models.ForeignKey(
        "profiles.Profile",
        on_delete=models.CASCADE,
        related_name="quality_issues",
        db_index=False,
        verbose_name=_("profile"),
    )
    field = models.CharField(max_length=64, verbose_name=_("field"))
    code = models.CharField(max_length=32, choices=Code.choices, verbose_name=_("code"))
    severity = models.CharField(max_length=8, choices=Severity.choices, verbose_name=_("severity"))
    message = models.CharField(
        max_length=200, help_text=_("Why; never the value itself."), verbose_name=_("message")
    )
    suggestion = models.CharField(max_length=320, blank=True, verbose_name=_("suggestion"))
    value = models.TextField(
        blank=True, help_text=_("The raw value as received."), verbose_name=_("value")
    )
    source = models.ForeignKey(
        "profiles.Source",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("source"),
    )
    detected_at = models.DateTimeField(verbose_name=_("detected at"))
    resolved_at = models.DateTimeField(null=True, blank=True, verbose_name=_("resolved at"))

    class Meta:
        verbose_name = _("data quality issue")
        verbose_name_plural = _("data quality issues")
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "field", "code", "source"],
                name="quality_issue_profile_field_code_source_unique",
            ),
        ]
        indexes = [
            models.Index(
                fields=["code", "profile"],
                condition=Q(resolved_at__isnull=True),
                name="quality_issue_open_code_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} on {self.field} of #{self.profile_id}"


class JobFunctionRule(models.Model):
    """A keyword of job titles and the job function it means; tried in `position` order."""

    class Function(models.TextChoices):
        MARKETING = "marketing", _("Marketing")
        SALES = "sales", _("Sales")
        IT = "it", _("IT")
        FINANCE = "finance", _("Finance")
        HR = "hr", _("HR")
        MANAGEMENT = "management", _("Management")
        OPERATIONS = "operations", _("Operations")
        OTHER = "other", _("Other")

    keyword = models.CharField(
        max_length=100,
        unique=True,
        help_text=_(
            "Whole word(s) of the title, any case and accents, e.g. “software” or "
            "“human resources”."
        ),
        verbose_name=_("keyword"),
    )
    function = models.CharField(max_length=20, choices=Function.choices, verbose_name=_("function"))
    position = models.PositiveIntegerField(
        default=1000, help_text=_("Lower is tried first."), verbose_name=_("position")
    )
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))

    class Meta:
        verbose_name = _("job function rule")
        verbose_name_plural = _("job function rules")
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(function__in=JOB_FUNCTIONS), name="job_function_rule_known_function"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.keyword} → {self.function}"


class QualityWeight(models.Model):
    """How much a filled field (or the absence of open issues: `validity`) adds to the score."""

    field = models.CharField(max_length=64, unique=True, verbose_name=_("field"))
    weight = models.PositiveSmallIntegerField(default=0, verbose_name=_("weight"))

    class Meta:
        verbose_name = _("quality weight")
        verbose_name_plural = _("quality weights")
        ordering = ["field"]
        constraints = [
            models.CheckConstraint(condition=Q(weight__lte=100), name="quality_weight_max_100"),
        ]

    def __str__(self) -> str:
        return f"{self.field}: {self.weight}"


class SurvivorshipRule(models.Model):
    """Which source's value of a field wins when sources disagree; fields without a rule
    use trust rank, then recency. An empty value never wins."""

    class Strategy(models.TextChoices):
        TRUST_THEN_RECENCY = "trust_then_recency", _("Highest trust rank, then most recent")
        RECENCY_THEN_TRUST = "recency_then_trust", _("Most recent, then highest trust rank")

    field = models.CharField(max_length=64, unique=True, verbose_name=_("field"))
    strategy = models.CharField(
        max_length=24,
        choices=Strategy.choices,
        default=Strategy.TRUST_THEN_RECENCY,
        verbose_name=_("strategy"),
    )

    class Meta:
        verbose_name = _("survivorship rule")
        verbose_name_plural = _("survivorship rules")
        ordering = ["field"]

    def __str__(self) -> str:
        return f"{self.field}: {self.strategy}"


class MaintenanceRun(models.Model):
    """One run of a data-quality maintenance job, with the summary a steward reads."""

    class Kind(models.TextChoices):
        RENORMALISE = "renormalise", _("Re-apply rules (issues, job functions, winners, scores)")
        STALE = "stale", _("Flag stale profiles")
        SCORES = "scores", _("Refresh quality scores")

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    kind = models.CharField(max_length=16, choices=Kind.choices, verbose_name=_("kind"))
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.RUNNING, verbose_name=_("status")
    )
    reason = models.CharField(max_length=200, blank=True, verbose_name=_("reason"))
    cursor = models.BigIntegerField(
        default=0, help_text=_("Last profile id processed."), verbose_name=_("cursor")
    )
    total = models.PositiveIntegerField(default=0, verbose_name=_("total"))
    processed = models.PositiveIntegerField(default=0, verbose_name=_("processed"))
    changed = models.PositiveIntegerField(default=0, verbose_name=_("changed"))
    summary = models.JSONField(
        default=dict, blank=True, help_text=_("Counts of what changed."), verbose_name=_("summary")
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("started by"),
    )
    started_at = models.DateTimeField(auto_now_add=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))

    class Meta:
        verbose_name = _("maintenance run")
        verbose_name_plural = _("maintenance runs")
        ordering = ["-id"]
        indexes = [models.Index(fields=["kind", "status"], name="maintenance_kind_status_idx")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"
