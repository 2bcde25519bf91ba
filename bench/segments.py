"""Segment refresh on generated people: our compiler and refresh vs a hand-written SQL query.

`cdp_generate`'s generator fills a fresh database step by step (10k, 100k, 1M profiles,
events in proportion), and at each step one segment — French marketing people in the
software industry who downloaded the white paper in the last 30 days and may be emailed:
a field, a trait, an event-in-window and a consent condition — is computed
- by a hand-written SQL query (the reference; both must find the same people),
- by the compiled rule alone (`compile_rule` as a SELECT),
- by `segment_refresh`: cold (a new segment: every member enters, with its event) and warm
  (nothing changed), best of a few;
and at the last step `segment_refresh_profiles` for one changed profile, ~200 times.
Usage: python bench/segments.py [--profiles 1000000] [--events 5000000] [--samples 200]
       python bench/segments.py --reuse   (measure the database as it stands: no generation)
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import emit, percentile, print_table, setup_django, timed

TARGET_FULL_RATIO = 2.0  # full refresh ≤ 2× the hand-written SQL
TARGET_INCREMENTAL_P95_MS = 5.0  # one changed profile
TARGET_FULL_SECONDS = 10.0  # "a 1M-profile refresh in seconds"
STEPS = (10_000, 100_000, 1_000_000)
RUNS = 3

RULE: dict[str, Any] = {
    "all": [
        {"field": "country", "op": "eq", "value": "FR"},
        {"field": "job_function", "op": "eq", "value": "marketing"},
        {"field": "traits.industry", "op": "eq", "value": "software"},
        {
            "event": {"name": "whitepaper_download"},
            "op": "at_least",
            "count": 1,
            "within_days": 30,
        },
        {"consent": "newsletter"},
    ]
}

# The same people, as one would write it by hand: profiles filtered first (a MATERIALIZED
# CTE: the planner underestimates the combined field filters and otherwise scans every
# event), then per candidate: a recent download, and the latest ledger row for the
# purpose (recorded by `now`) is an unexpired grant.
HAND_WRITTEN_SQL = """
WITH candidates AS MATERIALIZED (
    SELECT p.id FROM profiles_profile p
    WHERE p.status = 'active' AND p.country = 'FR' AND p.job_function = 'marketing'
      AND p.traits ->> 'industry' = 'software')
SELECT c.id FROM candidates c
WHERE EXISTS (
      SELECT 1 FROM profiles_event e
      WHERE e.profile_id = c.id AND e.name = 'whitepaper_download'
        AND e.occurred_at >= %(since)s)
  AND EXISTS (
      SELECT 1 FROM (
          SELECT r.status, r.expires_at FROM consent_consentrecord r
          WHERE r.profile_id = c.id AND r.purpose_id = %(purpose)s AND r.recorded_at <= %(now)s
          ORDER BY r.id DESC LIMIT 1) latest
      WHERE latest.status = 'granted'
        AND (latest.expires_at IS NULL OR latest.expires_at > %(now)s))
"""


def best(runs: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """The fastest of a few runs, and what the last run returned."""
    fastest, answer = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        answer = fn()
        fastest = min(fastest, time.perf_counter() - start)
    return fastest, answer


def sql_params(now: datetime, purpose_id: int) -> dict[str, Any]:
    # The window's start as a value, as the compiler passes it: the planner estimates a
    # constant, not `now - interval`.
    return {"now": now, "since": now - timedelta(days=30), "purpose": purpose_id}


def hand_written(now: datetime, purpose_id: int) -> set[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(HAND_WRITTEN_SQL, sql_params(now, purpose_id))
        return {row[0] for row in cursor.fetchall()}


def compiled(now: datetime) -> set[int]:
    from profiles.models import Profile
    from segments.compiler import compile_rule

    members = Profile.objects.filter(status="active").filter(compile_rule(RULE, now=now))
    return set(members.values_list("pk", flat=True))


def explain(now: datetime) -> str:
    """EXPLAIN ANALYZE of the compiled rule, for finding out where the time goes."""
    from django.db import connection

    from profiles.models import Profile
    from segments.compiler import compile_rule

    query = Profile.objects.filter(status="active").filter(compile_rule(RULE, now=now))
    sql, params = query.values_list("pk", flat=True).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def measure_step(step: int, *, purpose_id: int) -> dict[str, float]:
    """SQL, compiled query and full refreshes at the current size."""
    from django.utils import timezone

    from segments.services import segment_create, segment_refresh

    now = timezone.now()
    hand_written(now, purpose_id)  # warm the caches for everyone alike
    sql_seconds, reference = best(RUNS, lambda: hand_written(now, purpose_id))
    query_seconds, ours = best(RUNS, lambda: compiled(now))
    if ours != reference:
        sys.exit(
            f"the compiled rule found {len(ours)} people, the SQL {len(reference)}: "
            f"{len(ours - reference)} only ours, {len(reference - ours)} only the SQL's"
        )
    segment = segment_create(name=f"bench {step} {now:%Y%m%d%H%M%S%f}", rule=RULE)
    cold = segment_refresh(segment_id=segment.pk)
    warm_seconds, warm = best(RUNS, lambda: segment_refresh(segment_id=segment.pk))
    if cold.size != len(reference) or warm.entered or warm.exited:
        sys.exit(f"refresh found {cold.size} members, the SQL {len(reference)}")
    return {
        "segment_id": segment.pk,
        "members": len(reference),
        "sql_seconds": sql_seconds,
        "query_seconds": query_seconds,
        "full_cold_seconds": cold.seconds,
        "full_seconds": warm_seconds,
    }


def measure_incremental(
    segment_id: int, samples: int, seed: int
) -> tuple[list[float], list[float], list[bool]]:
    """Change one profile (in or out of the segment), then refresh just that profile.

    Returns each refresh's wall time, this process's CPU time (Python, the ORM) and
    whether the membership changed (someone left or entered: rows and events written).
    """
    from profiles.models import Profile
    from segments.models import Membership, Segment
    from segments.services import segment_refresh_profiles

    # Only the benchmark's last segment takes part, as in a database with one segment.
    Segment.objects.exclude(pk=segment_id).update(is_active=False)
    rng = random.Random(seed)
    members = list(
        Membership.objects.filter(segment_id=segment_id, exited_at=None).values_list(
            "profile_id", flat=True
        )
    )
    others = list(
        Profile.objects.filter(status="active", country="FR")
        .order_by("?")
        .values_list("pk", flat=True)[: samples * 2]
    )
    latencies, cpu, changed = [], [], []
    flipped: dict[int, str] = {}
    for n in range(samples):
        # Half the samples move a member out and back in, half touch someone who stays out.
        pool = members if members and n % 2 == 0 else others
        pid = rng.choice(pool)
        profile = Profile.objects.get(pk=pid)
        flipped.setdefault(pid, profile.country)
        profile.country = "DE" if profile.country == "FR" else "FR"
        profile.save(update_fields=["country", "updated_at"])
        start, start_cpu = time.perf_counter(), time.process_time()
        changes = segment_refresh_profiles(profile_ids=[pid])
        latencies.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        changed.append(bool(changes))
    # Put the people back as generated (a later run may --reuse them); memberships follow.
    for pid, country in flipped.items():
        Profile.objects.filter(pk=pid).update(country=country)
    segment_refresh_profiles(profile_ids=list(flipped))
    return latencies, cpu, changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--samples", type=int, default=200, help="incremental refreshes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the bench database's generated people and measure only its current size",
    )
    args, _ = parser.parse_known_args()
    setup_django(fresh=not args.reuse)
    from django.utils import timezone

    from consent.models import Purpose
    from profiles.models import Event, Profile
    from profiles.services.generate import profiles_generate

    steps = sorted({step for step in STEPS if step < args.profiles} | {args.profiles})
    if args.reuse:
        args.profiles, args.events = Profile.objects.count(), Event.objects.count()
        if not args.profiles:
            sys.exit("--reuse: the bench database holds no profiles; run once without it")
        steps = [args.profiles]
    rows, figures, made, generate_seconds = [], {}, 0, 0.0
    for number, step in enumerate(steps):
        events = round(args.events * step / args.profiles)
        if not args.reuse:
            with timed() as t:
                result = profiles_generate(
                    profiles=step - made,
                    events=events - round(args.events * made / args.profiles),
                    seed=args.seed + number,
                )
            generate_seconds += t["seconds"]
            print(
                f"  generated {result.profiles:,} profiles and {result.events:,} events "
                f"in {t['seconds']:.1f} s (total {step:,})",
                flush=True,
            )
        made = step
        purpose_id = Purpose.objects.get(code="newsletter").pk
        figures = measure_step(step, purpose_id=purpose_id)
        rows.append(
            [
                step,
                events,
                figures["members"],
                figures["sql_seconds"],
                figures["query_seconds"],
                figures["full_cold_seconds"],
                figures["full_seconds"],
                figures["full_seconds"] / figures["sql_seconds"],
            ]
        )
        print(
            f"  {step:,} profiles: SQL {figures['sql_seconds']:.3f} s, refresh "
            f"{figures['full_seconds']:.3f} s ({figures['members']:,} members)",
            flush=True,
        )
    if args.explain:
        print(explain(timezone.now()))
    latencies, cpu, changed = measure_incremental(figures["segment_id"], args.samples, args.seed)
    p50 = percentile(latencies, 50) * 1000
    p95 = percentile(latencies, 95) * 1000
    cpu_p50 = percentile(cpu, 50) * 1000
    moved = [t for t, c in zip(latencies, changed, strict=True) if c]
    still = [t for t, c in zip(latencies, changed, strict=True) if not c]
    moved_p95, still_p95 = percentile(moved, 95) * 1000, percentile(still, 95) * 1000
    moved_p50, still_p50 = percentile(moved, 50) * 1000, percentile(still, 50) * 1000
    print_table(
        f"Segment refresh, best of {RUNS} (seconds); the rule: {RULE}",
        [
            "profiles",
            "events",
            "members",
            "hand-written SQL",
            "compiled query",
            "refresh cold",
            "refresh warm",
            "warm / SQL",
        ],
        rows,
    )
    print(
        f"\n  incremental refresh of one changed profile, {len(latencies)} samples: "
        f"p50 {p50:.2f} ms, p95 {p95:.2f} ms (CPU of this process, p50: {cpu_p50:.2f} ms);"
        f"\n  p50 / p95 when the membership changed ({len(moved)}): {moved_p50:.2f} / "
        f"{moved_p95:.2f} ms, when it did not ({len(still)}): {still_p50:.2f} / "
        f"{still_p95:.2f} ms"
    )
    ratio = figures["full_seconds"] / figures["sql_seconds"]
    emit(
        {
            "bench": "segments",
            "profiles": args.profiles,
            "events": args.events,
            "members": figures["members"],
            "generate_seconds": round(generate_seconds, 1),
            "sql_seconds": round(figures["sql_seconds"], 4),
            "query_seconds": round(figures["query_seconds"], 4),
            "full_seconds": round(figures["full_seconds"], 4),
            "full_cold_seconds": round(figures["full_cold_seconds"], 4),
            "full_ratio": round(ratio, 2),
            "full_cold_ratio": round(figures["full_cold_seconds"] / figures["sql_seconds"], 2),
            "incremental_p50_ms": round(p50, 2),
            "incremental_p95_ms": round(p95, 2),
            "incremental_cpu_p50_ms": round(cpu_p50, 2),
            "incremental_changed_p50_ms": round(moved_p50, 2),
            "incremental_changed_p95_ms": round(moved_p95, 2),
            "incremental_unchanged_p50_ms": round(still_p50, 2),
            "incremental_unchanged_p95_ms": round(still_p95, 2),
            "scaling": [
                {"profiles": r[0], "sql_seconds": round(r[3], 4), "full_seconds": round(r[6], 4)}
                for r in rows
            ],
            "target_full_ratio": TARGET_FULL_RATIO,
            "target_incremental_p95_ms": TARGET_INCREMENTAL_P95_MS,
            "target_full_seconds": TARGET_FULL_SECONDS,
            "meets_target": ratio <= TARGET_FULL_RATIO
            and p95 <= TARGET_INCREMENTAL_P95_MS
            and figures["full_seconds"] <= TARGET_FULL_SECONDS,
        }
    )


if __name__ == "__main__":
    main()
