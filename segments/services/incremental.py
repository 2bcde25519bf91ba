"""The incremental refresh of a few profiles in one round trip (PostgreSQL).

`segment_refresh_profiles` sends, as one message, the segments' lock and a single
statement whose writable CTEs decide every segment for the given profiles (the
precompiled decision SELECT), end the stays of those who leave, begin the stays of those
who enter, append their "Segment Entered" / "Segment Exited" events (SQL from
`profiles.services.events`) and move each segment's `member_count`. PostgreSQL runs a
message of several statements as one transaction (unless an outer one is open), each
statement with its own snapshot: the decision reads what was committed once the lock
was held, as the statement-by-statement path does.

The statement is prepared once per connection (PREPARE / EXECUTE: planning it took three
times as long as running it) and built for the active segments the caller assumes (from
its last locked refresh); it checks them (ids, kinds, names, rules) and the system source
under the lock, and writes nothing when they differ: the caller then takes the
statement-by-statement path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from django.db import connection

from core.prepared import Prepared, lost_detected
from profiles.models import Profile
from profiles.services.events import (
    system_event_properties,
    system_events_insert_sql,
    system_source_exists_sql,
)
from segments.models import Membership, Segment

ENTERED, EXITED = "Segment Entered", "Segment Exited"


@dataclass(frozen=True)
class Assumed:
    """The active segments a one-statement refresh is built for (id order)."""

    segments: tuple[Segment, ...]

    @cached_property
    def expected(self) -> str:
        return json.dumps([[s.pk, s.kind, s.name, s.rule] for s in self.segments])

    @cached_property
    def properties(self) -> list[Any]:
        """The properties of each segment's events, as parameters."""
        return [
            system_event_properties({"segment_id": s.pk, "segment_name": s.name})
            for s in self.segments
        ]


def one_statement_possible() -> bool:
    """PostgreSQL with client-side binding (Django's default), which may send several
    statements in one message."""
    return (
        connection.vendor == "postgresql"
        and connection.settings_dict["OPTIONS"].get("server_side_binding") is not True
    )


_ROWS = (
    "SELECT _c.profile_id, _c.message_id, _c.name, _props.properties "
    "FROM _changes _c JOIN _props ON _props.segment_id = _c.segment_id"
)


def _work_params(
    *,
    assumed: Assumed,
    decision_params: Sequence[Any],
    ids: Sequence[int],
    now: datetime,
    source_slug: str,
) -> tuple[str, list[Any]]:
    """The parameters of the statement that decides and writes, and its events' SQL."""
    at = Membership._meta.get_field("entered_at").get_db_prep_save(now, connection)
    _, source_params = system_source_exists_sql(slug=source_slug)
    events_sql, events_params = system_events_insert_sql(
        rows_sql=_ROWS, rows_params=(), source_slug=source_slug, at=now, returning=True
    )
    params: list[Any] = [
        *decision_params,
        ids[0] if len(ids) == 1 else list(ids),
        assumed.expected,
        *source_params,
        at,
        at,
        EXITED,
        ENTERED,
        *assumed.properties,
        *events_params,
    ]
    return events_sql, params


def _work_sql(
    *, assumed: Assumed, decision_sql: str, single: bool, events_sql: str, source_slug: str
) -> str:
    """The statement that decides and writes (placeholders in `_work_params`' order)."""
    quote = connection.ops.quote_name
    segments = assumed.segments
    memberships = quote(Membership._meta.db_table)
    table = quote(Segment._meta.db_table)
    pk = quote(Segment._meta.pk.column)
    names = ", ".join(["pk", *(f"{c}_{s.pk}" for s in segments for c in ("in", "should"))])
    profiles = f"{quote(Profile._meta.db_table)}.{quote(Profile._meta.pk.column)}"
    # One id: an equality the generic plan estimates as well as a custom one.
    which = "= %s" if single else "= ANY(%s)"
    pairs = ", ".join(f"({s.pk}, _d.in_{s.pk}, _d.should_{s.pk})" for s in segments)
    props = ", ".join(f"({s.pk}, %s)" for s in segments)
    source_sql, _ = system_source_exists_sql(slug=source_slug)
    guard = (
        f"SELECT COALESCE((SELECT jsonb_agg(jsonb_build_array({pk}, kind, name, rule) "  # noqa: S608
        f"ORDER BY {pk}) FROM {table} WHERE is_active), '[]'::jsonb) = CAST(%s AS jsonb) "
        f"AND {source_sql} AS ok"
    )
    return (
        f"WITH _d({names}) AS ({decision_sql} WHERE {profiles} {which}), "  # noqa: S608
        f"_ok AS ({guard}), "
        "_moves AS (SELECT _v.segment_id, _d.pk AS profile_id, _v.should AS entering "
        f"FROM _d CROSS JOIN LATERAL (VALUES {pairs}) _v(segment_id, member, should) "
        "WHERE _v.member <> _v.should AND (SELECT ok FROM _ok)), "
        f"_exits AS (UPDATE {memberships} _m SET exited_at = %s FROM _moves "
        "WHERE NOT _moves.entering AND _m.segment_id = _moves.segment_id "
        "AND _m.profile_id = _moves.profile_id AND _m.exited_at IS NULL "
        "RETURNING _m.id, _m.segment_id, _m.profile_id), "
        f"_entries AS (INSERT INTO {memberships} (segment_id, profile_id, entered_at) "
        "SELECT segment_id, profile_id, %s FROM _moves WHERE entering "
        "RETURNING id, segment_id, profile_id), "
        "_changes AS (SELECT segment_id, profile_id, "
        "'segment-exited-' || CAST(id AS VARCHAR(20)) AS message_id, "
        "CAST(%s AS VARCHAR(200)) AS name, FALSE AS entering FROM _exits UNION ALL "
        "SELECT segment_id, profile_id, 'segment-entered-' || CAST(id AS VARCHAR(20)), "
        "CAST(%s AS VARCHAR(200)), TRUE FROM _entries), "
        f"_props(segment_id, properties) AS (VALUES {props}), "
        f"_events AS ({events_sql}), "
        "_counts AS (SELECT segment_id, COUNT(*) FILTER (WHERE entering) AS entered, "
        "COUNT(*) FILTER (WHERE NOT entering) AS exited FROM _changes GROUP BY segment_id), "
        f"_sizes AS (UPDATE {table} _s SET member_count = _s.member_count + _counts.entered "
        f"- _counts.exited FROM _counts WHERE _s.{pk} = _counts.segment_id) "
        "SELECT (SELECT ok FROM _ok), (SELECT COUNT(*) FROM _events), "
        "ARRAY(SELECT ARRAY[segment_id, entered, exited] FROM _counts ORDER BY segment_id)"
    )


# (assumed segments, decision SQL, one id?, source) -> the prepared statement
_BUILT: dict[tuple[str, str, bool, str, str], Prepared] = {}
_BUILT_MAX = 100


def _built(
    *,
    assumed: Assumed,
    decision_sql: str,
    single: bool,
    source_slug: str,
    events_sql: str,
    params: Sequence[Any],
) -> Prepared:
    """The prepared statement, built once per process and key."""
    key = (assumed.expected, decision_sql, single, source_slug, events_sql)
    found = _BUILT.get(key)
    if found is None:
        sql = _work_sql(
            assumed=assumed,
            decision_sql=decision_sql,
            single=single,
            events_sql=events_sql,
            source_slug=source_slug,
        )
        if len(_BUILT) >= _BUILT_MAX:
            _BUILT.clear()
        found = _BUILT[key] = Prepared.build(prefix="cdp_segments", sql=sql, params=params)
    return found


def refresh_one_statement(
    *,
    assumed: Assumed,
    decision_sql: str,
    decision_params: Sequence[Any],
    ids: Sequence[int],
    now: datetime,
    source_slug: str,
    asynchronous_commit: bool,
) -> dict[int, tuple[int, int]] | None:
    """Apply the decision for `ids` in one round trip; {segment id: (in, out)} for the
    segments that changed, or None (nothing written) if the assumed segments are not the
    active ones any more or the system source does not exist yet.

    Raises PreparedLost when the connection's prepared statements were not what this
    process remembered (a pooler's DISCARD ALL): nothing was written, call again."""
    events_sql, params = _work_params(
        assumed=assumed, decision_params=decision_params, ids=ids, now=now, source_slug=source_slug
    )
    statement = _built(
        assumed=assumed,
        decision_sql=decision_sql,
        single=len(ids) == 1,
        source_slug=source_slug,
        events_sql=events_sql,
        params=params,
    )
    table = connection.ops.quote_name(Segment._meta.db_table)
    pk = connection.ops.quote_name(Segment._meta.pk.column)
    statements = [f"SELECT {pk} FROM {table} WHERE is_active ORDER BY {pk} FOR UPDATE"]  # noqa: S608
    if asynchronous_commit:
        # Only this message's own transaction (see DURABLE_INCREMENTAL in membership).
        statements.insert(0, "SELECT set_config('synchronous_commit', 'off', true)")
    statements = [*statement.preamble(), *statements, statement.execute]
    with lost_detected(), connection.cursor() as cursor:
        cursor.execute("; ".join(statements), params)
        raw = cursor.cursor
        for _ in statements[:-1]:
            raw.nextset()
        ok, events, counts = raw.fetchone()
    if not ok:
        return None
    changes = {int(s): (int(e), int(x)) for s, e, x in counts}
    # The guard saw the source under the lock: every change has its event.
    assert events == sum(e + x for e, x in changes.values())
    return changes
