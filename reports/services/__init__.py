"""Writes of the reports app: rollups caught up by cursor and rebuilt. Import from here."""

from reports.services.rollups import (
    LEDGERS,
    RollupCatchUp,
    rollups_catch_up,
    rollups_rebuild,
)

__all__ = ["LEDGERS", "RollupCatchUp", "rollups_catch_up", "rollups_rebuild"]
