"""Journeys: a versioned definition of steps, enrolments walking it, and their step log.

PostgreSQL is the authority: an enrolment row holds its current step and when that step
is due; the engine claims due rows with FOR UPDATE SKIP LOCKED and advances them as sets,
writing one step-log row per step visit (unique), in the transaction that moves them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class JourneyStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACTIVE = "active", _("Active")
    PAUSED = "paused", _("Paused")
    ARCHIVED = "archived", _("Archived")


class Reentry(models.TextChoices):
    NEVER = "never", _("Never")
    AFTER_EXIT = "after_exit", _("Once the previous enrolment ended")
    AFTER_DAYS = "after_days", _("N days after the previous enrolment ended")


class Journey(models.Model):
    """A marketing automation: a trigger, steps, a goal, sent for one purpose."""

    Status = JourneyStatus
    Reentry = Reentry

    name = models.CharField(_("name"), max_length=200, unique=True)
    description = models.TextField(_("description"), blank=True)
    purpose = models.ForeignKey(
        "consent.Purpose", on_delete=models.PROTECT, related_name="+", verbose_name=_("purpose")
    )
    status = models.CharField(
        _("status"), max_length=12, choices=JourneyStatus.choices, default=JourneyStatus.DRAFT
    )
    reentry = models.CharField(
        _("re-entry"), max_length=12, choices=Reentry.choices, default=Reentry.NEVER
    )
    reentry_days = models.PositiveIntegerField(_("re-entry after days"), null=True, blank=True)
    goal_event = models.CharField(
        _("goal event"),
        max_length=200,
        blank=True,
        help_text=_("The event that counts as a conversion, e.g. Order Completed."),
    )
    goal_days = models.PositiveIntegerField(
        _("goal within days"), null=True, blank=True, help_text=_("Counted from enrolment.")
    )
    version = models.ForeignKey(
        "JourneyVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        help_text=_("The version new enrolments start on."),
        verbose_name=_("version"),
    )
    activated_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("activated at")
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
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        ordering = ["name"]
        verbose_name = _("journey")
        verbose_name_plural = _("journeys")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=JourneyStatus.values), name="campaigns_journey_status"
            ),
            models.CheckConstraint(
                condition=Q(reentry__in=Reentry.values), name="campaigns_journey_reentry"
            ),
            models.CheckConstraint(
                condition=~Q(reentry="after_days") | Q(reentry_days__gte=1),
                name="campaigns_journey_reentry_days",
            ),
            models.CheckConstraint(
                condition=Q(goal_event="") | Q(goal_days__gte=1),
                name="campaigns_journey_goal_days",
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(version__isnull=False),
                name="campaigns_journey_live_has_version",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class JourneyVersion(models.Model):
    """One definition of a journey, never changed: an edit is a new version."""

    journey = models.ForeignKey(
        Journey, on_delete=models.CASCADE, related_name="versions", verbose_name=_("journey")
    )
    version = models.PositiveIntegerField(verbose_name=_("version"))
    definition = models.JSONField(verbose_name=_("definition"))
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
        ordering = ["journey", "-version"]
        verbose_name = _("journey version")
        verbose_name_plural = _("journey versions")
        constraints = [
            models.UniqueConstraint(
                fields=["journey", "version"], name="campaigns_journey_version_unique"
            ),
            models.CheckConstraint(
                condition=Q(version__gte=1), name="campaigns_journey_version_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.journey.name} v{self.version}"


class EnrolmentStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    COMPLETED = "completed", _("Completed")
    EXITED = "exited", _("Exited")


class Enrolment(models.Model):
    """One person walking one version of a journey: where they are and when it is due."""

    Status = EnrolmentStatus

    journey = models.ForeignKey(
        Journey, on_delete=models.PROTECT, related_name="enrolments", verbose_name=_("journey")
    )
    version = models.ForeignKey(
        JourneyVersion, on_delete=models.PROTECT, related_name="+", verbose_name=_("version")
    )
    profile = models.ForeignKey(
        "profiles.Profile",
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        verbose_name=_("profile"),
    )
    status = models.CharField(
        max_length=12,
        choices=EnrolmentStatus.choices,
        default=EnrolmentStatus.RUNNING,
        verbose_name=_("status"),
    )
    step = models.CharField(max_length=64, verbose_name=_("step"))
    due_at = models.DateTimeField(null=True, blank=True, verbose_name=_("due at"))
    visit = models.PositiveIntegerField(
        default=0, help_text=_("Steps executed so far."), verbose_name=_("visit")
    )
    variant = models.CharField(max_length=64, blank=True, verbose_name=_("variant"))
    event_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("When the event a step waits for arrived."),
        verbose_name=_("event at"),
    )
    source = models.CharField(max_length=16, default="trigger", verbose_name=_("source"))
    occasion = models.DateField(
        null=True,
        blank=True,
        help_text=_("For a date trigger: the local day it fired for (once per person)."),
        verbose_name=_("occasion"),
    )
    entered_at = models.DateTimeField(verbose_name=_("entered at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    exit_reason = models.CharField(max_length=16, blank=True, verbose_name=_("exit reason"))
    converted_at = models.DateTimeField(null=True, blank=True, verbose_name=_("converted at"))
    converted_step = models.CharField(max_length=64, blank=True, verbose_name=_("converted step"))
    converted_message_id = models.BigIntegerField(
        null=True, blank=True, verbose_name=_("converted message id")
    )

    class Meta:
        verbose_name = _("enrolment")
        verbose_name_plural = _("enrolments")
        constraints = [
            # One running enrolment per person and journey, whoever enrols them.
            models.UniqueConstraint(
                fields=["journey", "profile"],
                condition=Q(status="running"),
                name="campaigns_enrolment_one_running",
            ),
            # A date trigger enrols a person once per occasion, however often beat ticks.
            models.UniqueConstraint(
                fields=["journey", "profile", "occasion"],
                condition=Q(occasion__isnull=False),
                name="campaigns_enrolment_once_per_occasion",
            ),
            models.CheckConstraint(
                condition=Q(status__in=EnrolmentStatus.values), name="campaigns_enrolment_status"
            ),
            models.CheckConstraint(
                condition=(Q(status="running") & Q(due_at__isnull=False))
                | (~Q(status="running") & Q(finished_at__isnull=False)),
                name="campaigns_enrolment_running_due_finished_dated",
            ),
        ]
        indexes = [
            # The claim: running rows by due time.
            models.Index(
                fields=["due_at"],
                condition=Q(status="running"),
                name="journey_enrol_due_idx",
            ),
            models.Index(fields=["profile", "journey"], name="journey_enrol_profile_idx"),
            models.Index(fields=["journey", "step"], name="journey_enrol_step_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.journey_id} #{self.profile_id} @ {self.step}"


class StepLog(models.Model):
    """One step executed for one enrolment: written once, in the transaction that moved it.

    `visit` numbers the enrolment's steps; (enrolment, visit) is unique, so no step is ever
    recorded (or done) twice. A send step's messages carry this row's id as their origin.
    """

    enrolment = models.ForeignKey(
        Enrolment, on_delete=models.CASCADE, related_name="steps", verbose_name=_("enrolment")
    )
    visit = models.PositiveIntegerField(verbose_name=_("visit"))
    journey = models.ForeignKey(
        Journey, on_delete=models.CASCADE, related_name="+", verbose_name=_("journey")
    )
    step = models.CharField(max_length=64, verbose_name=_("step"))
    outcome = models.CharField(max_length=64, blank=True, verbose_name=_("outcome"))
    variant = models.CharField(max_length=64, blank=True, verbose_name=_("variant"))
    at = models.DateTimeField(verbose_name=_("at"))

    class Meta:
        verbose_name = _("journey step log")
        verbose_name_plural = _("journey step logs")
        constraints = [
            models.UniqueConstraint(
                fields=["enrolment", "visit"], name="campaigns_step_log_once_per_visit"
            ),
        ]
        indexes = [models.Index(fields=["journey", "step"], name="journey_steplog_step_idx")]

    def __str__(self) -> str:
        return f"{self.enrolment_id}#{self.visit} {self.step}"
