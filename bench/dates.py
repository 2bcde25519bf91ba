"""Date triggers on generated people: a birthday journey's tick with and without its index.

`cdp_generate` fills a fresh database (`--profiles`, default 1,000,000; most known people
carry a date of birth, in the time zones of their cities). A live journey greets each
person on their birthday at 09:00 in their time zone (`{"type": "date", "field":
"date_of_birth", "yearly": true, "time": "09:00"}`). The journeys' tick (the date part
of `journeys_catch_up`: for each zone whose 09:00 has come, one `INSERT … SELECT` of the
people born on that month and day) is timed, each run in a transaction rolled back:
- the first tick of the day, which enrols the day's birthdays;
- a steady tick, once they are enrolled (every tick after the first, every 10 s);
each with `profile_birthday_idx` (the month and day of birth) and with the index dropped,
where PostgreSQL reads the whole profile table (the reference, in the same run). Both
sides must enrol the same people. Target: the steady tick ≤ 0.5 × reading the table.
Usage: python bench/dates.py [--profiles 1000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import emit, print_table, setup_django, timed

TARGET_STEADY_RATIO = 0.5
INDEX = "profile_birthday_idx"


def _journey() -> Any:
    from django.utils import timezone

    from campaigns.journeys.services import journey_activate, journey_create
    from campaigns.models import Journey
    from consent.models import Purpose
    from consent.services import purpose_wording_add

    purpose = Purpose.objects.create(code="birthday", name="Birthday wishes", channel="email")
    purpose_wording_add(purpose=purpose, text="Wish me a happy birthday.")
    definition = {
        "trigger": {"type": "date", "field": "date_of_birth", "yearly": True, "time": "09:00"},
        "start": "done",
        "steps": {"done": {"type": "exit"}},
    }
    journey = journey_create(name="Birthday", purpose_id=purpose.pk, definition=definition)
    journey_activate(journey_id=journey.pk)
    # Activated a day ago, so that every zone whose 09:00 came today is due now.
    Journey.objects.filter(pk=journey.pk).update(activated_at=timezone.now() - timedelta(days=1))
    return journey


def _tick(now: datetime, *, indexed: bool, enrol_first: bool) -> tuple[float, int]:
    """Seconds of one date tick and how many it enrolled, rolled back; without the index,
    it is dropped inside the transaction (and comes back with the rollback)."""
    from django.db import connection, transaction

    from campaigns.journeys.triggers import _dates

    class Rollback(Exception):
        pass

    result: tuple[float, int] = (0.0, 0)
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                if not indexed:
                    cursor.execute(f"DROP INDEX {INDEX}")
            if enrol_first:
                _dates(now)  # the day's birthdays enrolled: the next tick is a steady one
            start = time.perf_counter()
            enrolled = _dates(now)
            result = (time.perf_counter() - start, enrolled)
            raise Rollback
    except Rollback:
        pass
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    setup_django()
    from django.db import connection
    from django.utils import timezone

    from profiles.models import Profile
    from profiles.services.generate import profiles_generate

    with timed() as generation:
        profiles_generate(profiles=args.profiles, events=args.profiles, seed=7)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    _journey()
    born = Profile.objects.exclude(date_of_birth=None).count()
    now = timezone.now()

    runs: dict[tuple[str, bool], list[float]] = {}
    enrolled: dict[tuple[str, bool], set[int]] = {}
    for _ in range(args.repeat):  # alternately, so that both sides see the same machine
        for indexed in (True, False):
            for kind, first in (("first", False), ("steady", True)):
                seconds, count = _tick(now, indexed=indexed, enrol_first=first)
                runs.setdefault((kind, indexed), []).append(seconds)
                enrolled.setdefault((kind, indexed), set()).add(count)
    for kind in ("first", "steady"):
        if enrolled[(kind, True)] != enrolled[(kind, False)] or len(enrolled[(kind, True)]) != 1:
            sys.exit(f"the {kind} tick enrolled {enrolled} people with and without the index")
    if enrolled[("steady", True)] != {0}:
        sys.exit("a steady tick enrolled someone twice")
    best = {key: min(values) for key, values in runs.items()}
    figures = {
        "profiles": args.profiles,
        "born": born,
        "birthdays_enrolled": next(iter(enrolled[("first", True)])),
        "generate_seconds": round(generation["seconds"], 1),
        "first_tick_ms": round(1000 * best[("first", True)], 1),
        "first_tick_table_ms": round(1000 * best[("first", False)], 1),
        "steady_tick_ms": round(1000 * best[("steady", True)], 1),
        "steady_tick_median_ms": round(1000 * statistics.median(runs[("steady", True)]), 1),
        "steady_tick_table_ms": round(1000 * best[("steady", False)], 1),
        "steady_vs_table": round(best[("steady", True)] / best[("steady", False)], 2),
        "first_vs_table": round(best[("first", True)] / best[("first", False)], 2),
        "targets": {"steady_vs_table": TARGET_STEADY_RATIO},
    }
    print_table(
        f"Birthday journey tick, {args.profiles:,} people ({born:,} with a date of birth), "
        f"best of {args.repeat}",
        ("tick", "seconds", "ratio", "target"),
        [
            ("first of the day, reading the table", best[("first", False)], 1.0, ""),
            (
                "first of the day, by the index",
                best[("first", True)],
                figures["first_vs_table"],
                "",
            ),
            ("steady, reading the table", best[("steady", False)], 1.0, ""),
            (
                "steady, by the index",
                best[("steady", True)],
                figures["steady_vs_table"],
                f"≤ {TARGET_STEADY_RATIO}",
            ),
        ],
    )
    emit(figures)


if __name__ == "__main__":
    main()
