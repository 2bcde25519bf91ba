"""Data-subject requests, the suppression list, the access log and retention policies.

Like the ledger, these rows point at profiles only by id (or the string
"profiles.Profile"): consent imports nothing from the apps above it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class RequestKind(models.TextChoices):
    ACCESS = "access", "Access"
    PORTABILITY = "portability", "Portability"
    RECTIFICATION = "rectification", "Rectification"
    ERASURE = "erasure", "Erasure"
    RESTRICTION = "restriction", "Restriction"
    OBJECTION = "objection", "Objection"


class RequestStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    VERIFIED = "verified", "Identity verified"
    DONE = "done", "Done"
    REJECTED = "rejected", "Rejected"


class DataSubjectRequest(models.Model):
    """A person's request about their data (GDPR arts. 15-21), due one month after receipt.

    The subject is named by email and/or phone. After an erasure the clear values are
    replaced by `subject_digest` (an HMAC): the request itself must not keep the person.
    """

    Kind = RequestKind
    Status = RequestStatus

    kind = models.CharField(max_length=16, choices=RequestKind.choices)
    status = models.CharField(
        max_length=12, choices=RequestStatus.choices, default=RequestStatus.RECEIVED
    )
    subject_email = models.CharField(max_length=254, blank=True)
    subject_phone = models.CharField(max_length=32, blank=True)
    subject_digest = models.CharField(
        max_length=64,
        blank=True,
        help_text="HMAC of the subject's identifiers; kept after erasure.",
    )
    changes = models.JSONField(
        default=dict, blank=True, help_text="Rectification: {field: corrected value}."
    )
    received_at = models.DateTimeField()
    due_at = models.DateTimeField()
    extended = models.BooleanField(default=False)
    extension_reason = models.TextField(blank=True)
    handler = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    verification = models.CharField(
        max_length=200, blank=True, help_text="How the identity was verified (no document copy)."
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # How many profiles were concerned; never shown to the requester.
    profiles_found = models.PositiveIntegerField(null=True, blank=True)
    answer = models.TextField(blank=True, help_text="What the person was told.")

    class Meta:
        verbose_name = "data-subject request"
        ordering = ["due_at", "id"]
        permissions = [
            ("export_personal_data", "Can export a person's data"),
            ("unmask_personal_data", "Can see personal data unmasked"),
            ("mask_personal_data", "Sees personal data masked (viewers)"),
            ("erase_personal_data", "Can erase a person's data"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=RequestKind.values), name="dsar_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=RequestStatus.values), name="dsar_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(due_at__gt=models.F("received_at")), name="dsar_due_after_received"
            ),
            models.CheckConstraint(
                condition=~Q(status="done") | Q(completed_at__isnull=False),
                name="dsar_done_has_completion",
            ),
        ]
        indexes = [models.Index(fields=["status", "due_at"], name="dsar_status_due_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} request #{self.pk}"


class DataSubjectRequestEvent(models.Model):
    """The audit trail of a request: each step, who took it, when. Never changed."""

    request = models.ForeignKey(DataSubjectRequest, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=32)
    note = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "request step"
        ordering = ["request", "id"]

    def __str__(self) -> str:
        return f"{self.action} #{self.request_id}"


class Suppression(models.Model):
    """A hashed identifier (email or phone) of an erased person: batches cannot recreate them.

    Only the person's own opt-in on a form lifts it; the lifted row stays, with its proof.
    """

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        PHONE = "phone", "Phone"

    digest = models.CharField(max_length=64, help_text="HMAC-SHA256 of kind:normalised value.")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    reason = models.CharField(max_length=32, default="erasure")
    request = models.ForeignKey(
        DataSubjectRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lift_proof = models.JSONField(default=dict, blank=True)

    class Meta:
        # Also the index ingestion's look-up uses (it asks for active rows only).
        constraints = [
            models.UniqueConstraint(
                fields=["digest"],
                condition=Q(lifted_at__isnull=True),
                name="suppression_digest_active_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.digest[:12]}…"


class AccessLog(models.Model):
    """Who viewed or exported which person's data, where and when. Never changed."""

    class Action(models.TextChoices):
        VIEW = "view", "View"
        EXPORT = "export", "Export"
        ERASE = "erase", "Erase"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=8, choices=Action.choices)
    what = models.CharField(max_length=60, help_text="The page or endpoint, e.g. admin:profile.")
    profile_id = models.BigIntegerField(null=True, blank=True)
    request = models.ForeignKey(
        DataSubjectRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    masked = models.BooleanField(default=False)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "access log entry"
        verbose_name_plural = "access log"
        indexes = [
            models.Index(fields=["profile_id", "-at"], name="access_profile_time_idx"),
            models.Index(fields=["user", "-at"], name="access_user_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.what} #{self.profile_id}"


class RetentionPolicy(models.Model):
    """Profiles of a lifecycle stage with no contact for `days` are anonymised.

    A policy runs for real only after a dry run reported what it would do.
    """

    name = models.CharField(max_length=120, unique=True)
    lifecycle_stage = models.CharField(max_length=12)
    days_without_contact = models.PositiveIntegerField()
    is_active = models.BooleanField(default=True)
    dry_run_at = models.DateTimeField(
        null=True, blank=True, help_text="The latest dry run; real runs wait for one."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "retention policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(days_without_contact__gte=30), name="retention_at_least_30_days"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RetentionRun(models.Model):
    """What one run of a policy found (dry run) or anonymised (real run)."""

    policy = models.ForeignKey(RetentionPolicy, on_delete=models.CASCADE, related_name="runs")
    dry_run = models.BooleanField()
    cutoff = models.DateTimeField()
    matched = models.PositiveIntegerField(default=0)
    anonymised = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        kind = "dry run" if self.dry_run else "run"
        return f"{self.policy} {kind} #{self.pk}"
