"""Server-side cost of one request, without HTTP: WSGIHandler called in-process.

Prints wall and CPU (`time.process_time()`) milliseconds per request and the queries a
request runs (Django's connection health check not included), for the no-op endpoint, a
form submission and a /v1/batch of 100 events. Compare two versions one after the other:
on a shared machine, CPU time moves less than wall time.
Usage: python bench/_inproc.py [ping] [form] [batch]   (N=600 requests; PROF=1 cProfile,
PROF=cpu cProfile on CPU time)
"""

from __future__ import annotations

import base64
import cProfile
import io
import json
import os
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("REDIS_URL", os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"))
os.environ.setdefault("CELERY_BROKER_URL", os.environ["REDIS_URL"])
os.environ["FORM_RATE_LIMIT"] = "100000000/min"
os.environ["DB_CONN_MAX_AGE"] = "600"
import ingest as ingest_bench
from _harness import setup_django


def main() -> None:
    setup_django()
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection

    from collection.models import Form
    from collection.services.forms import form_save
    from consent.models import Purpose
    from consent.services import purpose_wording_add
    from profiles.services import source_create

    newsletter = Purpose.objects.create(code="newsletter", name="Newsletter", channel="email")
    purpose_wording_add(purpose=newsletter, text="Send me the monthly newsletter.")
    source, _ = source_create(name="Bench site", kind="web_form", default_phone_region="FR")
    fields = [
        {"name": "email", "label": "Email", "target": "email", "type": "email", "required": True},
        {"name": "first_name", "label": "First name", "target": "first_name", "type": "text"},
        {"name": "company", "label": "Company", "target": "company", "type": "text"},
    ]
    form_save(
        form=Form(
            name="Newsletter",
            slug="newsletter",
            source=source,
            fields=fields,
            consent_purposes=["newsletter"],
        )
    )
    _, key = source_create(name="bench http", kind="api")
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    app = WSGIHandler()

    def call(path: str, body: bytes, extra: dict[str, str] | None = None) -> None:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": path,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            **(extra or {}),
        }
        status: list[str] = []
        out = b"".join(app(environ, lambda s, h, *a: status.append(s)))
        assert status[0][:3] in ("200", "201"), (status, out[:300])

    count = int(os.environ.get("N", "600"))
    events = ingest_bench.make_events(count // 10 * 100, 4000)
    bodies = [
        json.dumps({"batch": events[i : i + 100]}).encode() for i in range(0, len(events), 100)
    ]
    seq = [0]

    def form_body() -> bytes:
        seq[0] += 1
        return json.dumps(
            {"email": f"r{seq[0]}@example.org", "first_name": "R", "consent_newsletter": True}
        ).encode()

    runs: dict[str, tuple[int, Callable[[int], None]]] = {
        "ping": (count, lambda n: [call("/api/ping/", b"{}") for _ in range(n)] and None),
        "form": (
            count,
            lambda n: (
                [call("/api/forms/newsletter/submissions", form_body()) for _ in range(n)] and None
            ),
        ),
        "batch": (
            len(bodies),
            lambda n: (
                [call("/v1/batch", b, {"HTTP_AUTHORIZATION": auth}) for b in bodies[:n]] and None
            ),
        ),
    }
    for kind in sys.argv[1:] or list(runs):
        n, run = runs[kind]
        run(5)  # warm-up: caches, connections
        seen: list[str] = []

        def spy(
            execute: Any, sql: str, params: Any, many: bool, context: Any, seen: list[str] = seen
        ) -> Any:
            seen.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(spy):
            run(5)
        wall, cpu = time.perf_counter(), time.process_time()
        run(n)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            f"{kind}: {wall / n * 1000:.3f} ms/request wall, {cpu / n * 1000:.3f} ms CPU "
            f"({n} requests), {len(seen) / 5} queries/request"
        )
        if os.environ.get("PROF"):
            # PROF=cpu: the profile's clock is this process's CPU time, so waits on
            # PostgreSQL or Redis do not count (PROF=1: wall time).
            timer = time.process_time if os.environ["PROF"] == "cpu" else time.perf_counter
            profile = cProfile.Profile(timer)
            profile.runcall(run, n)
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats(
                os.environ.get("PROF_SORT", "tottime")
            ).print_stats(int(os.environ.get("PROF_N", "40")))
            print(out.getvalue())


if __name__ == "__main__":
    main()
