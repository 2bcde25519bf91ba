"""The ingestion store on PostgreSQL: hand-written, set-based SQL with array parameters.

What was measured (batches of 100 events, PostgreSQL 15, psycopg 3.3, two cores):

- Writes: `INSERT ... SELECT FROM unnest(...)` with each column sent as one binary array over
  server-side binding takes ~3 ms for 100 events, like a COPY straight into the table
  (~2.6 ms), less than COPY into a staging table plus INSERT ... SELECT (~3.5-4 ms), and far
  less than the ORM's multi-row INSERT (~9-15 ms: every value quoted into the SQL text in
  Python). Unlike COPY it keeps ON CONFLICT and RETURNING, so every write here is one.
- jsonb columns travel as one JSON array per column (`ROWS FROM (unnest(...),
  jsonb_array_elements(...))`): for 1,000 events, one `json.dumps` of the batch's values
  takes ~1 ms where one per value took ~3 ms, and the INSERT ~14 ms instead of ~17 ms.
- How arrays travel: psycopg's binary array dumper runs in Python per element (~0.4 µs).
  Text and jsonb go as one JSON array (`jsonb_array_elements[_text]`), bigints as an array
  literal written by orjson (`statements.bigint_array`) in writes; timestamps and dates
  stay binary arrays (the server parses their text slowly), and so do the reads' bigint
  arrays: `id = ANY('{…}'::text::bigint[])` is not folded at planning (array_in is only
  stable), so a sequential scan parsed the literal again for every row (a lock of 100
  profiles: 38 ms instead of 0.5 ms; the drain at half speed until this was found).
  callgrind, importing the bench's rows: -8.9 % instructions a row for the writes' bigints
  and the reads' text arrays (identifiers, message ids, suppression digests).
- Round trips: writes that return nothing are queued and sent in one pipeline with the next
  read (or at `flush()`). The server runs the statements in the same order, so locks and
  snapshots behave exactly as if each had waited for the previous one. Inside `sending()`
  they go out at once, so the server works while Python computes the next ones.
- Lookups by a unique key probe the unique index once per key (`CROSS JOIN LATERAL ...
  LIMIT 1`): an `= ANY(array)` filter let the planner scan all of a source's events through
  the source_id index on a table without fresh statistics, growing with every batch.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from consent.models import Suppression
from profiles.models import (
    DataQualityIssue,
    Event,
    FieldProvenance,
    Identity,
    Profile,
    ProfileAudit,
    Source,
)
from profiles.services.ingest import statements
from profiles.services.ingest.resolve import Known
from profiles.services.ingest.statements import Column, Statement
from profiles.services.ingest.store import (
    STATE_COLUMNS,
    Assigned,
    AuditRow,
    IssueRow,
    OrmStore,
    ProvenanceRow,
)
from profiles.services.messages import Key
from profiles.services.quality.score import score_update_statement

# How each profile column ingestion writes is sent (see `statements.values`).
_PROFILE_TYPES = {name: "text" for name in STATE_COLUMNS} | {
    "date_of_birth": "date",
    "traits": "jsonb",
    "first_seen_at": "timestamptz",
    "last_seen_at": "timestamptz",
    "quality_score": "bigint",
}
_EVENT_COLUMNS: tuple[Column, ...] = (
    ("profile_id", "bigint"),
    ("type", "text"),
    ("name", "text"),
    ("properties", "jsonb"),
    ("context", "jsonb"),
    ("utm_source", "text"),
    ("utm_medium", "text"),
    ("utm_campaign", "text"),
    ("utm_term", "text"),
    ("utm_content", "text"),
    ("message_id", "text"),
    ("occurred_at", "timestamptz"),
)
_UTM = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
_PROVENANCE_COLUMNS: tuple[Column, ...] = (
    ("profile_id", "bigint"),
    ("field", "text"),
    ("source_id", "bigint"),
    ("value", "text"),
    ("observed_at", "timestamptz"),
)
_ISSUE_COLUMNS: tuple[Column, ...] = (
    ("profile_id", "bigint"),
    ("field", "text"),
    ("code", "text"),
    ("severity", "text"),
    ("message", "text"),
    ("suggestion", "text"),
    ("value", "text"),
    ("detected_at", "timestamptz"),
)

# The SQL below is composed only from table and column names of our models and from
# constants of this module; every value travels as a bound parameter (hence the S608 noqas).
_EVENT = Event._meta.db_table
_IDENTITY = Identity._meta.db_table
_PROFILE = Profile._meta.db_table
_PROVENANCE = FieldProvenance._meta.db_table
_SOURCE = Source._meta.db_table

_SEEN_SQL = f"""
    SELECT m.id FROM jsonb_array_elements_text(%b::text::jsonb) AS m(id)
    CROSS JOIN LATERAL (
        SELECT 1 FROM {_EVENT} e WHERE e.source_id = %b::bigint AND e.message_id = m.id LIMIT 1
    ) AS hit
"""  # noqa: S608
# Each identifier's owner (following a merged tombstone once), the owner's user id and
# stage: what the ORM store asks in three queries. Every step is a probe of a unique index;
# the tombstone's survivor is probed only for a tombstone (-14% time for 1,100 identifiers).
_KNOWN_SQL = f"""
    SELECT k.kind, k.namespace, k.value, o.id, o.lifecycle_stage,
           (SELECT u.value FROM {_IDENTITY} u WHERE u.profile_id = o.id AND u.kind = %b
             ORDER BY u.id DESC LIMIT 1)
      FROM ROWS FROM (jsonb_array_elements_text(%b::text::jsonb),
                      jsonb_array_elements_text(%b::text::jsonb),
                      jsonb_array_elements_text(%b::text::jsonb)) AS k(kind, namespace, value)
     CROSS JOIN LATERAL (
           SELECT i.profile_id FROM {_IDENTITY} i
            WHERE i.kind = k.kind AND i.namespace = k.namespace AND i.value = k.value LIMIT 1
           ) AS i
     CROSS JOIN LATERAL (
           SELECT p.id, p.lifecycle_stage, p.merged_into_id,
                  p.status = %b AND p.merged_into_id IS NOT NULL AS merged
             FROM {_PROFILE} p WHERE p.id = i.profile_id LIMIT 1
           ) AS p
      LEFT JOIN LATERAL (
           SELECT s.id, s.lifecycle_stage FROM {_PROFILE} s
            WHERE p.merged AND s.id = p.merged_into_id LIMIT 1
           ) AS survivor ON true
     CROSS JOIN LATERAL (
           SELECT CASE WHEN p.merged THEN survivor.id ELSE p.id END AS id,
                  CASE WHEN p.merged THEN survivor.lifecycle_stage ELSE p.lifecycle_stage END
                  AS lifecycle_stage
           ) AS o
"""  # noqa: S608
_SUPPRESSED_SQL = (
    f"SELECT digest FROM {Suppression._meta.db_table} "  # noqa: S608
    "WHERE digest = ANY(ARRAY(SELECT jsonb_array_elements_text(%b::text::jsonb))) "
    "AND lifted_at IS NULL"
)
_NEW_IDS_SQL = (
    f"SELECT nextval(pg_get_serial_sequence('{_PROFILE}', 'id')) "  # noqa: S608
    "FROM generate_series(1, %b::int)"
)
_STATE = ("id", *STATE_COLUMNS, "merged_into_id", "status")
_LOCK_PROFILES_SQL = (
    f"SELECT id, {', '.join(STATE_COLUMNS)}, merged_into_id, status FROM {_PROFILE} "  # noqa: S608
    "WHERE id = ANY(%b::bigint[]) ORDER BY id FOR UPDATE"
)
# Reads by a batch's profile ids probe the index once an id (a LATERAL subquery, kept from
# being flattened into a join by OFFSET 0). `profile_id = ANY(array)` is costed from the
# table's statistics, and during a large import into a fresh table those lag far behind:
# the planner took 300 ids to match a sixth of the table and scanned all of it, every batch
# (5 ms a batch at 80,000 provenance rows, growing with the table).
_PROVENANCE_SQL = f"""
    SELECT f.profile_id, f.field, f.source_id, f.value, f.observed_at, s.trust_rank
      FROM unnest(%b::bigint[]) AS k(id)
     CROSS JOIN LATERAL (SELECT * FROM {_PROVENANCE} WHERE profile_id = k.id OFFSET 0) f
      JOIN {_SOURCE} s ON s.id = f.source_id
     ORDER BY f.id
"""  # noqa: S608
_IDENTITY_COUNTS_SQL = f"""
    SELECT k.id, i.kind, count(*)
      FROM unnest(%b::bigint[]) AS k(id)
     CROSS JOIN LATERAL (
           SELECT kind FROM {_IDENTITY} WHERE profile_id = k.id AND kind = ANY(%b::text[])
           OFFSET 0
           ) i
     GROUP BY k.id, i.kind
"""  # noqa: S608


# The look-up of a batch's identifiers is one index probe a key, but the planner costs it
# as every key matching (~100,000 for 6,000 keys on a table of 300,000 identities): past
# jit_above_cost, PostgreSQL compiled it with LLVM, ~16 ms a 2,000-row import batch
# (8 µs a row) for a statement that then ran in ~10 ms. Off for the batch's transaction.
_NO_JIT: Statement = ("SET LOCAL jit = off", [])


class PostgresStore(OrmStore):
    """Hand-written, set-based SQL for the per-batch hot path; rare paths stay on the ORM.

    One instance per batch: it holds the writes not sent yet.
    """

    def __init__(self) -> None:
        super().__init__()
        # Writes not sent yet, each with the list its RETURNING rows go to (if any). The
        # first goes out with the batch's first read, inside its transaction.
        self._queued: list[tuple[Statement, list[Any] | None]] = [(_NO_JIT, None)]
        self._sent: ExitStack | None = None  # the cursors of `sending()`'s open pipeline
        self._stored: list[tuple[str]] | None = None  # RETURNING rows of insert_events
        self._identities_stored: list[tuple[str, str, str]] = []  # ... of insert_identities

    def _write(self, statement: Statement, returned: list[Any] | None = None) -> None:
        """Queue (or, inside `sending()`, send) a write; `returned` receives its RETURNING
        rows once it has run (at the next read or `flush()` for a queued one)."""
        if self._sent is None:
            self._queued.append((statement, returned))
            return
        cursor = self._sent.enter_context(statements.binding_cursor())
        cursor.execute(*statement)
        if returned is not None:

            def collect(exc_type: type[BaseException] | None, *_: object) -> bool:
                if exc_type is None:  # the pipeline has ended: the rows are here
                    returned.extend(cursor.fetchall())
                return False

            self._sent.push(collect)  # runs before the cursor closes

    @contextmanager
    def sending(self) -> Iterator[None]:
        """Writes inside go out at once in one pipeline; its end waits for them all.

        The server stores a batch's events (~12 ms for 1,000) while Python works out the
        profile fields (~10 ms) instead of after it.
        """
        self.flush()
        connection.ensure_connection()
        with (
            ExitStack() as cursors,
            connection.wrap_database_errors,
            connection.connection.pipeline(),
        ):
            self._sent = cursors
            try:
                yield
            finally:
                self._sent = None

    def _read(self, *reads: Statement) -> list[list[tuple[Any, ...]]]:
        """The queued writes then `reads`, in one round trip; the rows each read returned."""
        if self._sent is not None:
            raise RuntimeError("PostgresStore.sending() is for writes only")
        queued, self._queued = self._queued, []
        if not queued and not reads:
            return []
        rows = statements.run([statement for statement, _ in queued] + list(reads))
        for (_, returned), returning in zip(queued, rows, strict=False):
            if returned is not None:
                returned += returning
        return rows[len(queued) :]

    def flush(self) -> None:
        self._read()

    def lookup(
        self, source_id: int, message_ids: list[str], keys: Collection[Key]
    ) -> tuple[set[str], Known]:
        reads: list[statements.Statement] = [
            (_SEEN_SQL, [statements.json_text(message_ids), source_id])
        ]
        if keys:
            reads.append(_known_statement(keys))
        rows = self._read(*reads)
        seen = {row[0] for row in rows[0]}
        return seen, _known(rows[1]) if keys else Known()

    def suppressed(self, digests: Collection[str]) -> set[str]:
        """`consent.selectors.suppressed_digests`, the digests sent as one JSON array.

        Through the ORM, quoting a batch's digests (two a message) into the SQL took ~14 µs
        of Python a message.
        """
        (rows,) = self._read((_SUPPRESSED_SQL, [statements.json_text(list(digests))]))
        return {digest for (digest,) in rows}

    def new_profile_ids(self, lifecycles: list[str]) -> list[int]:
        """Ids for the profiles the batch creates, taken from the table's sequence; the rows
        are written once, whole, by `insert_new_profiles` (the foreign keys of identities
        and events pointing at them are checked at commit).

        Inserting empty rows first and updating them later wrote every new profile twice:
        two heap tuples and two entries in each of its five indexes.
        """
        if not lifecycles:
            return []
        (rows,) = self._read((_NEW_IDS_SQL, [len(lifecycles)]))
        return [pk for (pk,) in rows]

    def insert_identities(self, rows: list[tuple[int, Key]], source_id: int) -> None:
        """Store identifiers of their new owners, in one order (see `OrmStore`); which were
        taken shows in `identities_taken` after the next read."""
        rows = self._identities_sent = sorted(rows, key=lambda row: row[1])
        if not rows:
            return
        columns = [("profile_id", "bigint"), ("kind", "text"), ("namespace", "text")]
        self._write(
            statements.insert(
                Identity,
                [*columns, ("value", "text")],
                [
                    [profile_id for profile_id, _ in rows],
                    [key[0] for _, key in rows],
                    [key[1] for _, key in rows],
                    [key[2] for _, key in rows],
                ],
                constants=[("source_id", "bigint", source_id)],
                suffix="ON CONFLICT (kind, namespace, value) DO NOTHING "
                "RETURNING kind, namespace, value",
                now=timezone.now(),
            ),
            self._identities_stored,
        )

    def identities_taken(self) -> set[Key]:
        self.flush()
        if len(self._identities_stored) == len(self._identities_sent):
            return set()  # every one inserted (the keys sent are distinct): none taken
        return {key for _, key in self._identities_sent} - set(self._identities_stored)

    def identity_counts(
        self, profile_ids: Collection[int], kinds: Collection[str]
    ) -> dict[tuple[int, str], int]:
        if not profile_ids:
            return {}
        (rows,) = self._read((_IDENTITY_COUNTS_SQL, [list(profile_ids), list(kinds)]))
        return {(profile_id, kind): n for profile_id, kind, n in rows}

    def stitch(self, absorbed: dict[int, int]) -> None:
        self.flush()  # the ORM statements below must come after the queued writes
        super().stitch(absorbed)

    def lock_profiles(
        self, profile_ids: list[int]
    ) -> tuple[dict[int, dict[str, Any]], list[ProvenanceRow]]:
        """Lock the profiles in primary-key order, then read their state and provenance."""
        if not profile_ids:
            return {}, []
        locked, provenance = self._read(
            (_LOCK_PROFILES_SQL, [profile_ids]),
            # After the lock: a batch that held it has committed its provenance by now.
            (_PROVENANCE_SQL, [profile_ids]),
        )
        states = {}
        for row in locked:
            state = dict(zip(_STATE, row, strict=True))
            if isinstance(state["traits"], str):  # Django loads jsonb as text
                state["traits"] = json.loads(state["traits"])
            states[state["id"]] = state
        return states, [ProvenanceRow(*row) for row in provenance]

    def upsert_provenance(
        self, rows: list[ProvenanceRow], fresh: Collection[int] = frozenset()
    ) -> None:
        """Rows of `fresh` profiles in a plain INSERT: an upsert's conflict check (a probe
        of the unique index before each row) cost ~30 % of the statement for none found."""
        new = [row for row in rows if row.profile_id in fresh]
        old = [row for row in rows if row.profile_id not in fresh] if new else rows
        for part, suffix in (
            (new, ""),
            (
                old,
                "ON CONFLICT (profile_id, field, source_id) DO UPDATE "
                "SET value = EXCLUDED.value, observed_at = EXCLUDED.observed_at",
            ),
        ):
            if not part:
                continue
            self._write(
                statements.insert(
                    FieldProvenance,
                    _PROVENANCE_COLUMNS,
                    [
                        [row.profile_id for row in part],
                        [row.field for row in part],
                        [row.source_id for row in part],
                        [row.value for row in part],
                        [row.observed_at for row in part],
                    ],
                    suffix=suffix,
                    now=timezone.now(),
                )
            )

    def update_profiles(
        self, states: list[dict[str, Any]], columns: list[str], updated_at: datetime
    ) -> None:
        """Write `columns` and updated_at of existing, locked profiles in one UPDATE."""
        if not states:
            return
        sent: list[Column] = [("id", "bigint")]
        sent += [(name, _PROFILE_TYPES[name]) for name in columns]
        arrays = [[state[name] for state in states] for name, _ in sent]
        assignments = [f"{name} = v.{name}" for name, _ in sent[1:]]
        self._write(
            (
                f"UPDATE {_PROFILE} AS p SET {', '.join(assignments)}, updated_at = %b "  # noqa: S608
                f"FROM {statements.rows_from(sent)} WHERE p.id = v.id",
                [updated_at, *statements.values(sent, arrays)],
            )
        )

    def insert_new_profiles(self, states: list[dict[str, Any]], updated_at: datetime) -> None:
        """Write the profiles `new_profile_ids` gave ids to, whole, in one INSERT."""
        if not states:
            return
        sent: list[Column] = [("id", "bigint")]
        sent += [(name, _PROFILE_TYPES[name]) for name in STATE_COLUMNS]
        self._write(
            statements.insert(
                Profile,
                sent,
                [[state[name] for state in states] for name, _ in sent],
                constants=[("updated_at", "timestamptz", updated_at)],
                now=updated_at,
            )
        )

    def insert_audits(self, rows: list[AuditRow], source_id: int) -> None:
        if not rows:
            return
        self._write(
            statements.insert(
                ProfileAudit,
                [("profile_id", "bigint"), ("action", "text"), ("fields", "jsonb")],
                [
                    [profile_id for profile_id, _, _ in rows],
                    [action for _, action, _ in rows],
                    [fields for _, _, fields in rows],
                ],
                constants=[("source_id", "bigint", source_id)],
                now=timezone.now(),
            )
        )

    def upsert_issues(self, rows: list[IssueRow], source_id: int) -> None:
        if not rows:
            return
        now = timezone.now()
        self._write(
            statements.insert(
                DataQualityIssue,
                _ISSUE_COLUMNS,
                [
                    [profile_id for profile_id, _, _ in rows],
                    [issue.field for _, issue, _ in rows],
                    [issue.code for _, issue, _ in rows],
                    [issue.severity for _, issue, _ in rows],
                    [issue.message[:200] for _, issue, _ in rows],
                    [issue.suggestion[:320] for _, issue, _ in rows],
                    [issue.value for _, issue, _ in rows],
                    [observed_at for _, _, observed_at in rows],
                ],
                constants=[("source_id", "bigint", source_id)],
                suffix="ON CONFLICT (profile_id, field, code, source_id) DO UPDATE "
                "SET severity = EXCLUDED.severity, message = EXCLUDED.message, "
                "suggestion = EXCLUDED.suggestion, value = EXCLUDED.value, "
                "detected_at = EXCLUDED.detected_at, resolved_at = NULL",
                now=now,
            )
        )

    def score_profiles(self, profile_ids: list[int], weights: dict[str, int]) -> None:
        if profile_ids:
            self._write(score_update_statement(profile_ids, weights))

    def insert_events(self, assigned: Assigned, source_id: int, received_at: datetime) -> None:
        """Append the events; a replay racing this batch is dropped by the unique constraint."""
        if not assigned:
            return
        items = [item for item, _ in assigned]
        arrays: list[list[Any]] = [
            [profile_id for _, profile_id in assigned],
            [item.type for item in items],
            [item.name for item in items],
            [item.properties for item in items],
            [item.context for item in items],
        ]
        arrays += [[item.utm[name] for item in items] for name in _UTM]
        arrays += [[item.message_id for item in items], [item.occurred_at for item in items]]
        returned: list[tuple[str]] = []
        self._write(
            statements.insert(
                Event,
                _EVENT_COLUMNS,
                arrays,
                constants=[
                    ("source_id", "bigint", source_id),
                    ("received_at", "timestamptz", received_at),
                ],
                # The one conflict possible; naming it spares checking the primary key (-7%).
                suffix="ON CONFLICT (source_id, message_id) DO NOTHING RETURNING message_id",
                now=received_at,
            ),
            returned,
        )
        self._stored = returned  # filled when the rows arrive

    def stored_message_ids(self) -> set[str] | None:
        """Message ids whose events `insert_events` stored (after `sending()` or `flush()`)."""
        if self._stored is None:
            return None
        return {message_id for (message_id,) in self._stored}


def _known_statement(keys: Collection[Key]) -> Statement:
    kinds, namespaces, values = (list(column) for column in zip(*keys, strict=True))
    arrays = [statements.json_text(column) for column in (kinds, namespaces, values)]
    return _KNOWN_SQL, [Identity.Kind.USER_ID, *arrays, Profile.Status.MERGED]


def _known(rows: list[tuple[Any, ...]]) -> Known:
    known = Known()
    for kind, namespace, value, owner, lifecycle, user_id in rows:
        known.owners[(kind, namespace, value)] = owner
        if user_id is not None:
            known.user_ids[owner] = user_id
        if lifecycle == Profile.Lifecycle.ANONYMOUS:
            known.anonymous.add(owner)
    return known
