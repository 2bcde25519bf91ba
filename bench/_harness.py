"""Shared plumbing of the benchmark scripts: a fresh PostgreSQL database, tables, JSON.

Each `bench/*.py` (files starting with "_" are helpers) prints a readable table and, as
its last line, one JSON object with its figures and targets.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/cdp_bench"


def bench_database_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)


def setup_django(*, fresh: bool = True) -> str:
    """Point Django at the bench database (recreated when fresh) and migrate it."""
    url = bench_database_url()
    if not url.startswith("postgres"):
        sys.exit("benchmarks compare against PostgreSQL COPY: set BENCH_DATABASE_URL=postgres://…")
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdp_site.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    if fresh:
        _recreate_database(url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url


def _recreate_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


@contextmanager
def timed() -> Iterator[dict[str, float]]:
    """Wall seconds of the block, and the CPU seconds the whole machine spent meanwhile
    (every process: the bench's, PostgreSQL's, and anything else running; 0 without /proc)."""
    box: dict[str, float] = {}
    busy = _machine_busy()
    start = time.perf_counter()
    try:
        yield box
    finally:
        box["seconds"] = time.perf_counter() - start
        box["cpu_seconds"] = _machine_busy() - busy


def _machine_busy() -> float:
    """CPU seconds all cores have spent busy since boot (/proc/stat), 0 where it is absent."""
    try:
        ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks[:8]) - idle) / _TICKS


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(terse=True),
    }


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _group_pids(pgid: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:
            pids.append(int(stat.parent.name))
    return pids


def _backend_pids(database_url: str) -> list[int]:
    import psycopg

    base, _, name = database_url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        ).fetchall()
    return [pid for (pid,) in rows]


def _redis_pids() -> list[int]:
    pids = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "redis-server":
                pids.append(int(comm.parent.name))
        except OSError:
            continue
    return pids


@contextmanager
def cpu_meter(server: subprocess.Popen[bytes], database_url: str) -> Iterator[dict[str, float]]:
    """CPU seconds spent meanwhile by the web server, its PostgreSQL backends, Redis and this
    process (the clients). CPU time moves far less with the machine's load than wall time.
    Backends opened meanwhile are counted from zero."""
    groups = {
        "web": lambda: _group_pids(server.pid),
        "db": lambda: _backend_pids(database_url),
        "cache": _redis_pids,
    }
    before = {name: {pid: _cpu_seconds(pid) for pid in find()} for name, find in groups.items()}
    client = time.process_time()
    box: dict[str, float] = {}
    try:
        yield box
    finally:
        box["client"] = time.process_time() - client
        for name, find in groups.items():
            box[name] = sum(_cpu_seconds(pid) - before[name].get(pid, 0.0) for pid in find())


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        print(
            "  "
            + "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if value < 10 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def emit(figures: dict[str, Any]) -> None:
    """The last line of every benchmark: one JSON object."""
    print(json.dumps({**figures, "machine": machine()}, sort_keys=True, default=str))


def best_of(runs: int, fn: Callable[[], float]) -> float:
    """The fastest of a few runs: the least disturbed by a noisy machine."""
    return min(fn() for _ in range(runs))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    database_url: str, workers: int, extra_env: dict[str, str] | None = None, threads: int = 2
) -> tuple[subprocess.Popen[bytes], int]:
    """gunicorn on a free local port against the bench database; waits until it answers."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "WARNING",
        "DB_CONN_MAX_AGE": "600",
        # As in production: Redis for the cache (rate limits) and the broker.
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"),
        "CELERY_BROKER_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"),
        **(extra_env or {}),
    }
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "cdp_site.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/admin/login/")
            if conn.getresponse().status == 200:
                return server, port
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise RuntimeError("gunicorn did not start")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)


def post_all(
    port: int,
    path: str,
    bodies: Sequence[bytes],
    clients: int,
    headers: dict[str, str],
    extra_headers: Callable[[int], dict[str, str]] | None = None,
) -> tuple[float, list[float], int]:
    """POST every body once over `clients` keep-alive connections.

    `extra_headers(n)`: headers of the n-th request on top of `headers`.
    Returns requests/s, each request's latency in seconds, and how many answered >= 300.
    """
    lock = threading.Lock()
    latencies: list[float] = []
    failures = [0]
    cursor = [0]

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if cursor[0] >= len(bodies):
                    return
                index = cursor[0]
                cursor[0] += 1
            body = bodies[index]
            sent = headers if extra_headers is None else {**headers, **extra_headers(index)}
            start = time.perf_counter()
            conn.request("POST", path, body=body, headers=sent)
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                if response.status >= 300:
                    failures[0] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    with timed() as t:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return len(bodies) / t["seconds"], latencies, failures[0]
