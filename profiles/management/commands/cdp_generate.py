"""Append synthetic people for benchmarks and demos, with a progress bar."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from tqdm import tqdm

from profiles.errors import ProfilesError
from profiles.services.generate import profiles_generate


class Command(BaseCommand):
    help = (
        "Append N synthetic profiles (names, job titles, countries, traits, lifecycle "
        "stages, email or anonymous identities), exactly M events over the last year "
        "(a power law per person) and their consent decisions, in one transaction. "
        "PostgreSQL: COPY (1M profiles + 5M events: ~111 s of server CPU, ~35 s of Python in "
        "parallel); SQLite: bulk_create, for a few thousand. The same --seed gives the same "
        "people."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--profiles", type=int, required=True, help="How many profiles.")
        parser.add_argument("--events", type=int, default=0, help="How many events in all.")
        parser.add_argument("--seed", type=int, default=0, help="Random seed (default 0).")
        parser.add_argument(
            "--source-slug",
            default="generated",
            help="The source the rows come from; created if missing (default: generated).",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        bar = tqdm(
            total=options["profiles"],
            unit=" profiles",
            unit_scale=True,
            disable=options["no_progress"] or options["profiles"] <= 0,
        )
        events = [0]

        def progress(profiles: int, new_events: int) -> None:
            events[0] += new_events
            bar.update(profiles)
            bar.set_postfix(events=f"{events[0]:,}", refresh=False)

        try:
            result = profiles_generate(
                profiles=options["profiles"],
                events=options["events"],
                seed=options["seed"],
                source_slug=options["source_slug"],
                progress=progress,
            )
        except ProfilesError as exc:
            details = "; ".join(f"{k}: {' '.join(v)}" for k, v in (exc.fields or {}).items())
            raise CommandError(f"{exc} {details}".strip()) from exc
        finally:
            bar.close()
        self.stdout.write(
            f"Generated {result.profiles:,} profiles, {result.identities:,} identities, "
            f"{result.events:,} events and {result.consent_records:,} consent records "
            f"in {result.seconds:.1f} s ({connection.vendor})."
        )
