"""Data quality: issues found on profiles, and the rules stewards edit (jobs, weights, winners)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from profiles.normalise_data import JOB_FUNCTIONS


class DataQualityIssue(models.Model):
    """A value a source gave that is invalid or suspicious, kept here instead of the profile.

    `value` is the raw value as received (personal data: exported and erased with the
    profile); `message` never repeats it. One row per profile, field, code and source: a
    source repeating the same mistake refreshes the row.
    """

    class Code(models.TextChoices):
        INVALID_EMAIL = "invalid_email", "Invalid email"
        EMAIL_DOMAIN_TYPO = "email_domain_typo", "Email domain looks mistyped"
        INVALID_PHONE = "invalid_phone", "Invalid phone"
        INVALID_COUNTRY = "invalid_country", "Unknown country"
        INVALID_POSTCODE = "invalid_postcode", "Invalid postcode"
        INVALID_DATE = "invalid_date", "Invalid date"
        STALE = "stale", "Not seen for a long time"

    class Severity(models.TextChoices):
        ERROR = "error", "Error (value kept out of the profile)"
        WARNING = "warning", "Warning (value kept, check it)"
        INFO = "info", "Info"

    # Covered by the unique constraint below (profile first).
    profile = models.ForeignKey(
        "profiles.Profile", on_delete=models.CASCADE, related_name="quality_issues", db_index=False
    )
    field = models.CharField(max_length=64)
    code = models.CharField(max_length=32, choices=Code.choices)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    message = models.CharField(max_length=200, help_text="Why; never the value itself.")
    suggestion = models.CharField(max_length=320, blank=True)
    value = models.TextField(blank=True, help_text="The raw value as received.")
    source = models.ForeignKey(
        "profiles.Source", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    detected_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
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
        MARKETING = "marketing", "Marketing"
        SALES = "sales", "Sales"
        IT = "it", "IT"
        FINANCE = "finance", "Finance"
        HR = "hr", "HR"
        MANAGEMENT = "management", "Management"
        OPERATIONS = "operations", "Operations"
        OTHER = "other", "Other"

    keyword = models.CharField(
        max_length=100,
        unique=True,
        help_text="Whole word(s) of the title, any case and accents, e.g. “software” or "
        "“human resources”.",
    )
    function = models.CharField(max_length=20, choices=Function.choices)
    position = models.PositiveIntegerField(default=1000, help_text="Lower is tried first.")
    is_active = models.BooleanField(default=True)

    class Meta:
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

    field = models.CharField(max_length=64, unique=True)
    weight = models.PositiveSmallIntegerField(default=0)

    class Meta:
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
        TRUST_THEN_RECENCY = "trust_then_recency", "Highest trust rank, then most recent"
        RECENCY_THEN_TRUST = "recency_then_trust", "Most recent, then highest trust rank"

    field = models.CharField(max_length=64, unique=True)
    strategy = models.CharField(
        max_length=24, choices=Strategy.choices, default=Strategy.TRUST_THEN_RECENCY
    )

    class Meta:
        ordering = ["field"]

    def __str__(self) -> str:
        return f"{self.field}: {self.strategy}"


class MaintenanceRun(models.Model):
    """One run of a data-quality maintenance job, with the summary a steward reads."""

    class Kind(models.TextChoices):
        RENORMALISE = "renormalise", "Re-apply rules (issues, job functions, winners, scores)"
        STALE = "stale", "Flag stale profiles"
        SCORES = "scores", "Refresh quality scores"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    reason = models.CharField(max_length=200, blank=True)
    cursor = models.BigIntegerField(default=0, help_text="Last profile id processed.")
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True, help_text="Counts of what changed.")
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["kind", "status"], name="maintenance_kind_status_idx")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"
