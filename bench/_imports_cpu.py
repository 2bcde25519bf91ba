"""CPU of our import per row: the Python process and its PostgreSQL backend, which load moves
less than wall time. One worker, in-process, on the file `bench/imports.py` generates.

Usage: python bench/_imports_cpu.py [--rows 20000] [--statements] [--profile]
--statements runs every pipeline statement on its own (no pipelining) and prints the
backend's CPU and the wall time of each kind, per imported row (COMMIT included: the
deferred foreign-key checks run there); --profile prints cProfile's top functions.
The backend's CPU is read from /proc/<pid>/stat: PostgreSQL must run on this machine.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import imports as bench_imports
from _harness import setup_django


def _backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _one_by_one(pid: int, stats: dict[str, list[float]]) -> None:
    """Run the PostgreSQL store's statements one at a time, timing each kind."""
    from django.db import connection, connections

    from profiles.services.ingest import pipeline, postgres, statements

    depth = [0]  # the store's statements pass through Django's wrapper too: count once

    def timed(label: str, run: Any) -> Any:
        if depth[0]:
            return run()
        depth[0] += 1
        cpu, wall = _backend_cpu(pid), time.perf_counter()
        try:
            return run()
        finally:
            depth[0] -= 1
            entry = stats[" ".join(label.split())[:60]]
            entry[0] += _backend_cpu(pid) - cpu
            entry[1] += time.perf_counter() - wall

    def run(pending: Any) -> list[list[tuple[Any, ...]]]:
        out = []
        for sql, params in pending:

            def one(sql: str = sql, params: Any = params) -> list[tuple[Any, ...]]:
                with statements.binding_cursor() as cursor:
                    cursor.execute(sql, params)
                    return cursor.fetchall() if cursor.description else []

            out.append(timed(sql, one))
        return out

    class OneByOne(postgres.PostgresStore):
        @contextlib.contextmanager
        def sending(self) -> Iterator[None]:
            yield

    statements.run = run
    pipeline.default_store = OneByOne
    wrapper = type(connections["default"])
    commit = wrapper._commit
    wrapper._commit = lambda self: timed("COMMIT", lambda: commit(self))
    connection.execute_wrapper(
        lambda execute, sql, params, many, context: timed(
            "ORM " + sql, lambda: execute(sql, params, many, context)
        )
    ).__enter__()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--statements", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    setup_django()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    stats: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    if args.statements:
        _one_by_one(pid, stats)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "leads.csv"
        bench_imports.make_csv(path, args.rows)
        profiler = cProfile.Profile() if args.profile else None
        backend, python, wall = _backend_cpu(pid), time.process_time(), time.perf_counter()
        with profiler or contextlib.nullcontext():
            _, counts = bench_imports.ours(path, 1)
        backend = _backend_cpu(pid) - backend
        python, wall = time.process_time() - python, time.perf_counter() - wall
    per_row = 1e6 / args.rows
    print(
        f"{args.rows:,} rows, one worker, load {os.getloadavg()[0]:.1f}: "
        f"Python {python * per_row:.0f} µs/row, PostgreSQL backend {backend * per_row:.0f} "
        f"µs/row, total {(python + backend) * per_row:.0f}; wall {wall * per_row:.0f} µs/row"
    )
    print(f"  {counts}")
    for label, (cpu, seconds) in sorted(stats.items(), key=lambda item: -item[1][0])[:20]:
        print(f"  {cpu * per_row:6.1f} µs CPU {seconds * per_row:6.1f} µs wall  {label}")
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
