"""The built-in reports: what each one counts, over a period and the period before it.

Each builder reads the daily rollups or small, indexed tables (identities by creation
time, requests, quality issues, profiles by stage); never the event log. A report is a
few key figures and tables of plain values, which the admin page, the exports, the
scheduled email (HTML, PDF, CSV) and the API all render the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Avg, Count, F, Q, Sum
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from consent.models import DataSubjectRequest, Purpose, RetentionRun
from consent.selectors import contactable_profile_ids
from profiles.models import DataQualityIssue, Identity, Profile, Source
from reports.models import Conversion, DailyConsents, DailyEvents
from reports.performance import (
    ab_rows,
    broadcast_rows,
    journey_step_rows,
    message_totals,
    rate,
)
from reports.selectors import Figure, figures_snapshot, lifecycle_count, lifecycle_snapshot


@dataclass(frozen=True)
class Table:
    title: Any
    columns: tuple[Any, ...]
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True)
class Report:
    code: str
    title: Any
    start: date
    end: date
    previous_start: date
    previous_end: date
    figures: list[Figure]
    tables: list[Table]


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def before(self) -> Period:
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))


Builder = Callable[[Period, Period], tuple[list[Figure], list[Table]]]


@dataclass(frozen=True)
class Definition:
    code: str
    title: Any
    description: Any
    cadence: str  # "weekly" or "monthly": the period a scheduled delivery covers
    build: Builder


def last_complete_period(*, cadence: str, today: date) -> Period:
    """The last whole week (Monday to Sunday) or calendar month before `today`."""
    if cadence == "weekly":
        monday = today - timedelta(days=today.weekday())
        return Period(monday - timedelta(days=7), monday - timedelta(days=1))
    first = today.replace(day=1)
    last_month_end = first - timedelta(days=1)
    return Period(last_month_end.replace(day=1), last_month_end)


def _days(field: str, period: Period) -> Q:
    return Q(**{f"{field}__gte": period.start, f"{field}__lte": period.end})


def _dates(field: str, period: Period) -> Q:
    return Q(**{f"{field}__date__gte": period.start, f"{field}__date__lte": period.end})


def _conversions() -> list[str]:
    return list(settings.CDP_CONVERSION_EVENTS)


def _touches(period: Period, touch: str) -> list[tuple[Any, ...]]:
    """Conversions in the period by the campaign of the person's first or last touch."""
    keys = [f"{touch}_campaign", f"{touch}_source", f"{touch}_medium"]
    rows = (
        Conversion.objects.filter(_days("day", period))
        .values(*keys)
        .annotate(n=Count("id"))
        .order_by("-n", *keys)[:10]
    )
    return [
        (row[keys[0]] or _("(no campaign)"), row[keys[1]] or "—", row[keys[2]] or "—", row["n"])
        for row in rows
    ]


def _marketing(now: Period, before: Period) -> tuple[list[Figure], list[Table]]:
    events = DailyEvents.objects.aggregate(
        now=Sum("count", filter=_days("day", now)),
        before=Sum("count", filter=_days("day", before)),
        converted=Sum("count", filter=_days("day", now) & Q(name__in=_conversions())),
        converted_before=Sum("count", filter=_days("day", before) & Q(name__in=_conversions())),
    )
    known = Identity.objects.exclude(kind=Identity.Kind.ANONYMOUS_ID)
    people = known.aggregate(
        now=Count("profile_id", distinct=True, filter=_dates("created_at", now)),
        before=Count("profile_id", distinct=True, filter=_dates("created_at", before)),
    )
    figures = [
        Figure(_("Newly known people"), people["now"], people["before"]),
        Figure(_("Events"), events["now"] or 0, events["before"] or 0),
        Figure(_("Conversions"), events["converted"] or 0, events["converted_before"] or 0),
    ]
    by_source = {
        row["source__name"] or "—": row
        for row in known.values("source__name").annotate(
            now=Count("profile_id", distinct=True, filter=_dates("created_at", now)),
            before=Count("profile_id", distinct=True, filter=_dates("created_at", before)),
        )
    }
    acquisition = sorted(
        (
            (name, row["now"], row["before"])
            for name, row in by_source.items()
            if row["now"] or row["before"]
        ),
        key=lambda row: (-row[1], row[0]),
    )
    names = (
        DailyEvents.objects.filter(_days("day", now) | _days("day", before), type="track")
        .values("name")
        .annotate(
            now=Sum("count", filter=_days("day", now)),
            before=Sum("count", filter=_days("day", before)),
        )
        .order_by(F("now").desc(nulls_last=True), "name")[:10]
    )
    campaigns = list(
        DailyEvents.objects.filter(_days("day", now))
        .exclude(utm_campaign="")
        .values("utm_campaign", "utm_source", "utm_medium")
        .annotate(
            events=Sum("count"),
            conversions=Sum("count", filter=Q(name__in=_conversions())),
        )
        .order_by("utm_campaign", "utm_source", "utm_medium")
    )
    ranked = sorted(campaigns, key=lambda row: (-(row["conversions"] or 0), -row["events"]))
    campaign_rows = [
        (
            row["utm_campaign"],
            row["utm_source"],
            row["utm_medium"],
            row["events"],
            row["conversions"] or 0,
        )
        for row in ranked
    ]
    columns = (_("Campaign"), _("Source"), _("Medium"), _("Events"), _("Conversions"))
    tables = [
        Table(
            _("Newly known people by source"), (_("Source"), _("People"), _("Before")), acquisition
        ),
        Table(
            _("Engagement: events by name"),
            (_("Event"), _("Count"), _("Before")),
            [(row["name"] or "—", row["now"] or 0, row["before"] or 0) for row in names],
        ),
        Table(_("Best campaigns"), columns, campaign_rows[:5]),
        Table(_("Worst campaigns"), columns, list(reversed(campaign_rows[5:]))[:5]),
        *_broadcast_tables(now),
        Table(
            _("Conversions by first touch"),
            (_("Campaign"), _("Source"), _("Medium"), _("Conversions")),
            _touches(now, "first"),
        ),
        Table(
            _("Conversions by last touch"),
            (_("Campaign"), _("Source"), _("Medium"), _("Conversions")),
            _touches(now, "last"),
        ),
    ]
    return figures, tables


# Beat counts the people contactable per active purpose every few minutes (an anti-join
# over the profiles and the consent ledger, ~0.5 s a purpose at 1M people); a report uses
# that count while it is this fresh, and counts live otherwise.
SNAPSHOT_FRESH = timedelta(minutes=30)


def _contactable_counts(purposes: list[Purpose]) -> dict[int, int]:
    from django.utils import timezone

    snapshot = figures_snapshot()
    at = snapshot.get("__at__")
    fresh = at is not None and timezone.now() - at <= SNAPSHOT_FRESH
    counts = {}
    for purpose in purposes:
        counted = snapshot.get(f"contactable:{purpose.pk}") if fresh else None
        counts[purpose.pk] = (
            int(counted)
            if counted is not None
            else contactable_profile_ids(purpose=purpose).count()
        )
    return counts


def _consent(now: Period, before: Period) -> tuple[list[Figure], list[Table]]:
    decisions = {
        (row["purpose_id"], row["status"]): row
        for row in DailyConsents.objects.values("purpose_id", "status").annotate(
            now=Sum("count", filter=_days("day", now)),
            before=Sum("count", filter=_days("day", before)),
        )
    }

    def decided(purpose_id: int | None, status: str, key: str) -> int:
        rows = [
            row[key] or 0
            for (pid, st), row in decisions.items()
            if st == status and (purpose_id is None or pid == purpose_id)
        ]
        return sum(rows)

    requests = DataSubjectRequest.objects.aggregate(
        received=Count("id", filter=_dates("received_at", now)),
        received_before=Count("id", filter=_dates("received_at", before)),
        answered=Count("id", filter=_dates("completed_at", now)),
        on_time=Count("id", filter=_dates("completed_at", now) & Q(completed_at__lte=F("due_at"))),
        erasures=Count("id", filter=_dates("completed_at", now) & Q(kind="erasure", status="done")),
    )
    on_time = (
        round(100 * requests["on_time"] / requests["answered"], 1) if requests["answered"] else None
    )
    figures = [
        Figure(
            _("Consents granted"),
            decided(None, "granted", "now"),
            decided(None, "granted", "before"),
        ),
        Figure(
            _("Consents withdrawn"),
            decided(None, "withdrawn", "now"),
            decided(None, "withdrawn", "before"),
            rise_is_bad=True,
        ),
        Figure(_("Requests received"), requests["received"], requests["received_before"]),
        Figure(_("Requests answered on time (%)"), on_time),
        Figure(_("Erasures carried out"), requests["erasures"]),
    ]
    all_purposes = list(Purpose.objects.order_by("name"))
    contactable = _contactable_counts(all_purposes)
    confirmations = {
        (row["purpose_id"], row["method"] == "double_opt_in"): row["n"] or 0
        for row in DailyConsents.objects.filter(
            _days("day", now),
            Q(status="pending_confirmation") | Q(status="granted", method="double_opt_in"),
        )
        .values("purpose_id", "method")
        .annotate(n=Sum("count"))
        .order_by()
    }

    def confirmed(purpose_id: int) -> tuple[int, int, float | None]:
        asked = confirmations.get((purpose_id, False), 0)
        done = confirmations.get((purpose_id, True), 0)
        return asked, done, round(100 * done / asked, 1) if asked else None

    purposes = [
        (
            purpose.name,
            contactable[purpose.pk],
            decided(purpose.pk, "granted", "now"),
            decided(purpose.pk, "withdrawn", "now"),
            decided(purpose.pk, "granted", "before"),
            decided(purpose.pk, "withdrawn", "before"),
            *confirmed(purpose.pk),
        )
        for purpose in all_purposes
    ]
    kind_labels = dict(DataSubjectRequest.Kind.choices)
    kinds = [
        (
            str(kind_labels.get(row["kind"], row["kind"])),
            row["received"],
            row["answered"],
            row["on_time"],
            row["overdue"],
        )
        for row in DataSubjectRequest.objects.values("kind")
        .annotate(
            received=Count("id", filter=_dates("received_at", now)),
            answered=Count("id", filter=_dates("completed_at", now)),
            on_time=Count(
                "id", filter=_dates("completed_at", now) & Q(completed_at__lte=F("due_at"))
            ),
            overdue=Count(
                "id",
                filter=Q(due_at__date__lte=now.end, completed_at__isnull=True)
                & ~Q(status__in=["done", "rejected"]),
            ),
        )
        .order_by("kind")
    ]
    runs = [
        (row["policy__name"], row["runs"], row["matched"] or 0, row["anonymised"] or 0)
        for row in RetentionRun.objects.filter(_dates("started_at", now), dry_run=False)
        .values("policy__name")
        .annotate(runs=Count("id"), matched=Sum("matched"), anonymised=Sum("anonymised"))
        .order_by("policy__name")
    ]
    tables = [
        Table(
            _("Consent per purpose"),
            (
                _("Purpose"),
                _("Contactable now"),
                _("Granted"),
                _("Withdrawn"),
                _("Granted before"),
                _("Withdrawn before"),
                _("Confirmation asked"),
                _("Confirmed"),
                _("Confirmation rate (%)"),
            ),
            purposes,
        ),
        Table(
            _("Data-subject requests"),
            (_("Kind"), _("Received"), _("Answered"), _("On time"), _("Overdue at the end")),
            kinds,
        ),
        Table(_("Retention runs"), (_("Policy"), _("Runs"), _("Matched"), _("Anonymised")), runs),
    ]
    return figures, tables


def _quality(now: Period, before: Period) -> tuple[list[Figure], list[Table]]:
    issues = DataQualityIssue.objects.aggregate(
        open=Count("id", filter=Q(resolved_at__isnull=True)),
        found=Count("id", filter=_dates("detected_at", now)),
        found_before=Count("id", filter=_dates("detected_at", before)),
        resolved=Count("id", filter=_dates("resolved_at", now)),
        resolved_before=Count("id", filter=_dates("resolved_at", before)),
    )
    score = Profile.objects.filter(status=Profile.Status.ACTIVE).aggregate(avg=Avg("quality_score"))
    figures = [
        Figure(
            _("Average quality score"), round(score["avg"], 1) if score["avg"] is not None else None
        ),
        Figure(_("Open issues"), issues["open"]),
        Figure(_("Issues found"), issues["found"], issues["found_before"], rise_is_bad=True),
        Figure(_("Issues resolved"), issues["resolved"], issues["resolved_before"]),
    ]
    rows = [
        (row["field"], row["code"], row["open"], row["found"])
        for row in DataQualityIssue.objects.values("field", "code")
        .annotate(
            open=Count("id", filter=Q(resolved_at__isnull=True)),
            found=Count("id", filter=_dates("detected_at", now)),
        )
        .filter(Q(open__gt=0) | Q(found__gt=0))
        .order_by("-open", "field", "code")
    ]
    return figures, [
        Table(
            _("Issues by field"),
            (_("Field"), _("Issue"), _("Open"), _("Found in the period")),
            rows,
        )
    ]


STAGES = [stage for stage, _label in Profile.Lifecycle.choices]
STAGE_LABELS = dict(Profile.Lifecycle.choices)  # what a steward reads: translated


# Days from first seen to a conversion, grouped for the funnel report.
CONVERT_BUCKETS: tuple[tuple[Any, int, int | None], ...] = (
    (_("The same day"), 0, 0),
    (_("1 to 7 days"), 1, 7),
    (_("8 to 30 days"), 8, 30),
    (_("31 to 90 days"), 31, 90),
    (_("More than 90 days"), 91, None),
)


def _days_to_convert(period: Period) -> dict[int, int]:
    return dict(
        Conversion.objects.filter(_days("day", period), days_to_convert__isnull=False)
        .values_list("days_to_convert")
        .annotate(n=Count("id"))
        .order_by()
    )


def _median(histogram: dict[int, int]) -> float | None:
    total = sum(histogram.values())
    if not total:
        return None
    seen = 0
    ordered = sorted(histogram.items())
    for index, (days, n) in enumerate(ordered):
        seen += n
        if 2 * seen > total:
            return float(days)
        if 2 * seen == total:
            return (days + ordered[index + 1][0]) / 2
    return float(ordered[-1][0])


@dataclass
class Stages:
    """People per stage, per sign-up month and stage, per source and stage."""

    total: dict[str, int] = field(default_factory=dict)
    cohorts: dict[date, dict[str, int]] = field(default_factory=dict)
    sources: dict[int | None, dict[str, int]] = field(default_factory=dict)


def _stages(day: date, *, live: bool) -> Stages:
    """People per stage, cohorts by sign-up month and sources from the lifecycle snapshot
    of `day` (the latest taken by then); with no snapshot yet, counted on the spot when
    `live`, else nothing."""
    taken, counts = lifecycle_snapshot(day=day)
    if taken is None and live:
        counts = lifecycle_count()
    found = Stages()
    for (cohort, stage, source_id), n in counts.items():
        found.total[stage] = found.total.get(stage, 0) + n
        month = found.cohorts.setdefault(cohort, {})
        month[stage] = month.get(stage, 0) + n
        by_source = found.sources.setdefault(source_id, {})
        by_source[stage] = by_source.get(stage, 0) + n
    return found


def _by_source(found: Stages) -> list[tuple[Any, ...]]:
    """Where the people each source brought stand now: per channel (the source's kind)
    and source, people per stage and the share who became customers."""
    sources = Source.objects.in_bulk([pk for pk in found.sources if pk])
    rows = []
    for pk, counts in found.sources.items():
        source = sources.get(pk) if pk else None
        people = sum(counts.values())
        customers = counts.get(Profile.Lifecycle.CUSTOMER, 0)
        rows.append(
            (
                str(source.get_kind_display()) if source else "—",
                source.name if source else str(_("No source")),
                people,
                *(counts.get(stage, 0) for stage in STAGES),
                round(100 * customers / people, 1) if people else None,
            )
        )
    return sorted(rows, key=lambda row: (row[0], -row[2], row[1]))


def _funnel(now: Period, before: Period) -> tuple[list[Figure], list[Table]]:
    found = _stages(now.end, live=True)
    stages, cohorts = found.total, found.cohorts
    previous = _stages(before.end, live=False).total
    total = sum(stages.values())
    total_before = sum(previous.values()) or None
    customers = stages.get(Profile.Lifecycle.CUSTOMER, 0)
    customers_before = previous.get(Profile.Lifecycle.CUSTOMER) if previous else None
    figures = [
        Figure(_("People"), total, total_before),
        Figure(_("Customers"), customers, customers_before),
        Figure(
            _("Customer rate (%)"),
            round(100 * customers / total, 1) if total else None,
            round(100 * customers_before / total_before, 1) if total_before else None,
        ),
    ]
    days_now, days_before = _days_to_convert(now), _days_to_convert(before)
    figures.append(Figure(_("Median days to convert"), _median(days_now), _median(days_before)))
    to_convert = [
        (
            label,
            sum(
                n for days, n in days_now.items() if low <= days and (high is None or days <= high)
            ),
            sum(
                n
                for days, n in days_before.items()
                if low <= days and (high is None or days <= high)
            ),
        )
        for label, low, high in CONVERT_BUCKETS
    ]
    funnel = [
        (
            str(STAGE_LABELS[stage]),
            stages.get(stage, 0),
            round(100 * stages.get(stage, 0) / total, 1) if total else None,
        )
        for stage in STAGES
    ]
    first_month = (now.end.replace(day=1) - timedelta(days=150)).replace(day=1)
    cohorts = {
        month: counts for month, counts in cohorts.items() if first_month <= month <= now.end
    }
    cohort_rows = [
        (f"{month:%Y-%m}", sum(counts.values()), *(counts.get(stage, 0) for stage in STAGES))
        for month, counts in sorted(cohorts.items())
    ]
    return figures, [
        Table(_("People by lifecycle stage"), (_("Stage"), _("People"), _("Share (%)")), funnel),
        Table(
            _("Cohorts by sign-up month: where they were at the end of the period"),
            (_("Month"), _("People"), *(STAGE_LABELS[stage] for stage in STAGES)),
            cohort_rows,
        ),
        Table(
            _("By channel and source: where the people each source brought stand"),
            (
                _("Channel"),
                _("Source"),
                _("People"),
                *(STAGE_LABELS[stage] for stage in STAGES),
                _("Customer rate (%)"),
            ),
            _by_source(found),
        ),
        Table(
            _("Time to convert: days from first seen to a conversion"),
            (_("Days"), _("Conversions"), _("Before")),
            to_convert,
        ),
    ]


BROADCAST_COLUMNS = (
    _("Broadcast"),
    _("Sent"),
    _("Delivered"),
    _("Opened"),
    _("Clicked"),
    pgettext_lazy("messages", "Unsubscribed"),
    _("Open rate (%)"),
    _("Click rate (%)"),
    _("Conversions"),
)


def _broadcast_tables(now: Period) -> list[Table]:
    """The broadcasts of the period, best and worst by click rate (then open rate)."""
    rows = broadcast_rows(start=now.start, end=now.end)
    return [
        Table(_("Best broadcasts"), BROADCAST_COLUMNS, rows[:5]),
        Table(_("Worst broadcasts"), BROADCAST_COLUMNS, list(reversed(rows[5:]))[:5]),
    ]


def _journeys(now: Period, before: Period) -> tuple[list[Figure], list[Table]]:
    totals = message_totals(start=now.start, end=now.end, origin_kind="journey")
    previous = message_totals(start=before.start, end=before.end, origin_kind="journey")
    all_now = message_totals(start=now.start, end=now.end)
    all_before = message_totals(start=before.start, end=before.end)
    figures = [
        Figure(_("Journey messages sent"), totals.sent, previous.sent),
        Figure(_("Journey messages delivered"), totals.delivered, previous.delivered),
        Figure(_("Opened"), totals.opened, previous.opened),
        Figure(_("Clicked"), totals.clicked, previous.clicked),
        Figure(_("Journey conversions"), totals.converted, previous.converted),
        Figure(
            _("Unsubscribed from a journey's email"),
            totals.unsubscribed,
            previous.unsubscribed,
            rise_is_bad=True,
        ),
        Figure(
            _("Click rate (%)"),
            rate(totals.clicked, totals.delivered),
            rate(previous.clicked, previous.delivered),
        ),
        Figure(_("All messages sent"), all_now.sent, all_before.sent),
        Figure(_("Messages skipped"), all_now.skipped, all_before.skipped, rise_is_bad=True),
    ]
    return figures, [
        Table(
            _("Journeys: per step and variant"),
            (
                _("Journey"),
                _("Step"),
                _("Variant"),
                _("Sent"),
                _("Delivered"),
                _("Opened"),
                _("Clicked"),
                pgettext_lazy("messages", "Unsubscribed"),
                _("Converted"),
                _("Click rate (%)"),
            ),
            journey_step_rows(start=now.start, end=now.end),
        ),
        Table(
            _("A/B splits: conversion per variant, lift over the holdout"),
            (
                _("Journey"),
                _("Split"),
                _("Variant"),
                _("Holdout"),
                _("Assigned"),
                _("Converted"),
                _("Conversion rate (%)"),
                _("Lift (%)"),
                _("p-value"),
                _("Significant (p < 0.05)"),
            ),
            ab_rows(start=now.start, end=now.end),
        ),
        Table(
            _("Broadcasts"),
            BROADCAST_COLUMNS,
            broadcast_rows(start=now.start, end=now.end),
        ),
    ]


DEFINITIONS: dict[str, Definition] = {
    definition.code: definition
    for definition in (
        Definition(
            "marketing",
            _("Weekly marketing report"),
            _("Acquisition by source, engagement, conversions, best and worst campaigns."),
            "weekly",
            _marketing,
        ),
        Definition(
            "consent",
            _("Monthly consent and GDPR report"),
            _("Consent per purpose, data-subject requests and deadlines, erasures, retention."),
            "monthly",
            _consent,
        ),
        Definition(
            "quality",
            _("Data-quality report"),
            _("Quality score, issues found and resolved, open issues by field."),
            "weekly",
            _quality,
        ),
        Definition(
            "funnel",
            _("Lifecycle funnel"),
            _("People by lifecycle stage, and cohorts by sign-up month."),
            "monthly",
            _funnel,
        ),
        Definition(
            "journeys",
            _("Journey and A/B performance"),
            _("Messages per journey, step and variant; A/B lift and significance; broadcasts."),
            "weekly",
            _journeys,
        ),
    )
}


def report_build(*, code: str, start: date, end: date) -> Report:
    """One report over [start, end] (inclusive), compared with as many days before it."""
    definition = DEFINITIONS[code]
    period = Period(start, end)
    before = period.before()
    figures, tables = definition.build(period, before)
    return Report(
        code=code,
        title=definition.title,
        start=start,
        end=end,
        previous_start=before.start,
        previous_end=before.end,
        figures=figures,
        tables=tables,
    )
