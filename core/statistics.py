"""Planner statistics refreshed when a bulk write has left them behind.

PostgreSQL plans from statistics that ANALYZE gathers. autovacuum gathers them a while after
a table has changed by a tenth (it wakes once a minute; some servers run with it off), so
right after a large import they describe the tables as they were. Plans made from them can
be quadratic: after importing 100,000 rows into a fresh database, a segment's refresh
probed the whole source's events once a profile (`BitmapAnd` in a subplan) and ran for more
than ten minutes; with statistics, in 0.9 s. So the work that writes or reads in bulk asks
for fresh statistics itself: an import when it finishes, a segment refresh before it plans.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, cast

from django.db import connection
from django.db.models import Model

if TYPE_CHECKING:
    from django.db.backends.postgresql.base import DatabaseWrapper as PostgresWrapper

logger = logging.getLogger(__name__)

# As autovacuum's analyze trigger (autovacuum_analyze_threshold / _scale_factor).
STALE_ROWS = 1000
STALE_FRACTION = 0.1

_STALE_SQL = """
    SELECT c.relname
      FROM pg_class c
      JOIN pg_stat_user_tables s ON s.relid = c.oid
     WHERE c.relname = ANY(%s)
       AND (c.reltuples < 0
            OR s.n_mod_since_analyze > %s + %s * greatest(c.reltuples, s.n_live_tup))
     ORDER BY c.relname
"""


def statistics_refresh(*, models: Iterable[type[Model]]) -> list[str]:
    """ANALYZE the models' tables that were never analyzed or changed by more than a tenth
    (and a thousand rows) since; the names of those analyzed. Nothing on SQLite.

    ANALYZE reads a sample (30,000 rows a table by default): well under a second on tables
    of millions of rows. It blocks no reads or writes, and may run in a transaction.
    """
    if connection.vendor != "postgresql":
        return []
    tables = sorted({model._meta.db_table for model in models})
    postgres = cast("PostgresWrapper", connection)  # the vendor, checked above
    with connection.cursor() as cursor:
        if postgres.pg_version >= 150000 and not connection.in_atomic_block:
            # This connection's own counts reach the statistics system when it next goes
            # idle, at most once a second: now, before they are read.
            cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute(_STALE_SQL, [tables, STALE_ROWS, STALE_FRACTION])
        stale = [name for (name,) in cursor.fetchall()]
        for name in stale:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(name)}")
    if stale:
        logger.info("planner statistics refreshed: %s", ", ".join(stale))
    return stale
