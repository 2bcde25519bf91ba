"""Recount (backfill) the daily rollups from the event log, the consent ledger, the outbox
and the journeys, and take today's lifecycle snapshot."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from reports.services import lifecycle_snapshot_take, rollups_catch_up, rollups_rebuild


class Command(BaseCommand):
    help = "Rebuild every daily rollup from its ledger (--catch-up: only what is new)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--catch-up", action="store_true", help="Count only the rows added since last run."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        results = rollups_catch_up() if options["catch_up"] else rollups_rebuild()
        for result in results:
            self.stdout.write(
                f"{result.ledger}: {result.rows} rows counted, position {result.position}, "
                f"{result.gaps} gaps"
            )
        if not options["catch_up"]:
            self.stdout.write(f"lifecycle: {lifecycle_snapshot_take()} rows counted")
