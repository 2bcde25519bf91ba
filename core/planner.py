"""Planner settings a statement needs, kept to the current transaction (PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


@contextmanager
def no_jit() -> Iterator[None]:
    """No JIT compilation for the statements inside, within the current transaction.

    Cost estimates grow with the tables (and are pessimistic without statistics), so on
    large tables PostgreSQL starts compiling statements that read a few thousand rows by
    index: 10-20 ms for a small one, ~0.75 s for a statement of several CTEs, saving
    nothing. Elsewhere than PostgreSQL, nothing to do.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('jit'), set_config('jit', 'off', true)")
        (previous, _) = cursor.fetchone()
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('jit', %s, true)", [previous])
