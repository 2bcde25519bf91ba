"""Scheduled reports: each due schedule's report of the last period, emailed once.

A delivery row (one per schedule and period, unique) is the record that a report is owed
and whether it went; beat's tick only wakes this up. Schedules are claimed with
`SKIP LOCKED`, so two workers never send the same one.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.utils import timezone

from reports.builtin import DEFINITIONS, last_complete_period, report_build
from reports.models import ReportDelivery, ReportSchedule
from reports.rendering import report_csv, report_html, report_pdf

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 5


def recipients_parse(text: str) -> list[str]:
    """The addresses of a schedule's recipients field (commas, semicolons or lines)."""
    return [part for part in re.split(r"[\s,;]+", text) if part]


def next_run_at(*, cadence: str, after: datetime) -> datetime:
    """The next Monday (weekly) or 1st of the month (monthly), 06:00 local time."""
    today = timezone.localdate(after)
    if cadence == ReportSchedule.Cadence.WEEKLY:
        day = today + timedelta(days=7 - today.weekday())
    else:
        day = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    return timezone.make_aware(datetime.combine(day, time(6, 0)))


@dataclass(frozen=True)
class DeliveryRun:
    sent: int
    failed: int


def _send(schedule: ReportSchedule, start: date, end: date) -> int:
    report = report_build(code=schedule.report, start=start, end=end)
    recipients = recipients_parse(schedule.recipients)
    message = EmailMultiAlternatives(
        subject=f"{report.title} — {start} – {end}",
        body=f"{report.title}\n{start} – {end}\n\n"
        + "\n".join(f"{figure.label}: {figure.value}" for figure in report.figures),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
    )
    message.attach_alternative(report_html(report), "text/html")
    message.attach(f"{report.code}-{start}.pdf", report_pdf(report), "application/pdf")
    message.attach(f"{report.code}-{start}.csv", report_csv(report), "text/csv")
    message.send()
    return len(recipients)


def report_deliveries_run(*, now: datetime | None = None, limit: int = 20) -> DeliveryRun:
    """Send the report of every due schedule for its last complete period, once each."""
    now = now or timezone.now()
    sent = failed = 0
    for _ in range(limit):
        with transaction.atomic():
            schedule = (
                ReportSchedule.objects.select_for_update(skip_locked=True)
                .filter(is_active=True, next_run_at__lte=now)
                .order_by("next_run_at", "pk")
                .first()
            )
            if schedule is None:
                break
            period = last_complete_period(cadence=schedule.cadence, today=timezone.localdate(now))
            delivery, _ = ReportDelivery.objects.get_or_create(
                schedule=schedule,
                period_start=period.start,
                defaults={"period_end": period.end},
            )
            if delivery.status != ReportDelivery.Status.SENT and delivery.attempts < MAX_ATTEMPTS:
                delivery.attempts += 1
                try:
                    delivery.recipients = _send(schedule, period.start, period.end)
                except Exception as exc:  # the mail server or the PDF renderer said no
                    logger.warning("report delivery %s failed: %s", delivery.pk, type(exc).__name__)
                    delivery.status = ReportDelivery.Status.FAILED
                    delivery.error = type(exc).__name__
                    failed += 1
                else:
                    delivery.status = ReportDelivery.Status.SENT
                    delivery.sent_at = timezone.now()
                    delivery.error = ""
                    sent += 1
                delivery.save()
            if delivery.status == ReportDelivery.Status.FAILED and delivery.attempts < MAX_ATTEMPTS:
                # Try again at the next tick: the schedule stays due.
                schedule.next_run_at = now + timedelta(minutes=5)
            else:
                schedule.next_run_at = next_run_at(cadence=schedule.cadence, after=now)
            schedule.save(update_fields=["next_run_at"])
    return DeliveryRun(sent=sent, failed=failed)


def report_schedule_create(
    *, report: str, recipients: str, cadence: str | None = None, now: datetime | None = None
) -> ReportSchedule:
    """Schedule a built-in report; the first one goes at the next period boundary."""
    definition = DEFINITIONS[report]
    cadence = cadence or definition.cadence
    return ReportSchedule.objects.create(
        report=report,
        cadence=cadence,
        recipients=recipients,
        next_run_at=next_run_at(cadence=cadence, after=now or timezone.now()),
    )
