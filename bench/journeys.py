"""Journeys: enrolment from a segment, non-send steps advanced as sets, waits' lateness.

- enrol: N people who entered a segment (their "Segment Entered" events in the log) are
  enrolled by the journeys' event-log reader (`journeys_catch_up`), against one
  hand-written `INSERT … SELECT` of the same enrolment rows from the same events, in the
  same run (target ≤ 3×);
- steps: the engine advances the enrolments through a split (A/B with a holdout), a wait,
  a branch on a segment rule, a profile update and the exit, with P processes claiming
  batches (FOR UPDATE SKIP LOCKED); figure: step-log rows written per second (target
  ≥ 2,000/s);
- lateness: N waits that end within the same minute, advanced by P processes woken every
  10 s as beat wakes them; lateness = when the step ran − when it was due (p95 ≤ 60 s).
Usage: BENCH_DATABASE_URL=postgres://… python bench/journeys.py [--people 100000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from datetime import timedelta
from typing import Any

from _harness import emit, print_table, setup_django, timed

TARGET_ENROL_VS_SQL = 3.0
TARGET_STEPS_PER_S = 2_000
TARGET_LATENESS_P95_S = 60.0
TICK_SECONDS = 10


def _populate(count: int) -> tuple[Any, Any]:
    from django.db import connection

    from campaigns.journeys.services import journey_activate, journey_create
    from consent.models import Purpose
    from consent.services import purpose_wording_add
    from profiles.models import Profile
    from segments.services import segment_create, segment_refresh

    newsletter = Purpose.objects.create(code="newsletter", name="Newsletter", channel="email")
    purpose_wording_add(purpose=newsletter, text="Send me the newsletter.")
    Profile.objects.bulk_create(
        [
            Profile(
                email=f"person{n}@example.org",
                city="Lyon" if n % 2 else "",
                timezone="Europe/Paris",
                status="active",
            )
            for n in range(count)
        ],
        batch_size=5000,
    )
    # A dynamic segment not refreshed yet: its first refresh, after the journey is live,
    # lets everyone in at once, one "Segment Entered" event each.
    segment = segment_create(name="Bench sign-ups", rule={"field": "email", "op": "is_set"})
    definition = {
        "trigger": {"type": "segment_entered", "segment": segment.pk},
        "start": "ab",
        "steps": {
            "ab": {
                "type": "split",
                "variants": [
                    {"name": "a", "weight": 45, "next": "wait"},
                    {"name": "b", "weight": 45, "next": "wait"},
                    {"name": "control", "weight": 10, "next": "wait", "holdout": True},
                ],
            },
            "wait": {"type": "wait", "duration": {"days": 1}, "next": "city"},
            "city": {
                "type": "branch",
                "rule": {"field": "city", "op": "is_set"},
                "yes": "lead",
                "no": "done",
            },
            "lead": {"type": "update_profile", "lifecycle_stage": "lead", "next": "done"},
            "done": {"type": "exit"},
        },
    }
    journey = journey_create(name="Bench", purpose_id=newsletter.pk, definition=definition)
    journey_activate(journey_id=journey.pk)
    from campaigns.journeys.triggers import journeys_catch_up

    journeys_catch_up()  # the cursor starts at the end of the log, before the sign-ups
    segment_refresh(segment_id=segment.pk)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    journey.refresh_from_db()
    return journey, segment


def _reference_enrol(journey: Any, segment: Any) -> float:
    """One hand-written INSERT … SELECT of the same rows from the same events."""
    from django.db import connection

    with timed() as box, connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO campaigns_enrolment (journey_id, version_id, profile_id, status, step,"
            " due_at, visit, variant, source, entered_at, exit_reason, converted_step) "
            "SELECT DISTINCT %s, %s, e.profile_id, 'running', '', now(), 0, '', 'trigger', now(),"
            " '', '' FROM profiles_event e WHERE e.name = 'Segment Entered' "
            "AND e.properties -> 'segment_id' = to_jsonb(%s::int) ON CONFLICT DO NOTHING",
            [journey.pk, journey.version_id, segment.pk],
        )
    return box["seconds"]


def _clear() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE campaigns_enrolment CASCADE")


def _advance_part(now_iso: str) -> None:
    from django.db import connection
    from django.utils.dateparse import parse_datetime

    from campaigns.journeys.engine import journeys_advance

    connection.close()
    journeys_advance(now=parse_datetime(now_iso), budget_seconds=3600)


def _parallel(processes: int, target: Any, args: tuple[Any, ...]) -> float:
    from django.db import connection

    connection.close()
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=target, args=args) for _ in range(processes)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
        if worker.exitcode != 0:
            sys.exit(f"a process failed ({worker.exitcode})")
    return time.perf_counter() - start


def _ticking_part(until: float) -> None:
    """A worker woken every TICK_SECONDS, as beat wakes them, until `until` (epoch)."""
    from django.db import connection

    from campaigns.journeys.engine import journeys_advance

    connection.close()
    while time.time() < until:
        journeys_advance(budget_seconds=TICK_SECONDS)
        time.sleep(TICK_SECONDS - time.time() % TICK_SECONDS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=2)
    args, _ = parser.parse_known_args()
    setup_django()
    from django.db import connection
    from django.utils import timezone

    from campaigns.journeys.triggers import journeys_catch_up
    from campaigns.models import Enrolment, StepLog
    from segments.models import EventCursor

    journey, segment = _populate(args.people)
    start_position = EventCursor.objects.get(name="journeys").position
    reference = _reference_enrol(journey, segment)
    _clear()
    with timed() as box:
        caught = journeys_catch_up(max_events=10 * args.people)
    enrol = box["seconds"]
    if caught.enrolled != args.people:
        sys.exit(f"enrolled {caught.enrolled} of {args.people}")
    # The reference once more, after the engine (the same warm caches), best of two.
    Enrolment.objects.all().delete()
    reference = min(reference, _reference_enrol(journey, segment))
    _clear()
    EventCursor.objects.filter(name="journeys").update(position=start_position, gaps=[])
    journeys_catch_up(max_events=10 * args.people)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE campaigns_enrolment")

    now = timezone.now()
    first = _parallel(args.processes, _advance_part, (now.isoformat(),))
    steps_first = StepLog.objects.count()
    later = now + timedelta(days=1, minutes=1)
    second = _parallel(args.processes, _advance_part, (later.isoformat(),))
    steps = StepLog.objects.count()
    finished = Enrolment.objects.filter(status="completed").count()
    if finished != args.people:
        sys.exit(f"{finished} of {args.people} enrolments finished")
    steps_per_s = steps / (first + second)

    # Lateness: every enrolment waits again, due within one minute from now + 15 s.
    base = timezone.now() + timedelta(seconds=15)
    before = StepLog.objects.order_by("-id").values_list("id", flat=True).first()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE campaigns_enrolment SET status = 'running', step = 'wait', "
            "finished_at = NULL, due_at = %s + (id %% 60) * interval '1 second'",
            [base],
        )
        cursor.execute("VACUUM ANALYZE campaigns_enrolment")
    _parallel(args.processes, _ticking_part, (base.timestamp() + 60 + 3 * TICK_SECONDS,))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM "
            "s.at - (%s + (s.enrolment_id %% 60) * interval '1 second'))), "
            "max(extract(epoch FROM s.at - (%s + (s.enrolment_id %% 60) * interval '1 second')))"
            " FROM campaigns_steplog s WHERE s.step = 'wait' AND s.id > %s",
            [base, base, before],
        )
        waited, lateness_p95, lateness_max = cursor.fetchone()
    if waited != args.people:
        sys.exit(f"{waited} of {args.people} waits ended")

    ratio = enrol / reference
    print_table(
        f"{args.people:,} people, {args.processes} processes",
        ["measure", "figure"],
        [
            ("enrol by the event-log reader (s)", enrol),
            ("hand-written INSERT … SELECT (s)", reference),
            ("enrol / INSERT … SELECT", ratio),
            ("steps written", steps),
            ("advance: entry, split, wait (s)", first),
            ("advance: wait, branch, update, exit (s)", second),
            ("steps per second", steps_per_s),
            ("waits ending in one minute: lateness p95 (s)", float(lateness_p95)),
            ("lateness max (s)", float(lateness_max)),
        ],
    )
    print(f"enrol / INSERT … SELECT: {ratio:.2f} (target ≤ {TARGET_ENROL_VS_SQL})")
    print(f"steps per second: {steps_per_s:,.0f} (target ≥ {TARGET_STEPS_PER_S:,})")
    print(
        f"lateness p95: {float(lateness_p95):.1f} s with a {TICK_SECONDS} s tick "
        f"(target ≤ {TARGET_LATENESS_P95_S:.0f})"
    )
    emit(
        {
            "bench": "journeys",
            "people": args.people,
            "processes": args.processes,
            "enrol_seconds": round(enrol, 3),
            "insert_select_seconds": round(reference, 3),
            "enrol_vs_insert_select": round(ratio, 3),
            "steps": steps,
            "steps_first_pass": steps_first,
            "steps_per_s": round(steps_per_s, 1),
            "lateness_p95_s": round(float(lateness_p95), 2),
            "lateness_max_s": round(float(lateness_max), 2),
            "tick_seconds": TICK_SECONDS,
            "targets": {
                "enrol_vs_insert_select": TARGET_ENROL_VS_SQL,
                "steps_per_s": TARGET_STEPS_PER_S,
                "lateness_p95_s": TARGET_LATENESS_P95_S,
            },
        }
    )


if __name__ == "__main__":
    main()
