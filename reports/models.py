"""Daily rollups: what the dashboard and reports read instead of the raw tables.

Each rollup is maintained incrementally from an append-only ledger (the event log, the
consent ledger) by a cursor, and rebuilt nightly as a safety net. A count is anonymous by
construction: no profile, no property, so an erased person leaves only counts.
"""

from __future__ import annotations

from django.db import models

from consent.models import Purpose
from profiles.models import Source


class RollupCursor(models.Model):
    """How far a rollup has read its ledger: the highest id read and the ids still missing.

    PostgreSQL sequence values are not commit-ordered: ids below the position that were
    not visible yet are kept in `gaps` and read again until they appear or expire.
    """

    name = models.CharField(max_length=40, unique=True)
    position = models.BigIntegerField(default=0)
    gaps = models.JSONField(default=list, blank=True)
    rebuilt_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} @ {self.position}"


class DailyEvents(models.Model):
    """Events per day, source, type, name and UTM source / medium / campaign."""

    day = models.DateField()
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="+")
    type = models.CharField(max_length=16)
    name = models.CharField(max_length=200, blank=True)
    utm_source = models.CharField(max_length=100, blank=True)
    utm_medium = models.CharField(max_length=100, blank=True)
    utm_campaign = models.CharField(max_length=100, blank=True)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "daily events"
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

    day = models.DateField()
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=24)
    method = models.CharField(max_length=24, blank=True)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "daily consents"
        constraints = [
            models.UniqueConstraint(
                fields=["day", "purpose", "status", "method"], name="daily_consents_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.purpose_id} {self.status}: {self.count}"


class Conversion(models.Model):
    """One conversion event (a name in `CDP_CONVERSION_EVENTS`), attributed to the UTM
    campaign of the person's first and last touch before it, with the days since the
    person was first seen. It names no one: the event's id alone, which points nowhere
    once the person is erased (the row stays, an anonymous count)."""

    event_id = models.BigIntegerField(unique=True)
    day = models.DateField()
    name = models.CharField(max_length=200)
    first_source = models.CharField(max_length=100, blank=True)
    first_medium = models.CharField(max_length=100, blank=True)
    first_campaign = models.CharField(max_length=200, blank=True)
    last_source = models.CharField(max_length=100, blank=True)
    last_medium = models.CharField(max_length=100, blank=True)
    last_campaign = models.CharField(max_length=200, blank=True)
    days_to_convert = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["day", "name"], name="conversion_day_name_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.name}"


class ReportSchedule(models.Model):
    """A built-in report sent by email to recipients after each week or month."""

    class Cadence(models.TextChoices):
        WEEKLY = "weekly", "Every Monday, for the week before"
        MONTHLY = "monthly", "On the 1st, for the month before"

    report = models.CharField(max_length=32, help_text="The built-in report's code.")
    cadence = models.CharField(max_length=8, choices=Cadence.choices)
    recipients = models.TextField(help_text="Email addresses, one per line or comma-separated.")
    is_active = models.BooleanField(default=True)
    next_run_at = models.DateTimeField(help_text="When beat sends the next report.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["is_active", "next_run_at"], name="report_schedule_due_idx")
        ]

    def __str__(self) -> str:
        return f"{self.report} ({self.cadence})"


class ReportDelivery(models.Model):
    """One report of one period for one schedule: sent once, retried while it fails."""

    class Status(models.TextChoices):
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    schedule = models.ForeignKey(
        ReportSchedule, on_delete=models.CASCADE, related_name="deliveries"
    )
    period_start = models.DateField()
    period_end = models.DateField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.SENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    recipients = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=200, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "report deliveries"
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

    name = models.CharField(max_length=60, unique=True)
    value = models.FloatField(null=True, blank=True)
    computed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} = {self.value}"
