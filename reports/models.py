"""Daily rollups: what the dashboard and reports read instead of the raw tables.

Each rollup is maintained incrementally from an append-only ledger (the event log, the
consent ledger) by a cursor, and rebuilt nightly as a safety net. A count is anonymous by
construction: no profile, no property, so an erased person leaves only counts.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from consent.models import Purpose
from profiles.models import Source


class RollupCursor(models.Model):
    """How far a rollup has read its ledger: the highest id read and the ids still missing.

    PostgreSQL sequence values are not commit-ordered: ids below the position that were
    not visible yet are kept in `gaps` and read again until they appear or expire.
    """

    name = models.CharField(max_length=40, unique=True, verbose_name=_("name"))
    position = models.BigIntegerField(default=0, verbose_name=_("position"))
    gaps = models.JSONField(default=list, blank=True, verbose_name=_("gaps"))
    rebuilt_at = models.DateTimeField(null=True, blank=True, verbose_name=_("rebuilt at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("rollup cursor")
        verbose_name_plural = _("rollup cursors")

    def __str__(self) -> str:
        return f"{self.name} @ {self.position}"


class DailyEvents(models.Model):
    """Events per day, source, type, name and UTM source / medium / campaign."""

    day = models.DateField(verbose_name=_("day"))
    source = models.ForeignKey(
        Source, on_delete=models.PROTECT, related_name="+", verbose_name=_("source")
    )
    type = models.CharField(max_length=16, verbose_name=_("type"))
    name = models.CharField(max_length=200, blank=True, verbose_name=_("name"))
    utm_source = models.CharField(max_length=100, blank=True, verbose_name=_("utm source"))
    utm_medium = models.CharField(max_length=100, blank=True, verbose_name=_("utm medium"))
    utm_campaign = models.CharField(max_length=100, blank=True, verbose_name=_("utm campaign"))
    count = models.PositiveIntegerField(default=0, verbose_name=_("count"))

    class Meta:
        verbose_name = _("daily events")
        verbose_name_plural = _("daily events")
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "day",
                    "source",
                    "type",
                    "name",
                    "utm_source",
                    "utm_medium",
                    "utm_campaign",
                ],
                name="daily_events_unique",
            )
        ]
        indexes = [models.Index(fields=["day", "type"], name="daily_events_day_type_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.type} {self.name}: {self.count}"


class DailyConsents(models.Model):
    """Consent decisions recorded per day, purpose, status (granted, withdrawn, ...) and
    method (form, import, double opt-in confirmation, ...)."""

    day = models.DateField(verbose_name=_("day"))
    purpose = models.ForeignKey(
        Purpose, on_delete=models.PROTECT, related_name="+", verbose_name=_("purpose")
    )
    status = models.CharField(max_length=24, verbose_name=_("status"))
    method = models.CharField(max_length=24, blank=True, verbose_name=_("method"))
    count = models.PositiveIntegerField(default=0, verbose_name=_("count"))

    class Meta:
        verbose_name = _("daily consents")
        verbose_name_plural = _("daily consents")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "purpose", "status", "method"], name="daily_consents_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.purpose_id} {self.status}: {self.count}"


class Conversion(models.Model):
    """One conversion event (a name in `CDP_CONVERSION_EVENTS`), attributed to the UTM
    campaign of the person's first and last touch before it and to the broadcast or
    journey of the last email they clicked within `CDP_ATTRIBUTION_DAYS`, with the days
    since the person was first seen. It names no one: the event's id alone, which points nowhere
    once the person is erased (the row stays, an anonymous count)."""

    event_id = models.BigIntegerField(unique=True, verbose_name=_("event id"))
    day = models.DateField(verbose_name=_("day"))
    name = models.CharField(max_length=200, verbose_name=_("name"))
    first_source = models.CharField(max_length=100, blank=True, verbose_name=_("first source"))
    first_medium = models.CharField(max_length=100, blank=True, verbose_name=_("first medium"))
    first_campaign = models.CharField(max_length=200, blank=True, verbose_name=_("first campaign"))
    last_source = models.CharField(max_length=100, blank=True, verbose_name=_("last source"))
    last_medium = models.CharField(max_length=100, blank=True, verbose_name=_("last medium"))
    last_campaign = models.CharField(max_length=200, blank=True, verbose_name=_("last campaign"))
    days_to_convert = models.PositiveIntegerField(
        null=True, blank=True, verbose_name=_("days to convert")
    )
    # The last email the person clicked (people's clicks, not machines') within
    # CDP_ATTRIBUTION_DAYS before the conversion: its broadcast, or its journey.
    message_kind = models.CharField(
        max_length=16,
        blank=True,
        help_text=_("broadcast or journey of the last email clicked before the conversion"),
        verbose_name=_("credited to"),
    )
    message_origin = models.BigIntegerField(
        null=True, blank=True, verbose_name=_("broadcast or journey id")
    )

    class Meta:
        verbose_name = _("conversion")
        verbose_name_plural = _("conversions")
        indexes = [models.Index(fields=["day", "name"], name="conversion_day_name_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.name}"


class MessageMetric(models.TextChoices):
    SENT = "sent", _("Sent")
    SKIPPED = "skipped", _("Skipped")
    FAILED = "failed", _("Failed")
    OPENED = "opened", _("Opened")
    OPENED_MACHINE = "opened_machine", _("Opened by a machine")
    CLICKED = "clicked", _("Clicked")
    CLICKED_MACHINE = "clicked_machine", _("Clicked by a machine")
    BOUNCED = "bounced", _("Bounced")
    COMPLAINED = "complained", _("Complained")
    UNSUBSCRIBED = "unsubscribed", pgettext_lazy("messages", "Unsubscribed")
    ASSIGNED = "assigned", _("Assigned to a variant")
    CONVERTED = "converted", _("Converted")


class DailyMessages(models.Model):
    """Messages per day, origin (a broadcast, or a journey with its step and A/B variant),
    channel and metric (sent, skipped by reason, failed, opened, clicked, bounced, ...).

    The engagement metrics count the campaigns' events (read by the events cursor); the
    outbox's skips and failures, the journeys' variant assignments and conversions are
    added from the changes database triggers log (`MessageStateChange`). `erased` rows
    hold the counts of erased people's events, which a rebuild can no longer read from the
    log.
    """

    Metric = MessageMetric

    class OriginKind(models.TextChoices):
        BROADCAST = "broadcast", _("Broadcast")
        JOURNEY = "journey", _("Journey")

    day = models.DateField(verbose_name=_("day"))
    origin_kind = models.CharField(
        max_length=16, choices=OriginKind.choices, verbose_name=_("origin kind")
    )
    origin_id = models.BigIntegerField(verbose_name=_("origin id"))
    step = models.CharField(max_length=64, blank=True, verbose_name=_("step"))
    variant = models.CharField(max_length=64, blank=True, verbose_name=_("variant"))
    channel = models.CharField(max_length=12, blank=True, verbose_name=_("channel"))
    metric = models.CharField(
        max_length=16, choices=MessageMetric.choices, verbose_name=_("metric")
    )
    reason = models.CharField(max_length=16, blank=True, verbose_name=_("reason"))
    erased = models.BooleanField(default=False, verbose_name=_("erased"))
    count = models.IntegerField(default=0, verbose_name=_("count"))

    class Meta:
        verbose_name = _("daily messages")
        verbose_name_plural = _("daily messages")
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "day",
                    "origin_kind",
                    "origin_id",
                    "step",
                    "variant",
                    "channel",
                    "metric",
                    "reason",
                    "erased",
                ],
                name="daily_messages_unique",
            )
        ]
        indexes = [
            models.Index(fields=["day", "origin_kind"], name="daily_messages_day_origin_idx")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.origin_kind} {self.origin_id} {self.metric}: {self.count}"


class MessageStateChange(models.Model):
    """A change the message rollup owes: one state count to add (+1) or take back (-1).

    Written by database triggers (migration 0010) when an outbox row becomes skipped or
    failed, an enrolment converts, or a split step assigns a variant — whatever code or
    SQL made the change — and consumed (deleted) by the catch-up that adds it, in the same
    transaction. `journey_pk` empty: the row is an outbox message whose origin is read at
    catch-up; otherwise the journey, step and variant as they were when counted.
    """

    at = models.DateTimeField(verbose_name=_("at"))
    delta = models.SmallIntegerField(verbose_name=_("delta"))
    metric = models.CharField(
        max_length=16, choices=MessageMetric.choices, verbose_name=_("metric")
    )
    reason = models.CharField(max_length=16, blank=True, verbose_name=_("reason"))
    message_pk = models.BigIntegerField(null=True, blank=True, verbose_name=_("message"))
    journey_pk = models.BigIntegerField(null=True, blank=True, verbose_name=_("journey"))
    step = models.CharField(max_length=64, blank=True, verbose_name=_("step"))
    variant = models.CharField(max_length=64, blank=True, verbose_name=_("variant"))

    class Meta:
        verbose_name = _("message state change")
        verbose_name_plural = _("message state changes")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(delta__in=(-1, 1)), name="message_state_change_delta"
            )
        ]

    def __str__(self) -> str:
        return f"{self.metric} {self.delta:+d} @ {self.at:%Y-%m-%d}"


class DailyLifecycle(models.Model):
    """Active people per lifecycle stage, sign-up month (cohort) and the source they
    arrived through (its kind is the channel), as counted on a day: a snapshot kept each
    day, refreshed by beat through the day."""

    day = models.DateField(verbose_name=_("day"))
    cohort = models.DateField(
        help_text=_("First day of the sign-up month."), verbose_name=_("cohort")
    )
    stage = models.CharField(max_length=16, verbose_name=_("stage"))
    source = models.ForeignKey(
        Source,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("The source of the first identity the person arrived with."),
        verbose_name=_("source"),
    )
    count = models.PositiveIntegerField(default=0, verbose_name=_("count"))

    class Meta:
        verbose_name = _("daily lifecycle")
        verbose_name_plural = _("daily lifecycle")
        constraints = [
            # One row per day, cohort, stage and source, "no source" included.
            models.UniqueConstraint(
                "day",
                "cohort",
                "stage",
                Coalesce("source", Value(0)),
                name="daily_lifecycle_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.cohort:%Y-%m} {self.stage}: {self.count}"


class ReportSchedule(models.Model):
    """A built-in report sent by email to recipients after each week or month."""

    class Cadence(models.TextChoices):
        WEEKLY = "weekly", _("Every Monday, for the week before")
        MONTHLY = "monthly", _("On the 1st, for the month before")

    report = models.CharField(
        max_length=32, help_text=_("The built-in report's code."), verbose_name=_("report")
    )
    cadence = models.CharField(max_length=8, choices=Cadence.choices, verbose_name=_("cadence"))
    recipients = models.TextField(
        help_text=_("Email addresses, one per line or comma-separated."),
        verbose_name=_("recipients"),
    )
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    next_run_at = models.DateTimeField(
        help_text=_("When beat sends the next report."), verbose_name=_("next run at")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("report schedule")
        verbose_name_plural = _("report schedules")
        indexes = [
            models.Index(fields=["is_active", "next_run_at"], name="report_schedule_due_idx")
        ]

    def __str__(self) -> str:
        return f"{self.report} ({self.cadence})"


class ReportDelivery(models.Model):
    """One report of one period for one schedule: sent once, retried while it fails."""

    class Status(models.TextChoices):
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    schedule = models.ForeignKey(
        ReportSchedule,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("schedule"),
    )
    period_start = models.DateField(verbose_name=_("period start"))
    period_end = models.DateField(verbose_name=_("period end"))
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.SENDING, verbose_name=_("status")
    )
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    recipients = models.PositiveSmallIntegerField(default=0, verbose_name=_("recipients"))
    error = models.CharField(max_length=200, blank=True, verbose_name=_("error"))
    sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("sent at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("report delivery")
        verbose_name_plural = _("report deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "period_start"], name="report_delivery_once_per_period"
            ),
            models.CheckConstraint(
                condition=models.Q(period_end__gte=models.F("period_start")),
                name="report_delivery_period_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.schedule_id} {self.period_start}..{self.period_end}: {self.status}"


class FigureSnapshot(models.Model):
    """A figure too costly to count on every page view (people, contactable people per
    purpose), counted by beat every few minutes; the dashboard reads it."""

    name = models.CharField(max_length=60, unique=True, verbose_name=_("name"))
    value = models.FloatField(null=True, blank=True, verbose_name=_("value"))
    computed_at = models.DateTimeField(verbose_name=_("computed at"))

    class Meta:
        verbose_name = _("figure snapshot")
        verbose_name_plural = _("figure snapshots")

    def __str__(self) -> str:
        return f"{self.name} = {self.value}"
