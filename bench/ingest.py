"""Batch intake: our /v1/batch over HTTP (gunicorn, PostgreSQL) vs raw COPY of the same events.

Also: the ingestion service called in-process (no HTTP), to show where the time goes.
Usage: python bench/ingest.py [--events 20000] [--users 4000] [--clients 4] [--batch 100]
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (
    cpu_meter,
    emit,
    percentile,
    post_all,
    print_table,
    setup_django,
    start_server,
    stop_server,
    timed,
)

TARGET_HTTP_VS_COPY = 0.15


def make_events(count: int, users: int, seed: int = 7) -> list[dict[str, Any]]:
    """Segment-shaped messages: identifies with traits, tracks and pages, from many users."""
    rng = random.Random(seed)
    start = datetime(2026, 9, 1, tzinfo=UTC)
    events = []
    for n in range(count):
        user = rng.randrange(users)
        kind = rng.choices(["identify", "track", "page"], weights=[2, 6, 2])[0]
        message: dict[str, Any] = {
            "type": kind,
            "messageId": f"bench-{n}-{uuid.UUID(int=rng.getrandbits(128))}",
            "userId": f"user-{user}",
            "timestamp": (start + timedelta(seconds=n * 7)).isoformat(),
            "context": {
                "ip": "203.0.113.0",
                "userAgent": "bench/1.0",
                "campaign": {"source": "google", "medium": "cpc", "name": "brand"},
            },
        }
        if kind == "identify":
            message["traits"] = {
                "email": f"person{user}@example.org",
                "firstName": f"First{user}",
                "lastName": f"Last{user}",
                "plan": rng.choice(["free", "pro"]),
            }
        elif kind == "track":
            message["event"] = rng.choice(["Product Viewed", "Signed Up", "Order Completed"])
            message["properties"] = {
                "price": rng.randint(1, 500),
                "sku": f"SKU-{rng.randrange(99)}",
            }
        else:
            message["name"] = rng.choice(["Home", "Pricing", "Docs"])
            message["properties"] = {"url": "https://www.example.org/pricing?utm_source=x"}
        events.append(message)
    return events


def copy_reference(events: list[dict[str, Any]]) -> float:
    """Raw COPY of the same events into a plain table: the speed limit of the disk path."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_events_raw")
        cursor.execute(
            "CREATE TABLE bench_events_raw (message_id text, user_id text, type text, "
            "name text, traits jsonb, properties jsonb, context jsonb, occurred_at timestamptz)"
        )
    connection.ensure_connection()
    raw = connection.connection
    with timed() as t:
        with raw.cursor() as cursor, cursor.copy("COPY bench_events_raw FROM STDIN") as copy:
            for e in events:
                copy.write_row(
                    (
                        e["messageId"],
                        e["userId"],
                        e["type"],
                        e.get("event") or e.get("name", ""),
                        json.dumps(e.get("traits", {})),
                        json.dumps(e.get("properties", {})),
                        json.dumps(e["context"]),
                        e["timestamp"],
                    )
                )
        raw.commit()
    return len(events) / t["seconds"]


def service_in_process(events: list[dict[str, Any]], batch: int) -> float:
    from profiles.services import Message, ingest_messages, source_create

    source, _ = source_create(name=f"bench in-process {uuid.uuid4().hex[:6]}", kind="api")
    messages = [
        Message(
            type=e["type"],
            message_id=e["messageId"],
            user_id=e["userId"],
            name=e.get("event") or e.get("name", ""),
            traits=e.get("traits", {}),
            properties=e.get("properties", {}),
            context=e["context"],
            timestamp=e["timestamp"],
        )
        for e in events
    ]
    with timed() as t:
        for offset in range(0, len(messages), batch):
            result = ingest_messages(source=source, messages=messages[offset : offset + batch])
            assert result.rejected == 0, result.results
    return len(messages) / t["seconds"]


def http_batches(
    port: int, write_key: str, events: list[dict[str, Any]], batch: int, clients: int
) -> tuple[float, list[float], int]:
    """Concurrent clients posting /v1/batch; returns events/s, request latencies, failures."""
    # Bodies are encoded before the clock starts: the clients' JSON work is not the server's.
    chunks = [
        json.dumps({"batch": events[i : i + batch]}).encode() for i in range(0, len(events), batch)
    ]
    auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    requests_per_s, latencies, failures = post_all(port, "/v1/batch", chunks, clients, headers)
    return requests_per_s * len(events) / len(chunks), latencies, failures


def warm_up(port: int, write_key: str, batch: int, clients: int) -> None:
    """A few batches from people of their own (another source), not timed."""
    events = make_events(batch * clients * 5, 50, seed=int(time.time()))
    http_batches(port, write_key, events, batch, clients)


def drain_all() -> float:
    """Ingest everything the HTTP phase buffered, in-process, in batches of 1,000."""
    from collection.services.intake import intake_drain, intake_pending

    pending = intake_pending()
    with timed() as t:
        while intake_drain()["ingested"]:
            pass
    return pending / t["seconds"] if pending else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=4_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads a worker")
    args, _ = parser.parse_known_args()

    url = setup_django()
    from profiles.models import Event
    from profiles.services import source_create

    events = make_events(args.events, args.users)
    copy_eps = copy_reference(events)
    in_process_eps = service_in_process(make_events(args.events, args.users, seed=8), args.batch)

    # The production default: answer once stored, ingest in batches behind.
    source, key = source_create(name="bench http", kind="api")
    _, warm_key = source_create(name="bench http warm-up", kind="api")
    server, port = start_server(
        url, args.workers, {"CDP_INTAKE_MODE": "buffered"}, threads=args.threads
    )
    try:
        # Every worker thread opens its connections and loads its code before the clock.
        warm_up(port, warm_key, args.batch, args.clients)
        with cpu_meter(server, url) as cpu:
            http_eps, latencies, failures = http_batches(
                port, key, events, args.batch, args.clients
            )
    finally:
        stop_server(server)
    drain_eps = drain_all()
    stored = Event.objects.filter(source=source).count()
    end_to_end_eps = args.events / (args.events / http_eps + args.events / drain_eps)

    # The same requests with the whole pipeline inside each request.
    sync_events = make_events(args.events // 2, args.users, seed=9)
    _, sync_key = source_create(name="bench http sync", kind="api")
    server, port = start_server(
        url, args.workers, {"CDP_INTAKE_MODE": "sync"}, threads=args.threads
    )
    try:
        warm_up(port, warm_key, args.batch, args.clients)
        sync_eps, sync_lat, sync_fail = http_batches(
            port, sync_key, sync_events, args.batch, args.clients
        )
    finally:
        stop_server(server)

    ratio = http_eps / copy_eps
    ms = 1000.0
    print_table(
        f"Batch intake, {args.events:,} events from {args.users:,} people, "
        f"{args.batch} a request, {args.clients} clients, {args.workers} gunicorn workers x {args.threads} threads",
        ["path", "events/s", "vs COPY", "p50 ms", "p99 ms"],
        [
            ["raw COPY (reference)", copy_eps, 1.0, "", ""],
            [
                "POST /v1/batch, buffered (accepted)",
                http_eps,
                ratio,
                percentile(latencies, 50) * ms,
                percentile(latencies, 99) * ms,
            ],
            ["  then the drain (DRAIN_LIMIT a batch)", drain_eps, drain_eps / copy_eps, "", ""],
            [
                "  accept + drain, one after the other",
                end_to_end_eps,
                end_to_end_eps / copy_eps,
                "",
                "",
            ],
            [
                "POST /v1/batch, sync (ingested in request)",
                sync_eps,
                sync_eps / copy_eps,
                percentile(sync_lat, 50) * ms,
                percentile(sync_lat, 99) * ms,
            ],
            [
                "ingest_messages in-process, 100 a batch",
                in_process_eps,
                in_process_eps / copy_eps,
                "",
                "",
            ],
        ],
    )
    print(f"  stored {stored:,} of {args.events:,} events; {failures + sync_fail} failed requests")
    requests = -(-args.events // args.batch)
    cpu_ms = {part: seconds * ms / requests for part, seconds in cpu.items()}
    print_table(
        f"CPU ms a buffered /v1/batch request of {args.batch} events (all processes)",
        ["web (gunicorn)", "PostgreSQL", "Redis", "client", "all"],
        [[cpu_ms["web"], cpu_ms["db"], cpu_ms["cache"], cpu_ms["client"], sum(cpu_ms.values())]],
    )
    emit(
        {
            "bench": "ingest",
            "events": args.events,
            "users": args.users,
            "batch": args.batch,
            "clients": args.clients,
            "copy_events_per_s": round(copy_eps),
            "http_events_per_s": round(http_eps),
            "http_vs_copy": round(ratio, 4),
            "http_p50_ms": round(percentile(latencies, 50) * ms, 1),
            "http_p99_ms": round(percentile(latencies, 99) * ms, 1),
            "http_cpu_ms_per_request": {part: round(v, 3) for part, v in cpu_ms.items()},
            "drain_events_per_s": round(drain_eps),
            "end_to_end_events_per_s": round(end_to_end_eps),
            "end_to_end_vs_copy": round(end_to_end_eps / copy_eps, 4),
            "sync_http_events_per_s": round(sync_eps),
            "sync_http_vs_copy": round(sync_eps / copy_eps, 4),
            "service_events_per_s": round(in_process_eps),
            "failed_requests": failures + sync_fail,
            "stored_events": stored,
            "target_http_vs_copy": TARGET_HTTP_VS_COPY,
            "meets_target": ratio >= TARGET_HTTP_VS_COPY and failures == 0,
        }
    )


if __name__ == "__main__":
    main()
