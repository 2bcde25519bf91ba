"""Data-subject requests, the suppression list, the access log and retention policies.

Like the ledger, these rows point at profiles only by id (or the string
"profiles.Profile"): consent imports nothing from the apps above it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class RequestKind(models.TextChoices):
    ACCESS = "access", _("Access")
    PORTABILITY = "portability", _("Portability")
    RECTIFICATION = "rectification", _("Rectification")
    ERASURE = "erasure", _("Erasure")
    RESTRICTION = "restriction", _("Restriction")
    OBJECTION = "objection", _("Objection")


class RequestStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    VERIFIED = "verified", _("Identity verified")
    DONE = "done", _("Done")
    REJECTED = "rejected", _("Rejected")


class DataSubjectRequest(models.Model):
    """A person's request about their data (GDPR arts. 15-21), due one month after receipt.

    The subject is named by email and/or phone. After an erasure the clear values are
    replaced by `subject_digest` (an HMAC): the request itself must not keep the person.
    """

    Kind = RequestKind
    Status = RequestStatus

    kind = models.CharField(max_length=16, choices=RequestKind.choices, verbose_name=_("kind"))
    status = models.CharField(
        max_length=12,
        choices=RequestStatus.choices,
        default=RequestStatus.RECEIVED,
        verbose_name=_("status"),
    )
    subject_email = models.CharField(max_length=254, blank=True, verbose_name=_("subject email"))
    subject_phone = models.CharField(max_length=32, blank=True, verbose_name=_("subject phone"))
    subject_digest = models.CharField(
        max_length=64,
        blank=True,
        help_text=_("HMAC of the subject's identifiers; kept after erasure."),
        verbose_name=_("subject digest"),
    )
    changes = models.JSONField(
        default=dict,
        blank=True,
        help_text=_("Rectification: {field: corrected value}."),
        verbose_name=_("changes"),
    )
    received_at = models.DateTimeField(verbose_name=_("received at"))
    due_at = models.DateTimeField(verbose_name=_("due at"))
    extended = models.BooleanField(default=False, verbose_name=_("extended"))
    extension_reason = models.TextField(blank=True, verbose_name=_("extension reason"))
    handler = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("handler"),
    )
    verification = models.CharField(
        max_length=200,
        blank=True,
        help_text=_("How the identity was verified (no document copy)."),
        verbose_name=_("verification"),
    )
    verified_at = models.DateTimeField(null=True, blank=True, verbose_name=_("verified at"))
    completed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("completed at"))
    # How many profiles were concerned; never shown to the requester.
    profiles_found = models.PositiveIntegerField(
        null=True, blank=True, verbose_name=_("profiles found")
    )
    answer = models.TextField(
        blank=True, help_text=_("What the person was told."), verbose_name=_("answer")
    )

    class Meta:
        verbose_name_plural = _("data-subject requests")
        verbose_name = _("data-subject request")
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
        return gettext("%(kind)s request #%(id)s") % {
            "kind": self.get_kind_display(),
            "id": self.pk,
        }


# The steps of a request's audit trail (`action` keeps the code), as a steward reads them.
STEP_LABELS = {
    "received": _("received"),
    "verified": _("identity verified"),
    "extended": _("deadline extended"),
    "rejected": _("rejected"),
    "done": _("done"),
}


class DataSubjectRequestEvent(models.Model):
    """The audit trail of a request: each step, who took it, when. Never changed."""

    request = models.ForeignKey(
        DataSubjectRequest,
        on_delete=models.CASCADE,
        related_name="events",
        verbose_name=_("request"),
    )
    action = models.CharField(max_length=32, verbose_name=_("action"))
    note = models.TextField(blank=True, verbose_name=_("note"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("actor"),
    )
    at = models.DateTimeField(auto_now_add=True, verbose_name=_("at"))

    class Meta:
        verbose_name_plural = _("request steps")
        verbose_name = _("request step")
        ordering = ["request", "id"]

    def __str__(self) -> str:
        return gettext("%(step)s, request #%(id)s") % {
            "step": STEP_LABELS.get(self.action, self.action),
            "id": self.request_id,
        }


class Suppression(models.Model):
    """A hashed identifier (email or phone) of an erased person: batches cannot recreate them.

    Only the person's own opt-in on a form lifts it; the lifted row stays, with its proof.
    """

    class Kind(models.TextChoices):
        EMAIL = "email", _("Email")
        PHONE = "phone", _("Phone")

    digest = models.CharField(
        max_length=64,
        help_text=_("HMAC-SHA256 of kind:normalised value."),
        verbose_name=_("digest"),
    )
    kind = models.CharField(max_length=8, choices=Kind.choices, verbose_name=_("kind"))
    reason = models.CharField(max_length=32, default="erasure", verbose_name=_("reason"))
    request = models.ForeignKey(
        DataSubjectRequest,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("request"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    lifted_at = models.DateTimeField(null=True, blank=True, verbose_name=_("lifted at"))
    lift_proof = models.JSONField(default=dict, blank=True, verbose_name=_("lift proof"))

    class Meta:
        # Also the index ingestion's look-up uses (it asks for active rows only).
        verbose_name = _("suppression")
        verbose_name_plural = _("suppressions")
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
        VIEW = "view", _("View")
        EXPORT = "export", _("Export")
        ERASE = "erase", _("Erase")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("user"),
    )
    action = models.CharField(max_length=8, choices=Action.choices, verbose_name=_("action"))
    what = models.CharField(
        max_length=60,
        help_text=_("The page or endpoint, e.g. admin:profile."),
        verbose_name=_("what"),
    )
    profile_id = models.BigIntegerField(null=True, blank=True, verbose_name=_("profile id"))
    request = models.ForeignKey(
        DataSubjectRequest,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("request"),
    )
    masked = models.BooleanField(default=False, verbose_name=_("masked"))
    at = models.DateTimeField(auto_now_add=True, verbose_name=_("at"))

    class Meta:
        verbose_name = _("access log entry")
        verbose_name_plural = _("access log")
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

    name = models.CharField(max_length=120, unique=True, verbose_name=_("name"))
    lifecycle_stage = models.CharField(max_length=12, verbose_name=_("lifecycle stage"))
    days_without_contact = models.PositiveIntegerField(verbose_name=_("days without contact"))
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    dry_run_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("The latest dry run; real runs wait for one."),
        verbose_name=_("dry run at"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("retention policy")
        verbose_name_plural = _("retention policies")
        constraints = [
            models.CheckConstraint(
                condition=Q(days_without_contact__gte=30), name="retention_at_least_30_days"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RetentionRun(models.Model):
    """What one run of a policy found (dry run) or anonymised (real run)."""

    policy = models.ForeignKey(
        RetentionPolicy, on_delete=models.CASCADE, related_name="runs", verbose_name=_("policy")
    )
    dry_run = models.BooleanField(verbose_name=_("dry run"))
    cutoff = models.DateTimeField(verbose_name=_("cutoff"))
    matched = models.PositiveIntegerField(default=0, verbose_name=_("matched"))
    anonymised = models.PositiveIntegerField(default=0, verbose_name=_("anonymised"))
    started_at = models.DateTimeField(auto_now_add=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))

    class Meta:
        verbose_name = _("retention run")
        verbose_name_plural = _("retention runs")
        ordering = ["-id"]

    def __str__(self) -> str:
        kind = "dry run" if self.dry_run else "run"
        return f"{self.policy} {kind} #{self.pk}"
