"""Planner settings a statement needs, kept to the current transaction (PostgreSQL)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


@contextmanager
def _setting(name: str, value: str) -> Iterator[None]:
    """`name` set to `value` for the statements inside, then back to what it was (both
    within the current transaction). Elsewhere than PostgreSQL, nothing to do."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s), set_config(%s, %s, true)", [name, name, value])
        (previous, _) = cursor.fetchone()
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, %s, true)", [name, previous])


def no_jit() -> contextlib.AbstractContextManager[None]:
    """No JIT compilation for the statements inside.

    Cost estimates grow with the tables (and are pessimistic without statistics), so on
    large tables PostgreSQL starts compiling statements that read a few thousand rows by
    index: 10-20 ms for a small one, ~0.75 s for a statement of several CTEs, saving
    nothing.
    """
    return _setting("jit", "off")


def work_mem(megabytes: int) -> contextlib.AbstractContextManager[None]:
    """Memory for each sort and hash of the statements inside: a statement that groups or
    joins millions of rows in one pass sorts in memory instead of on disk."""
    return _setting("work_mem", f"{megabytes}MB")
