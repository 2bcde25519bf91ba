"""Writes of the reports app: rollups caught up by cursor and rebuilt. Import from here."""

from reports.services.deliveries import (
    DeliveryRun,
    report_deliveries_run,
    report_schedule_create,
)
from reports.services.rollups import (
    LEDGERS,
    RollupCatchUp,
    rollups_catch_up,
    rollups_rebuild,
)
from reports.services.snapshots import figures_snapshot_refresh, lifecycle_snapshot_take

__all__ = [
    "LEDGERS",
    "DeliveryRun",
    "RollupCatchUp",
    "figures_snapshot_refresh",
    "lifecycle_snapshot_take",
    "report_deliveries_run",
    "report_schedule_create",
    "rollups_catch_up",
    "rollups_rebuild",
]
