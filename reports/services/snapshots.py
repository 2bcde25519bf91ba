"""Dashboard figures that grow with the number of people, counted by beat, not per view.

Counting a million profiles, or the people contactable for a purpose (an anti-join over
the consent ledger), takes seconds; the dashboard must answer in a fraction of one.
"""

from __future__ import annotations

from datetime import date

from django.utils import timezone

from reports.models import FigureSnapshot
from reports.selectors import figures_count


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
