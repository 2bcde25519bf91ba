"""Celery tasks of the reports app (queue "reports"): each calls one service."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError

RETRY: dict[str, Any] = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": True,
    "max_retries": 5,
}


@shared_task(**RETRY)
def rollups_catch_up_task() -> int:
    """Add the ledger rows appended since the last run to the daily rollups."""
    from reports.services import rollups_catch_up

    return sum(result.rows for result in rollups_catch_up())


@shared_task(**RETRY)
def rollups_rebuild_task() -> int:
    """Recount every daily rollup from its ledger (the nightly safety net)."""
    from reports.services import rollups_rebuild

    return sum(result.rows for result in rollups_rebuild())


@shared_task(**RETRY)
def report_deliveries_task() -> int:
    """Email the reports whose schedule is due (each period's report once)."""
    from reports.services import report_deliveries_run

    return report_deliveries_run().sent


@shared_task(**RETRY)
def figures_snapshot_task() -> int:
    """Count the dashboard's costly figures (people, contactable people per purpose)."""
    from reports.services import figures_snapshot_refresh

    return figures_snapshot_refresh()


@shared_task(**RETRY)
def lifecycle_snapshot_task() -> int:
    """Count today's people per sign-up month and lifecycle stage (the funnel's cohorts)."""
    from reports.services import lifecycle_snapshot_take

    return lifecycle_snapshot_take()
