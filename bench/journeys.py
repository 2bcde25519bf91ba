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
  10 s as beat wakes them; lateness = when the step ran − when it was due (p95 ≤ 60 s);
- trigger to send: real gunicorn, celery worker and celery beat processes; a `/v1/track`
  event makes a known person enter a dynamic segment (rule: that event at least once)
  whose journey sends at once; latency = the message's arrival in Postfix's smtp-sink −
  the moment the request was sent (intake drain, segment catch-up, journey tick, advance
  and outbox included), over `--signals` people, one every 1-3 s (p95 ≤ 10 s).
Usage: BENCH_DATABASE_URL=postgres://… BENCH_REDIS_URL=redis://…/N python bench/journeys.py
       [--people 100000] [--signals 30]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from _harness import (
    ROOT,
    _free_port,
    bench_database_url,
    emit,
    percentile,
    print_table,
    setup_django,
    start_server,
    stop_server,
    timed,
)

TARGET_ENROL_VS_SQL = 3.0
TARGET_STEPS_PER_S = 2_000
TARGET_LATENESS_P95_S = 60.0
TARGET_TRIGGER_TO_SEND_P95_S = 10.0
TICK_SECONDS = 10
SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
MJML = (
    "<mjml><mj-body><mj-section><mj-column><mj-text>Bienvenue {{ profile.first_name }}"
    '</mj-text><mj-text><a href="{{ links.unsubscribe }}">Se désabonner</a> · '
    "{{ organisation.postal_address }}</mj-text></mj-column></mj-section></mj-body></mjml>"
)


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
    """A worker woken every TICK_SECONDS, as beat wakes them, until `until` (epoch) and
    until no wait is left."""
    from django.db import connection

    from campaigns.journeys.engine import journeys_advance
    from campaigns.models import Enrolment

    connection.close()
    while time.time() < until or Enrolment.objects.filter(status="running").exists():
        journeys_advance(budget_seconds=TICK_SECONDS)
        time.sleep(TICK_SECONDS - time.time() % TICK_SECONDS)


def _redis_url() -> str:
    return os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")


def _process_env(sink_port: int) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": bench_database_url(),
        "LOG_LEVEL": "WARNING",
        "REDIS_URL": _redis_url(),
        "CELERY_BROKER_URL": _redis_url(),
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(sink_port),
        "EMAIL_USE_TLS": "false",
        "CDP_QUIET_HOURS": "off",
        "CDP_EMAIL_CAP_DAY": "1000",
        "CDP_EMAIL_CAP_WEEK": "1000",
        "CDP_POSTAL_ADDRESS": "1 rue de la Paix, 75002 Paris",
        "CDP_INTAKE_MODE": "buffered",
    }


def _celery(role: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [str(Path(sys.executable).parent / "celery"), "-A", "cdp_site", role]
    if role == "worker":
        command += ["-Q", "ingest,segments,journeys,reports,default", "--concurrency", "2"]
        command += ["--hostname", f"bench-{os.getpid()}@%h"]
    else:
        command += ["--pidfile", ""]
    return subprocess.Popen(
        [*command, "--loglevel", "INFO"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _post(port: int, key: str, path: str, body: dict[str, Any]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    conn.request(
        "POST",
        path,
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": auth},
    )
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        sys.exit(f"{path} answered {response.status}")


def _arrivals(folder: Path) -> dict[str, float]:
    """Each recipient's first message in the sink's dump files: when it arrived."""
    found: dict[str, float] = {}
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        match = re.search(r"signal\d+@example\.org", path.read_bytes().decode("latin-1"))
        if match:
            moment = path.stat().st_mtime
            found[match.group(0)] = min(found.get(match.group(0), moment), moment)
    return found


def _trigger_to_send(count: int) -> dict[str, float]:
    """`/v1/track` → segment entered → journey sends → the message in smtp-sink, timed."""
    from django.utils import timezone

    from campaigns.journeys.services import journey_activate, journey_archive, journey_create
    from campaigns.models import Journey
    from campaigns.services import template_create
    from consent.models import ConsentRecord, Purpose
    from profiles.models import Profile
    from profiles.services import source_create
    from segments.models import Segment
    from segments.services import segment_create

    if not Path(SMTP_SINK).exists():
        sys.exit("smtp-sink is missing: apt-get install -y postfix (only its smtp-sink is used)")
    for journey in Journey.objects.filter(status="active"):
        journey_archive(journey_id=journey.pk)  # the bench's other journey rests
    Segment.objects.update(is_active=False)
    newsletter = Purpose.objects.get(code="newsletter")
    template = template_create(
        name="Signal welcome",
        variants={lang: {"subject": "Bienvenue", "mjml": MJML} for lang in ("en", "fr")},
    )
    segment = segment_create(
        name="Signalled", rule={"event": {"name": "Bench Signal"}, "op": "at_least", "count": 1}
    )
    journey = journey_create(
        name="Trigger to send",
        purpose_id=newsletter.pk,
        definition={
            "trigger": {"type": "segment_entered", "segment": segment.pk},
            "start": "welcome",
            "steps": {
                "welcome": {"type": "send", "template": template.pk, "next": "done"},
                "done": {"type": "exit"},
            },
        },
    )
    journey_activate(journey_id=journey.pk)
    _, key = source_create(name="bench signals", kind="api")

    sink_port = _free_port()
    folder = Path(tempfile.mkdtemp(prefix="journeys-sink-"))
    folder.chmod(0o777)
    env = _process_env(sink_port)
    logs = Path(tempfile.mkdtemp(prefix="journeys-logs-"))
    sink = subprocess.Popen(
        [SMTP_SINK, "-u", "nobody", "-d", f"{folder}/%H%M%S.", f"127.0.0.1:{sink_port}", "64"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    from django.db import connection

    connection.close()
    server, port = start_server(bench_database_url(), 2, env)
    worker = _celery("worker", env, logs / "worker.log")
    beat = _celery("beat", env, logs / "beat.log")
    try:
        people = [f"signal{n}@example.org" for n in range(count)]
        for n, email in enumerate(people):  # known people: identified, then they agree
            _post(port, key, "/v1/identify", {"userId": f"sig-{n}", "traits": {"email": email}})
        deadline = time.monotonic() + 120
        while Profile.objects.filter(email__in=people).count() < count:
            if time.monotonic() > deadline:
                sys.exit("the intake did not drain the identify calls")
            time.sleep(0.5)
        now = timezone.now()
        ConsentRecord.objects.bulk_create(
            ConsentRecord(
                profile=profile,
                purpose=newsletter,
                status="granted",
                method="import",
                proof={"bench": True},
                recorded_at=now,
            )
            for profile in Profile.objects.filter(email__in=people)
        )
        time.sleep(2 * TICK_SECONDS)  # the identify calls' own wake-ups have settled
        sent: dict[str, float] = {}
        rng = random.Random(7)
        for n, email in enumerate(people):
            sent[email] = time.time()
            _post(port, key, "/v1/track", {"userId": f"sig-{n}", "event": "Bench Signal"})
            time.sleep(rng.uniform(1.0, 3.0))  # each signal meets the ticks at another phase
        deadline = time.monotonic() + 120
        while len(arrived := _arrivals(folder)) < count and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        for process in (worker, beat):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)
        stop_server(server)
        sink.terminate()
        sink.wait(timeout=10)
    if len(arrived) < count:
        sys.exit(f"{len(arrived)} of {count} messages arrived; logs in {logs}")
    latencies = sorted(arrived[email] - sent[email] for email in people)
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(logs, ignore_errors=True)
    return {
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "max": latencies[-1],
        "min": latencies[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--signals", type=int, default=30, help="trigger-to-send samples")
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

    latency = _trigger_to_send(args.signals) if args.signals else {}
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
            *(
                [
                    (f"trigger to send, {args.signals} signals: p50 (s)", latency["p50"]),
                    ("trigger to send p95 (s)", latency["p95"]),
                    ("trigger to send max (s)", latency["max"]),
                ]
                if latency
                else []
            ),
        ],
    )
    print(f"enrol / INSERT … SELECT: {ratio:.2f} (target ≤ {TARGET_ENROL_VS_SQL})")
    print(f"steps per second: {steps_per_s:,.0f} (target ≥ {TARGET_STEPS_PER_S:,})")
    print(
        f"lateness p95: {float(lateness_p95):.1f} s with a {TICK_SECONDS} s tick "
        f"(target ≤ {TARGET_LATENESS_P95_S:.0f})"
    )
    if latency:
        print(
            f"trigger to send p95: {latency['p95']:.1f} s "
            f"(target ≤ {TARGET_TRIGGER_TO_SEND_P95_S:.0f})"
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
            "signals": args.signals,
            "trigger_to_send_p50_s": round(latency["p50"], 2) if latency else None,
            "trigger_to_send_p95_s": round(latency["p95"], 2) if latency else None,
            "trigger_to_send_max_s": round(latency["max"], 2) if latency else None,
            "targets": {
                "trigger_to_send_p95_s": TARGET_TRIGGER_TO_SEND_P95_S,
                "enrol_vs_insert_select": TARGET_ENROL_VS_SQL,
                "steps_per_s": TARGET_STEPS_PER_S,
                "lateness_p95_s": TARGET_LATENESS_P95_S,
            },
        }
    )


if __name__ == "__main__":
    main()
