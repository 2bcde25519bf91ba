"""What the message rollup says about journeys, A/B variants and broadcasts.

Reads `DailyMessages` only (and the names of journeys and broadcasts). Delivered is sent
less hard bounces; opened and clicked are people's (machines apart); a journey's
conversions are attributed to its last step and the person's variant within its goal's
window. Significance comes from the journeys' own test (`ab_compare`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db.models import Count, Q, Sum

from campaigns.journeys.selectors import ab_compare
from campaigns.models import Broadcast, Journey
from reports.models import Conversion, DailyMessages

Metric = DailyMessages.Metric
ALPHA = 0.05


@dataclass
class Counts:
    sent: int = 0
    hard_bounced: int = 0
    opened: int = 0
    clicked: int = 0
    unsubscribed: int = 0
    converted: int = 0
    skipped: int = 0
    assigned: int = 0
    by_metric: dict[str, int] = field(default_factory=dict)

    @property
    def delivered(self) -> int:
        return max(self.sent - self.hard_bounced, 0)

    def add(self, metric: str, reason: str, n: int) -> None:
        self.by_metric[metric] = self.by_metric.get(metric, 0) + n
        if metric == Metric.SENT:
            self.sent += n
        elif metric == Metric.BOUNCED and reason == "hard":
            self.hard_bounced += n
        elif metric == Metric.OPENED:
            self.opened += n
        elif metric == Metric.CLICKED:
            self.clicked += n
        elif metric == Metric.UNSUBSCRIBED:
            self.unsubscribed += n
        elif metric == Metric.CONVERTED:
            self.converted += n
        elif metric == Metric.SKIPPED:
            self.skipped += n
        elif metric == Metric.ASSIGNED:
            self.assigned += n


def _between(start: date, end: date) -> Q:
    return Q(day__gte=start, day__lte=end)


def message_counts(
    *, start: date, end: date, keys: tuple[str, ...], origin_kind: str | None = None
) -> dict[tuple[Any, ...], Counts]:
    """The rollup's counts over [start, end] grouped by `keys`."""
    rows = DailyMessages.objects.filter(_between(start, end))
    if origin_kind is not None:
        rows = rows.filter(origin_kind=origin_kind)
    found: dict[tuple[Any, ...], Counts] = defaultdict(Counts)
    for row in rows.values(*keys, "metric", "reason").annotate(n=Sum("count")).order_by():
        found[tuple(row[key] for key in keys)].add(row["metric"], row["reason"], row["n"])
    return dict(found)


def rate(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def journey_step_rows(*, start: date, end: date) -> list[tuple[Any, ...]]:
    """Per journey, step and variant: sent, delivered, opened, clicked, unsubscribed,
    converted."""
    counts = message_counts(
        start=start, end=end, keys=("origin_id", "step", "variant"), origin_kind="journey"
    )
    names = dict(Journey.objects.filter(pk__in={k[0] for k in counts}).values_list("pk", "name"))
    rows = []
    for (journey_id, step, variant), item in sorted(
        counts.items(), key=lambda kv: (names.get(kv[0][0], ""), kv[0][1], kv[0][2])
    ):
        if not (item.sent or item.converted or item.skipped):
            continue
        rows.append(
            (
                names.get(journey_id, f"#{journey_id}"),
                step,
                variant or "—",
                item.sent,
                item.delivered,
                item.opened,
                item.clicked,
                item.unsubscribed,
                item.converted,
                rate(item.clicked, item.delivered),
            )
        )
    return rows


def _holdouts() -> dict[int, dict[str, dict[str, bool]]]:
    """Per journey, its current version's split steps: each variant, a holdout or not."""
    found: dict[int, dict[str, dict[str, bool]]] = {}
    for journey in Journey.objects.select_related("version").exclude(version=None):
        steps = (journey.version.definition or {}).get("steps", {}) if journey.version else {}
        for key, step in steps.items():
            if isinstance(step, dict) and step.get("type") == "split":
                found.setdefault(journey.pk, {})[key] = {
                    str(v.get("name")): bool(v.get("holdout"))
                    for v in step.get("variants", [])
                    if isinstance(v, dict)
                }
    return found


def ab_rows(*, start: date, end: date) -> list[tuple[Any, ...]]:
    """Per journey split and variant: people assigned in the period, their conversions,
    the rate, the lift over the holdout (or the first variant) and the test's p-value."""
    counts = message_counts(
        start=start, end=end, keys=("origin_id", "step", "variant"), origin_kind="journey"
    )
    assigned: dict[tuple[int, str], dict[str, int]] = defaultdict(dict)
    converted: dict[tuple[int, str], int] = defaultdict(int)
    for (journey_id, step, variant), item in counts.items():
        if item.assigned:
            assigned[(journey_id, step)][variant] = item.assigned
        if item.converted and variant:
            converted[(journey_id, variant)] += item.converted
    if not assigned:
        return []
    holdouts = _holdouts()
    names = dict(Journey.objects.filter(pk__in={k[0] for k in assigned}).values_list("pk", "name"))
    rows = []
    for (journey_id, step), variants in sorted(
        assigned.items(), key=lambda kv: (names.get(kv[0][0], ""), kv[0][1])
    ):
        flags = holdouts.get(journey_id, {}).get(step, {})
        order = [name for name in flags if name in variants] + sorted(
            name for name in variants if name not in flags
        )
        base = next((name for name in order if flags.get(name)), order[0])
        base_n, base_k = variants[base], converted[(journey_id, base)]
        base_rate = base_k / base_n if base_n else 0.0
        for name in order:
            n, k = variants[name], converted[(journey_id, name)]
            lift = p_value = None
            significant = ""
            if name != base:
                lift = round(100 * ((k / n) / base_rate - 1), 1) if base_rate and n else None
                p_value, _test = ab_compare(
                    converted=k, enrolled=n, base_converted=base_k, base_enrolled=base_n
                )
                significant = "✓" if p_value is not None and p_value < ALPHA else ""
            rows.append(
                (
                    names.get(journey_id, f"#{journey_id}"),
                    step,
                    name,
                    "✓" if flags.get(name) else "",
                    n,
                    k,
                    rate(k, n),
                    lift,
                    None if p_value is None else round(p_value, 4),
                    significant,
                )
            )
    return rows


def broadcast_conversions(*, start: date, end: date) -> dict[int, int]:
    """Conversions in the period credited to each broadcast: the last email the person
    clicked within CDP_ATTRIBUTION_DAYS before converting came from it."""
    return dict(
        Conversion.objects.filter(day__gte=start, day__lte=end, message_kind="broadcast")
        .values_list("message_origin")
        .annotate(n=Count("id"))
        .order_by()
    )


def broadcast_rows(*, start: date, end: date) -> list[tuple[Any, ...]]:
    """Broadcasts with messages sent in the period, best click rate first, with the
    conversions their clicks brought."""
    counts = message_counts(start=start, end=end, keys=("origin_id",), origin_kind="broadcast")
    names = dict(Broadcast.objects.filter(pk__in={k[0] for k in counts}).values_list("pk", "name"))
    converted = broadcast_conversions(start=start, end=end)
    rows = [
        (
            names.get(broadcast_id, f"#{broadcast_id}"),
            item.sent,
            item.delivered,
            item.opened,
            item.clicked,
            item.unsubscribed,
            rate(item.opened, item.delivered),
            rate(item.clicked, item.delivered),
            converted.get(broadcast_id, 0),
        )
        for (broadcast_id,), item in counts.items()
        if item.sent
    ]
    return sorted(rows, key=lambda row: (-(row[7] or 0), -(row[6] or 0), row[0]))


def message_totals(*, start: date, end: date, origin_kind: str | None = None) -> Counts:
    """Every message counted over [start, end]."""
    total = Counts()
    for item in message_counts(start=start, end=end, keys=(), origin_kind=origin_kind).values():
        for metric, n in item.by_metric.items():
            total.by_metric[metric] = total.by_metric.get(metric, 0) + n
        total.sent += item.sent
        total.hard_bounced += item.hard_bounced
        total.opened += item.opened
        total.clicked += item.clicked
        total.unsubscribed += item.unsubscribed
        total.converted += item.converted
        total.skipped += item.skipped
        total.assigned += item.assigned
    return total
