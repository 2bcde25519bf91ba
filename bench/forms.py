"""Single form submissions per second vs a no-op DRF endpoint on the same gunicorn server.

Each submission is a new person (validation, identity resolution, profile, provenance,
event in one transaction); the no-op endpoint (`/api/ping/`) is the floor of DRF itself.
The posts come from many client addresses behind a reverse proxy (each address has its
own rate-limit row), then all from one address (every post moves the same row).
Usage: python bench/forms.py [--requests 2000] [--clients 4] [--workers 4] [--threads 1] [--addresses N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
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
)

TARGET_FORM_VS_NOOP = 0.5


JSON = {"Content-Type": "application/json"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads a worker")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of every phase")
    parser.add_argument(
        "--addresses",
        type=int,
        default=1000,
        help="client addresses the posts come from (X-Forwarded-For, NUM_PROXIES=1)",
    )
    args, _ = parser.parse_known_args()

    url = setup_django()
    from collection.models import Form
    from collection.services.forms import form_save
    from consent.models import Purpose
    from consent.services import purpose_wording_add
    from profiles.models import Event
    from profiles.services import source_create

    newsletter = Purpose.objects.create(code="newsletter", name="Newsletter", channel="email")
    purpose_wording_add(purpose=newsletter, text="Send me the monthly newsletter.")
    source, _ = source_create(name="Bench site", kind="web_form", default_phone_region="FR")
    form = form_save(
        form=Form(
            name="Newsletter",
            slug="newsletter",
            source=source,
            fields=[
                {
                    "name": "email",
                    "label": "Email",
                    "target": "email",
                    "type": "email",
                    "required": True,
                },
                {
                    "name": "first_name",
                    "label": "First name",
                    "target": "first_name",
                    "type": "text",
                    "required": False,
                },
                {
                    "name": "company",
                    "label": "Company",
                    "target": "company",
                    "type": "text",
                    "required": False,
                },
            ],
            consent_purposes=["newsletter"],
        )
    )
    # Each gunicorn thread's first form posts (a database connection, code loaded on first
    # use) go to a form of their own before the clock starts.
    warm_source, _ = source_create(name="Bench warm-up", kind="web_form")
    warm = form_save(
        form=Form(name="Warm-up", slug="warm-up", source=warm_source, fields=form.fields)
    )
    warm_bodies = [
        json.dumps({"email": f"warm{n}@example.org"}).encode() for n in range(50 * args.clients)
    ]
    form_bodies = [
        json.dumps(
            {
                "email": f"reader{n}@example.org",
                "first_name": f"Reader{n}",
                "company": "Acme",
                "consent_newsletter": True,
            }
        ).encode()
        for n in range(args.requests)
    ]
    ping_bodies = [b"{}"] * args.requests

    def addresses(count: int) -> Any:
        """Posts from `count` client addresses, as a reverse proxy forwards them."""
        return lambda n: {
            "X-Forwarded-For": f"10.{n % count // 65536}.{n % count // 256 % 256}.{n % count % 256}"
        }

    # The same bodies twice: the second phase's posts are replays (new message ids, the
    # same people), which costs the request the same; each phase is drained before the next.
    phases: list[tuple[str, str, list[bytes], Any]] = [
        ("ping", "POST /api/ping/ (no-op DRF, reference)", ping_bodies, None),
        (
            "form",
            f"POST /api/forms/<slug>/submissions, {args.addresses:,} client addresses",
            form_bodies,
            addresses(args.addresses),
        ),
        (
            "form_one_address",
            "  the same, every post from one address (one hot rate row)",
            form_bodies,
            addresses(1),
        ),
    ]
    results: dict[str, dict[str, Any]] = {
        name: {"seconds": 0.0, "count": 0, "lat": [], "failed": 0, "cpu": {}}
        for name, _, _, _ in phases
    }
    ratios: dict[str, list[float]] = {"form": [], "form_one_address": []}
    server, port = start_server(
        url,
        args.workers,
        {"FORM_RATE_LIMIT": "100000000/min", "NUM_PROXIES": "1"},
        threads=args.threads,
    )
    try:
        post_all(port, "/api/ping/", ping_bodies[:200], args.clients, JSON)  # warm-up
        post_all(port, f"/api/forms/{warm.slug}/submissions", warm_bodies, args.clients, JSON)
        # Rounds of every phase in turn: the machine's drift (other work, CPU clocks) moves
        # the phases of one round alike, and the median of the rounds' ratios is the figure.
        for _ in range(args.rounds):
            round_rps: dict[str, float] = {}
            for name, _, bodies, extra in phases:
                path = "/api/ping/" if name == "ping" else f"/api/forms/{form.slug}/submissions"
                with cpu_meter(server, url) as cpu:
                    rps, latencies, failed = post_all(port, path, bodies, args.clients, JSON, extra)
                total = results[name]
                total["seconds"] += len(bodies) / rps
                total["count"] += len(bodies)
                total["lat"] += latencies
                total["failed"] += failed
                for part, seconds in cpu.items():
                    total["cpu"][part] = total["cpu"].get(part, 0.0) + seconds
                round_rps[name] = rps
            for name, values in ratios.items():
                values.append(round_rps[name] / round_rps["ping"])
    finally:
        stop_server(server)
    from collection.services.intake import intake_drain

    while intake_drain(limit=1000)["ingested"]:
        pass  # the worker's job in production; here, to count what was stored
    stored = Event.objects.filter(source=source, type="form").count()
    ms = 1000.0
    for total in results.values():
        total["rps"] = total["count"] / total["seconds"]
    noop = results["ping"]["rps"]
    medians = {name: statistics.median(values) for name, values in ratios.items()}
    print_table(
        f"Form submissions, {args.rounds} rounds of {args.requests:,} requests a phase, "
        f"{args.clients} clients, {args.workers} gunicorn workers x {args.threads} threads",
        ["endpoint", "requests/s", "vs no-op (median)", "p50 ms", "p99 ms", "failed"],
        [
            [
                label,
                results[name]["rps"],
                medians.get(name, 1.0),
                percentile(results[name]["lat"], 50) * ms,
                percentile(results[name]["lat"], 99) * ms,
                results[name]["failed"],
            ]
            for name, label, _, _ in phases
        ],
    )
    print(f"  stored {stored:,} form events of {2 * args.rounds * args.requests:,} submissions")
    print(
        "  rounds' ratios: "
        + "; ".join(
            f"{name} {', '.join(f'{value:.3f}' for value in values)}"
            for name, values in ratios.items()
        )
    )
    per_request = {
        name: {part: seconds * ms / r["count"] for part, seconds in r["cpu"].items()}
        for name, r in results.items()
    }
    print_table(
        "CPU ms a request (all processes; moves less with the machine's load than requests/s)",
        ["endpoint", "web (gunicorn)", "PostgreSQL", "Redis", "client", "server total"],
        [
            [name, c["web"], c["db"], c["cache"], c["client"], c["web"] + c["db"] + c["cache"]]
            for name, c in per_request.items()
        ],
    )

    def server_cpu(name: str) -> float:
        return sum(per_request[name][part] for part in ("web", "db", "cache"))

    ratio = medians["form"]
    failed = sum(r["failed"] for r in results.values())
    emit(
        {
            "bench": "forms",
            "requests": args.requests,
            "clients": args.clients,
            "workers": args.workers,
            "threads": args.threads,
            "client_addresses": args.addresses,
            "noop_rps": round(noop),
            "form_rps": round(results["form"]["rps"]),
            "form_vs_noop": round(ratio, 4),
            "form_vs_noop_server_cpu": round(server_cpu("ping") / server_cpu("form"), 4),
            "form_one_address_vs_noop": round(medians["form_one_address"], 4),
            "rounds": [round(value, 4) for value in ratios["form"]],
            "cpu_ms_per_request": {
                name: {part: round(v, 3) for part, v in c.items()}
                for name, c in per_request.items()
            },
            "form_p50_ms": round(percentile(results["form"]["lat"], 50) * ms, 1),
            "form_p99_ms": round(percentile(results["form"]["lat"], 99) * ms, 1),
            "noop_p50_ms": round(percentile(results["ping"]["lat"], 50) * ms, 1),
            "failed_requests": failed,
            "stored_events": stored,
            "target_form_vs_noop": TARGET_FORM_VS_NOOP,
            "meets_target": ratio >= TARGET_FORM_VS_NOOP and failed == 0,
        }
    )


if __name__ == "__main__":
    main()
