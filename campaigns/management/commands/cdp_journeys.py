"""Run the journeys in this process: `manage.py cdp_journeys [--loop] [--batch N]`."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from campaigns.journeys.engine import journeys_advance
from campaigns.journeys.triggers import journeys_catch_up


class Command(BaseCommand):
    help = "Read new events (enrol, wake, exit, convert) and advance due enrolments."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch", type=int, default=5000, help="Enrolments claimed at once.")
        parser.add_argument(
            "--loop",
            action="store_true",
            help="Keep going, every second, until interrupted.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            caught = journeys_catch_up()
            advanced = journeys_advance(limit=options["batch"], budget_seconds=3600)
            self.stdout.write(
                f"{caught.enrolled} enrolled, {advanced.steps} steps, "
                f"{advanced.messages} messages, {advanced.finished} finished"
            )
            if not options["loop"]:
                return
            time.sleep(1)
