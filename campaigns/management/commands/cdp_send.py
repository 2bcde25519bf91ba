"""Send what the outbox owes now, in this process: `manage.py cdp_send [--loop]`."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from campaigns.services import outbox_send_due


class Command(BaseCommand):
    help = "Claim due outbox messages and send them (what the periodic task does)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch", type=int, default=100, help="Messages claimed at once.")
        parser.add_argument(
            "--loop",
            action="store_true",
            help="Keep going, polling every second, until interrupted.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            result = outbox_send_due(limit=options["batch"], budget_seconds=3600)
            skipped = sum(result.skipped.values())
            self.stdout.write(f"{result.sent} sent, {result.failed} failed, {skipped} skipped")
            if not options["loop"]:
                return
            time.sleep(1)
