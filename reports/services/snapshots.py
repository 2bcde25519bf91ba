"""Dashboard figures that grow with the number of people, counted by beat, not per view.

Counting a million profiles, or the people contactable for a purpose (an anti-join over
the consent ledger), takes seconds; the dashboard must answer in a fraction of one.
"""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.utils import timezone

from reports.models import DailyLifecycle, FigureSnapshot
from reports.selectors import figures_count, lifecycle_count


def figures_snapshot_refresh(*, today: date | None = None) -> int:
    """Count the costly figures now and keep them for the dashboard; how many."""
    now = timezone.now()
    figures = figures_count(today=today)
    FigureSnapshot.objects.bulk_create(
        [
            FigureSnapshot(name=name, value=value, computed_at=now)
            for name, value in figures.items()
        ],
        update_conflicts=True,
        unique_fields=["name"],
        update_fields=["value", "computed_at"],
    )
    FigureSnapshot.objects.exclude(name__in=list(figures)).delete()
    return len(figures)


@transaction.atomic
def lifecycle_snapshot_take(*, today: date | None = None) -> int:
    """Count active people per sign-up month, lifecycle stage and source into today's
    snapshot (replacing an earlier count of the same day); how many rows."""
    today = today or timezone.localdate()
    rows = [
        DailyLifecycle(day=today, cohort=cohort, stage=stage, source_id=source_id, count=n)
        for (cohort, stage, source_id), n in lifecycle_count().items()
    ]
    DailyLifecycle.objects.filter(day=today).delete()
    DailyLifecycle.objects.bulk_create(rows)
    return len(rows)
