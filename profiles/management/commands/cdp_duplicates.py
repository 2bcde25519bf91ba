"""Look for probable duplicates now: new and changed profiles, or all of them with --full."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from profiles.services.duplicates import (
    ScanCounts,
    duplicates_full_scan_batch,
    duplicates_full_scan_start,
    duplicates_scan_batch,
)


class Command(BaseCommand):
    help = (
        "Compare profiles created or changed since the last scan (the audit log cursor), "
        "or every active profile with --full; pairs above the review threshold join the "
        "steward queue (admin -> Duplicate candidates)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--full", action="store_true", help="compare every active profile")

    def handle(self, *args: Any, **options: Any) -> None:
        total = ScanCounts()
        if options["full"]:
            scan = duplicates_full_scan_start()
            with tqdm(total=scan.total or 0, unit="profile", disable=None) as bar:
                while True:
                    counts = duplicates_full_scan_batch(scan_id=scan.pk)
                    total.add(counts)
                    bar.update(counts.profiles_scanned)
                    if not counts.has_more:
                        break
        else:
            with tqdm(unit="profile", disable=None) as bar:
                while True:
                    counts = duplicates_scan_batch()
                    total.add(counts)
                    bar.update(counts.profiles_scanned)
                    if not counts.has_more:
                        break
        self.stdout.write(
            f"{total.profiles_scanned} profiles scanned, {total.pairs_compared} pairs compared, "
            f"{total.candidates_found} new candidates, {total.auto_merged} merged automatically."
        )
