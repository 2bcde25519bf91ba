"""Single form submissions per second vs a no-op DRF endpoint on the same gunicorn server.

Each submission is a new person (validation, identity resolution, profile, provenance,
event in one transaction); the no-op endpoint (`/api/ping/`) is the floor of DRF itself.
Usage: python bench/forms.py [--requests 2000] [--clients 4] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

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
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="gunicorn threads a worker")
    args, _ = parser.parse_known_args()

    url = setup_django()
    from consent.models import Purpose
    from consent.services import purpose_wording_add
    from profiles.models import Event, Form
    from profiles.services import source_create
    from profiles.services.forms import form_save

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
    server, port = start_server(
        url, args.workers, {"FORM_RATE_LIMIT": "100000000/min"}, threads=args.threads
    )
    try:
        post_all(port, "/api/ping/", ping_bodies[:200], args.clients, JSON)  # warm-up
        post_all(port, f"/api/forms/{warm.slug}/submissions", warm_bodies, args.clients, JSON)
        with cpu_meter(server, url) as ping_cpu:
            ping_rps, ping_lat, ping_fail = post_all(
                port, "/api/ping/", ping_bodies, args.clients, JSON
            )
        with cpu_meter(server, url) as form_cpu:
            form_rps, form_lat, form_fail = post_all(
                port, f"/api/forms/{form.slug}/submissions", form_bodies, args.clients, JSON
            )
    finally:
        stop_server(server)
    from profiles.services.intake import intake_drain

    while intake_drain(limit=1000)["ingested"]:
        pass  # the worker's job in production; here, to count what was stored
    stored = Event.objects.filter(source=source, type="form").count()
    ratio = form_rps / ping_rps
    ms = 1000.0
    print_table(
        f"Form submissions, {args.requests:,} requests, {args.clients} clients, "
        f"{args.workers} gunicorn workers x {args.threads} threads",
        ["endpoint", "requests/s", "vs no-op", "p50 ms", "p99 ms", "failed"],
        [
            [
                "POST /api/ping/ (no-op DRF, reference)",
                ping_rps,
                1.0,
                percentile(ping_lat, 50) * ms,
                percentile(ping_lat, 99) * ms,
                ping_fail,
            ],
            [
                "POST /api/forms/<slug>/submissions",
                form_rps,
                ratio,
                percentile(form_lat, 50) * ms,
                percentile(form_lat, 99) * ms,
                form_fail,
            ],
        ],
    )
    print(f"  stored {stored:,} form events of {args.requests:,} submissions")
    per_request = {
        name: {part: seconds * ms / args.requests for part, seconds in cpu.items()}
        for name, cpu in (("ping", ping_cpu), ("form", form_cpu))
    }
    print_table(
        "CPU ms a request (all processes; moves less with the machine's load than requests/s)",
        ["endpoint", "web (gunicorn)", "PostgreSQL", "Redis", "client", "server total"],
        [
            [name, c["web"], c["db"], c["cache"], c["client"], c["web"] + c["db"] + c["cache"]]
            for name, c in per_request.items()
        ],
    )
    cpu_ratio = sum(per_request["ping"][p] for p in ("web", "db", "cache")) / sum(
        per_request["form"][p] for p in ("web", "db", "cache")
    )
    emit(
        {
            "bench": "forms",
            "requests": args.requests,
            "clients": args.clients,
            "workers": args.workers,
            "threads": args.threads,
            "noop_rps": round(ping_rps),
            "form_rps": round(form_rps),
            "form_vs_noop": round(ratio, 4),
            "form_vs_noop_server_cpu": round(cpu_ratio, 4),
            "cpu_ms_per_request": {
                name: {part: round(v, 3) for part, v in c.items()}
                for name, c in per_request.items()
            },
            "form_p50_ms": round(percentile(form_lat, 50) * ms, 1),
            "form_p99_ms": round(percentile(form_lat, 99) * ms, 1),
            "noop_p50_ms": round(percentile(ping_lat, 50) * ms, 1),
            "failed_requests": form_fail + ping_fail,
            "stored_events": stored,
            "target_form_vs_noop": TARGET_FORM_VS_NOOP,
            "meets_target": ratio >= TARGET_FORM_VS_NOOP and form_fail == 0,
        }
    )


if __name__ == "__main__":
    main()
