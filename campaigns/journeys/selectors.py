"""Reads on journeys: lists, live counts per step, per-step and per-variant results."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery

from campaigns.journeys.definition import split_variants
from campaigns.journeys.engine import version_definition
from campaigns.models import Enrolment, Journey, Message, StepLog


def journey_list() -> QuerySet[Journey]:
    return Journey.objects.select_related("purpose", "version").order_by("name")


def profile_enrolments(*, profile_id: int) -> QuerySet[Enrolment]:
    return (
        Enrolment.objects.filter(profile_id=profile_id)
        .select_related("journey", "version")
        .order_by("-entered_at", "-id")
    )


@dataclass
class StepCounts:
    entered: int = 0
    waiting: int = 0
    passed: int = 0
    exited: int = 0
    converted: int = 0


def journey_step_counts(*, journey: Journey) -> dict[str, StepCounts]:
    """Per step: reached (entered), there now (waiting), done (passed), ended there, converted.

    Four grouped counts over the journey's rows, whatever its size.
    """
    counts: dict[str, StepCounts] = defaultdict(StepCounts)
    passed = StepLog.objects.filter(journey=journey).values("step").annotate(n=Count("id"))
    for row in passed.order_by():
        counts[row["step"]].passed = row["n"]
    at = (
        Enrolment.objects.filter(journey=journey)
        .values("step")
        .annotate(
            waiting=Count("id", filter=Q(status=Enrolment.Status.RUNNING)),
            exited=Count("id", filter=Q(status=Enrolment.Status.EXITED)),
        )
        .order_by()
    )
    for row in at:
        counts[row["step"]].waiting = row["waiting"]
        counts[row["step"]].exited = row["exited"]
    converted = (
        Enrolment.objects.filter(journey=journey, converted_at__isnull=False)
        .values("converted_step")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in converted:
        counts[row["converted_step"]].converted = row["n"]
    for item in counts.values():
        item.entered = item.passed + item.waiting
    return dict(counts)


@dataclass
class SendStats:
    step: str
    variant: str
    messages: int = 0
    sent: int = 0
    skipped: int = 0
    opened: int = 0
    clicked: int = 0


def journey_send_stats(*, journey: Journey) -> list[SendStats]:
    """Per send step and variant: messages, sent, skipped, opened and clicked (machines out)."""
    logs = StepLog.objects.filter(pk=OuterRef("origin_id"))
    rows = (
        Message.objects.filter(
            origin_kind=Message.Origin.JOURNEY_STEP,
            origin_id__in=StepLog.objects.filter(journey=journey).values("pk"),
        )
        .annotate(
            step=Subquery(logs.values("step")[:1]),
            variant=Subquery(
                Enrolment.objects.filter(steps__pk=OuterRef("origin_id")).values("variant")[:1]
            ),
        )
        .values("step", "variant")
        .annotate(
            messages=Count("id"),
            sent=Count("id", filter=Q(status=Message.Status.SENT)),
            skipped=Count("id", filter=Q(status=Message.Status.SKIPPED)),
            opened=Count("id", filter=Q(opened_at__isnull=False)),
            clicked=Count("id", filter=Q(clicked_at__isnull=False)),
        )
        .order_by("step", "variant")
    )
    return [SendStats(**row) for row in rows]


@dataclass
class VariantResult:
    name: str
    enrolled: int
    converted: int
    rate: float
    holdout: bool = False
    lift: float | None = None  # over the holdout (or the first variant without one)
    p_value: float | None = None
    test: str = ""
    significant: bool = False


@dataclass
class SplitResult:
    step: str
    variants: list[VariantResult] = field(default_factory=list)


def ab_compare(
    *, converted: int, enrolled: int, base_converted: int, base_enrolled: int
) -> tuple[float | None, str]:
    """The p-value of a difference in conversion between two groups, and the test used:
    Fisher's exact test when an expected count is under 5, else chi-squared (Yates)."""
    from scipy.stats import chi2_contingency, fisher_exact

    if enrolled == 0 or base_enrolled == 0:
        return None, ""
    table = [
        [converted, enrolled - converted],
        [base_converted, base_enrolled - base_converted],
    ]
    total = enrolled + base_enrolled
    yes = converted + base_converted
    expected = [
        row * col / total for row in (enrolled, base_enrolled) for col in (yes, total - yes)
    ]
    if min(expected) < 5:
        return float(fisher_exact(table)[1]), "fisher"
    if yes in (0, total):
        return 1.0, "chi2"
    return float(chi2_contingency(table)[1]), "chi2"


def journey_split_results(*, journey: Journey, alpha: float = 0.05) -> list[SplitResult]:
    """Per split step of the current version: each variant's conversion, its lift over the
    holdout (or the first variant) and whether the difference is significant."""
    if journey.version_id is None:
        return []
    definition = version_definition(journey.version_id)
    rows = (
        Enrolment.objects.filter(journey=journey)
        .exclude(variant="")
        .values("variant")
        .annotate(n=Count("id"), k=Count("id", filter=Q(converted_at__isnull=False)))
        .order_by()
    )
    by_name: dict[str, tuple[int, int]] = {r["variant"]: (r["n"], r["k"]) for r in rows}
    results = []
    for step in definition.steps.values():
        if step.type != "split":
            continue
        variants = split_variants(step)
        base_name = next((n for n, _, h in variants if h), variants[0][0])
        base_n, base_k = by_name.get(base_name, (0, 0))
        result = SplitResult(step=step.key)
        for name, _, holdout in variants:
            n, k = by_name.get(name, (0, 0))
            item = VariantResult(
                name=name, enrolled=n, converted=k, rate=k / n if n else 0.0, holdout=holdout
            )
            if name != base_name:
                base_rate = base_k / base_n if base_n else 0.0
                item.lift = (item.rate / base_rate - 1) if base_rate else None
                item.p_value, item.test = ab_compare(
                    converted=k, enrolled=n, base_converted=base_k, base_enrolled=base_n
                )
                item.significant = item.p_value is not None and item.p_value < alpha
            result.variants.append(item)
        results.append(result)
    return results


def journey_graph(*, journey: Journey) -> dict[str, Any]:
    """The current version's steps laid out in columns (breadth-first from the start), with
    their edges and live counts: what the admin draws."""
    if journey.version_id is None:
        return {"columns": [], "edges": [], "counts": {}}
    definition = version_definition(journey.version_id)
    depth = {definition.start: 0}
    queue = [definition.start]
    while queue:
        key = queue.pop(0)
        for target in definition.steps[key].targets.values():
            if target not in depth:
                depth[target] = depth[key] + 1
                queue.append(target)
    for key in definition.steps:
        depth.setdefault(key, max(depth.values()) + 1)
    columns: dict[int, list[str]] = defaultdict(list)
    for key, level in depth.items():
        columns[level].append(key)
    edges = [
        (key, outcome, target)
        for key, step in definition.steps.items()
        for outcome, target in step.targets.items()
    ]
    return {
        "columns": [columns[level] for level in sorted(columns)],
        "edges": edges,
        "steps": definition.steps,
        "trigger": definition.trigger,
        "counts": journey_step_counts(journey=journey),
    }
