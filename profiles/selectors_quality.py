"""Reads of data quality: the steward's overview, and profiles filtered by open issue."""

from __future__ import annotations

from typing import Any

from django.db.models import Avg, Count, Exists, OuterRef, Q, QuerySet

from profiles.models import DataQualityIssue, MaintenanceRun, Profile

SCORE_BANDS = ((0, 49, "poor"), (50, 79, "fair"), (80, 100, "good"))


def open_issue_condition(*, code: str) -> Exists:
    """Profiles with an open issue of `code` (for the profile list's filter)."""
    return Exists(
        DataQualityIssue.objects.filter(
            profile_id=OuterRef("pk"), code=code, resolved_at__isnull=True
        )
    )


def quality_overview() -> dict[str, Any]:
    """Open issues per type (issues and profiles), score bands, and the latest runs."""
    labels = dict(DataQualityIssue.Code.choices)
    counts = {
        row["code"]: row
        for row in DataQualityIssue.objects.filter(resolved_at__isnull=True)
        .values("code")
        .order_by()
        .annotate(issues=Count("id"), profiles=Count("profile", distinct=True))
    }
    issue_types = [
        {
            "code": code,
            "label": label,
            "issues": counts.get(code, {}).get("issues", 0),
            "profiles": counts.get(code, {}).get("profiles", 0),
        }
        for code, label in labels.items()
    ]
    active = Profile.objects.exclude(status__in=[Profile.Status.MERGED, Profile.Status.ERASED])
    bands = active.aggregate(
        average=Avg("quality_score"),
        unscored=Count("pk", filter=Q(quality_score__isnull=True)),
        **{
            name: Count("pk", filter=Q(quality_score__gte=low, quality_score__lte=high))
            for low, high, name in SCORE_BANDS
        },
    )
    return {
        "issue_types": issue_types,
        "open_issues": sum(row["issues"] for row in issue_types),
        "average_score": round(bands.pop("average") or 0, 1),
        "bands": bands,
        "runs": list(MaintenanceRun.objects.order_by("-id")[:10]),
    }


def profiles_with_open_issue(*, code: str) -> QuerySet[Profile]:
    """Profiles with an open issue of `code`, newest first."""
    return Profile.objects.filter(open_issue_condition(code=code)).order_by("-id")
