"""Markers and helpers shared by the test modules."""

import threading
from collections.abc import Callable

import pytest
from django.db import connection

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: row locks, concurrent upserts and SKIP LOCKED are not "
    "meaningful on SQLite, which serialises all writers",
)


def in_parallel(count: int, work: Callable[[int], object]) -> list[BaseException]:
    """Run work(0..count-1) in threads released together; the exceptions they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            barrier.wait()
            work(n)
        except BaseException as exc:  # collected and asserted on by the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors
