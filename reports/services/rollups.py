"""Daily rollups from the append-only ledgers: caught up by cursor, rebuilt as a safety net.

A ledger is a table that only grows (the event log, the consent ledger). Its rollup groups
rows by day and a few dimensions and counts them. `rollups_catch_up` reads the rows added
since the last run (and ids that committed late, see `core.cursor`) and adds their counts;
`rollups_rebuild` recounts everything. Events of erased people live on as anonymous
counts (`profiles.EventAggregate`, no UTM dimensions): a rebuild counts them too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from django.db import connection, transaction
from django.db.models import Count, Field, Max, Model, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from consent.models import ConsentRecord
from core.counts import counts_add
from core.cursor import id_gaps_after
from core.planner import no_jit
from profiles.models import Event, EventAggregate
from reports.models import DailyConsents, DailyEvents, RollupCursor
from reports.services.conversions import conversions_add, conversions_rebuild
from reports.services.messages import messages_add, messages_rebuild, messages_states_add

OVERLAP_SECONDS = 600
RECENT_IDS = 10_000


@dataclass(frozen=True)
class Ledger:
    """One append-only table, the rollup that counts it, and how its rows are grouped."""

    name: str
    rows: Callable[[], QuerySet]
    day_field: str
    keys: tuple[str, ...]
    rollup: type[Model]


LEDGERS: tuple[Ledger, ...] = (
    Ledger(
        name="events",
        rows=lambda: Event.objects.all(),
        day_field="occurred_at",
        keys=("source_id", "type", "name", "utm_source", "utm_medium", "utm_campaign"),
        rollup=DailyEvents,
    ),
    Ledger(
        name="consents",
        rows=lambda: ConsentRecord.objects.all(),
        day_field="recorded_at",
        keys=("purpose_id", "status", "method"),
        rollup=DailyConsents,
    ),
)


@dataclass(frozen=True)
class RollupCatchUp:
    ledger: str
    rows: int
    position: int
    gaps: int


def grouped_rows(ledger: Ledger, rows: QuerySet) -> list[dict]:
    """The rows counted by day and the ledger's keys, as rollup rows."""
    return list(
        rows.annotate(day=TruncDate(ledger.day_field))
        .values("day", *ledger.keys)
        .annotate(count=Count("id"))
        .order_by()
    )


def _columns(ledger: Ledger, names: list[str]) -> str:
    opts = ledger.rollup._meta
    quote = connection.ops.quote_name
    return ", ".join(quote(cast(Field, opts.get_field(name)).column) for name in names)


def _insert_grouped(ledger: Ledger, rows: QuerySet) -> int:
    """INSERT ... SELECT of the rows' counts into the emptied rollup: no row leaves the
    database. Returns how many ledger rows were counted."""
    grouped = (
        rows.annotate(day=TruncDate(ledger.day_field))
        .values("day", *ledger.keys)
        .annotate(count=Count("id"))
        .order_by()
    )
    select, params = grouped.query.sql_with_params()
    # The SELECT's columns in their order (values() keeps the order it was given).
    columns = _columns(ledger, list(grouped.query.selected or {}))
    quote = connection.ops.quote_name
    table = quote(ledger.rollup._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) {select} RETURNING {quote('count')}",
            params,
        )
        return sum(row[0] for row in cursor.fetchall())


def _add_grouped(ledger: Ledger, rows: QuerySet) -> list[int]:
    """PostgreSQL: add the rows' counts to the rollup and return their ids, in one
    statement, so that the ids and the counts come from the same snapshot."""
    picked = rows.annotate(day=TruncDate(ledger.day_field)).values("id", "day", *ledger.keys)
    select, params = picked.order_by().query.sql_with_params()
    quote = connection.ops.quote_name
    table = quote(ledger.rollup._meta.db_table)
    count = quote("count")
    names = ", ".join(quote(name) for name in ("day", *ledger.keys))
    keys = _columns(ledger, ["day", *ledger.keys])
    sql = (
        f"WITH picked AS MATERIALIZED ({select}), "  # noqa: S608
        f"added AS (INSERT INTO {table} ({keys}, {count}) "
        f"SELECT {names}, COUNT(*) FROM picked GROUP BY {names} "
        f"ON CONFLICT ({keys}) DO UPDATE SET {count} = {table}.{count} + excluded.{count}) "
        f"SELECT id FROM picked ORDER BY id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def _catch_up(ledger: Ledger, *, overlap_seconds: int, max_rows: int) -> RollupCatchUp:
    cursor, created = RollupCursor.objects.select_for_update().get_or_create(name=ledger.name)
    if created or cursor.rebuilt_at is None:
        return _rebuild(ledger, cursor)
    where = Q(id__gt=cursor.position, id__lte=cursor.position + max_rows)
    for low, high, _ in cursor.gaps:
        where |= Q(id__gte=int(low), id__lte=int(high))
    rows = ledger.rows().filter(where)
    if connection.vendor == "postgresql":
        seen = _add_grouped(ledger, rows)
    else:
        # SQLite reads from one snapshot for the whole transaction: ids and counts agree.
        seen = sorted(rows.values_list("id", flat=True))
        counts_add(model=ledger.rollup, keys=("day", *ledger.keys), rows=grouped_rows(ledger, rows))
    cursor.position, cursor.gaps = id_gaps_after(
        gaps=cursor.gaps,
        position=cursor.position,
        seen=seen,
        now=time.time(),
        overlap=overlap_seconds,
    )
    if ledger.rollup is DailyEvents:
        conversions_add(seen)
        messages_add(seen)
        messages_states_add()
    cursor.save(update_fields=["position", "gaps", "updated_at"])
    return RollupCatchUp(ledger.name, len(seen), cursor.position, len(cursor.gaps))


def _rebuild(ledger: Ledger, cursor: RollupCursor) -> RollupCatchUp:
    """Recount the whole ledger; the cursor moves to its end (ids missing near the end are
    kept as gaps, so a row committing late is still counted once)."""
    top = ledger.rows().aggregate(top=Max("id"))["top"] or 0
    rows = ledger.rows().filter(id__lte=top)
    ledger.rollup._default_manager.all().delete()
    counted = _insert_grouped(ledger, rows)
    if ledger.rollup is DailyEvents:
        conversions_rebuild(top=top)
        messages_rebuild(top=top)
        no_utm = {"utm_source": "", "utm_medium": "", "utm_campaign": ""}
        counts_add(
            model=ledger.rollup,
            keys=("day", *ledger.keys),
            rows=[
                {**group, **no_utm}
                for group in EventAggregate.objects.values("day", "source_id", "type", "name")
                .annotate(count=Sum("count"))
                .order_by()
            ],
        )
    # Ids missing among the last ones may still commit: keep them as gaps.
    low = max(top - RECENT_IDS, 0)
    recent = sorted(ledger.rows().filter(id__gt=low, id__lte=top).values_list("id", flat=True))
    cursor.position, cursor.gaps = id_gaps_after(
        gaps=[], position=low, seen=recent, now=time.time(), overlap=OVERLAP_SECONDS
    )
    cursor.rebuilt_at = timezone.now()
    cursor.save(update_fields=["position", "gaps", "rebuilt_at", "updated_at"])
    return RollupCatchUp(ledger.name, counted, top, len(cursor.gaps))


@transaction.atomic
def rollups_catch_up(
    *, overlap_seconds: int = OVERLAP_SECONDS, max_rows: int = 200_000
) -> list[RollupCatchUp]:
    """Add the rows appended since the last run (and late commits) to every daily rollup.

    The first run of a ledger counts it whole. Safe to run twice: each cursor row is locked
    while it is read and moved, in the same transaction as the counts it adds.
    """
    with no_jit():  # each statement reads what is new by index: compiling costs, saves nothing
        return [
            _catch_up(ledger, overlap_seconds=overlap_seconds, max_rows=max_rows)
            for ledger in LEDGERS
        ]


@transaction.atomic
def rollups_rebuild() -> list[RollupCatchUp]:
    """Recount every rollup from its ledger (nightly, and the backfill command)."""
    results = []
    for ledger in LEDGERS:
        cursor, _ = RollupCursor.objects.select_for_update().get_or_create(name=ledger.name)
        results.append(_rebuild(ledger, cursor))
    return results
