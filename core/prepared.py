"""Prepared statements (PostgreSQL): `fetch_one` for one statement with bound parameters,
`Prepared` for a statement sent in a message of several over client-side binding.

Django sends every statement as text with its values inlined, so PostgreSQL plans it
anew each time: for a statement of several CTEs, planning costs more than running it. A
`Prepared` statement is sent as `PREPARE name (types) AS …` the first time a connection
meets it, in the same message as its first `EXECUTE name (values)`, and as the EXECUTE
alone afterwards: one round trip either way.

A pooler that hands the session to another server connection (or runs DISCARD ALL)
loses the statement: the EXECUTE fails with "prepared statement does not exist", and
`lost_detected` turns that into `PreparedLost` after forgetting what this connection was
thought to hold; the caller sends PREPARE and EXECUTE again. Behind pgbouncer in
transaction mode, use pgbouncer 1.21 or later with `max_prepared_statements` set.
"""

from __future__ import annotations

import functools
import hashlib
import re
import uuid
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import DatabaseError, connection
from django.db.backends.postgresql.base import (  # type: ignore[attr-defined]  # not in django-stubs 5.2.9
    ServerBindingCursor,
)
from psycopg import errors as pg_errors
from psycopg.types.json import Jsonb

MAX_PREPARED = 20  # per connection; past it, the connection's statements are deallocated

_PREPARED: weakref.WeakKeyDictionary[Any, list[str]] = weakref.WeakKeyDictionary()
_PLACEHOLDER = re.compile(r"%%|%s")


class PreparedLost(Exception):
    """The connection lost (or already had) the prepared statement: try once more."""


_TYPES: dict[type, str] = {
    bool: "boolean",
    date: "date",
    Jsonb: "jsonb",
    uuid.UUID: "uuid",
    float: "double precision",
    list: "bigint[]",
}


def pg_type(value: Any) -> str:
    """The declared type of a PREPARE parameter: what the client-side literal would carry
    (`unknown`: inferred from the context, as an untyped literal is)."""
    found = _TYPES.get(type(value))  # the exact type first: a dict look-up a parameter
    if found is not None:
        return found
    if isinstance(value, datetime):  # before date, its base class
        return "timestamptz" if value.tzinfo else "timestamp"
    return next((name for base, name in _TYPES.items() if isinstance(value, base)), "unknown")


def numbered(sql: str) -> str:
    """`%s` placeholders as `$1`, `$2` ... (`%%` kept: the message is sent with arguments)."""
    counter = iter(range(1, 1_000_000))
    return _PLACEHOLDER.sub(lambda m: m.group() if m.group() == "%%" else f"${next(counter)}", sql)


@dataclass(frozen=True)
class Prepared:
    name: str
    prepare: str  # the PREPARE statement
    execute: str  # the EXECUTE statement, with a placeholder a value

    @classmethod
    def build(cls, *, prefix: str, sql: str, params: Sequence[Any]) -> Prepared:
        """`sql` with `%s` placeholders, its parameters' types read off `params`."""
        types = [pg_type(p) for p in params]
        digest = hashlib.sha1(f"{sql}|{types}".encode(), usedforsecurity=False).hexdigest()
        name = f"{prefix}_{digest[:20]}"
        return cls(
            name=name,
            prepare=f"PREPARE {name} ({', '.join(types)}) AS {numbered(sql)}",
            execute=f"EXECUTE {name} ({', '.join(['%s'] * len(params))})",
        )

    def preamble(self) -> list[str]:
        """What to send before the EXECUTE on the current connection: its PREPARE (and the
        DEALLOCATE of older ones past MAX_PREPARED) the first time, else nothing."""
        connection.ensure_connection()
        prepared = _PREPARED.setdefault(connection.connection, [])
        if self.name in prepared:
            return []
        statements = []
        if len(prepared) >= MAX_PREPARED:
            statements = [f"DEALLOCATE {old}" for old in prepared]
            prepared.clear()
        prepared.append(self.name)  # a PREPARE outlives its transaction, even a failed one
        return [*statements, self.prepare]


@contextmanager
def lost_detected() -> Iterator[None]:
    """Turn "no such prepared statement" (and "already exists") into PreparedLost."""
    try:
        yield
    except DatabaseError as error:
        cause = error.__cause__
        if isinstance(cause, pg_errors.InvalidSqlStatementName):
            _PREPARED.pop(connection.connection, None)
            raise PreparedLost from error
        if isinstance(cause, pg_errors.DuplicatePreparedStatement):
            raise PreparedLost from error
        raise


PREPARE_THRESHOLD = 5  # psycopg's default: what a server-binding cursor prepares after


class _PreparingCursor(ServerBindingCursor):
    """psycopg's server-side binding, each statement prepared (psycopg keeps them per
    connection, by text and parameter types; Django turns its automatic preparing off)."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        return super().execute(query, params, prepare=True)


def _execute(cursor: _PreparingCursor, sql: str, params: Sequence[Any]) -> None:
    """Through the connection's execute wrappers (instrumentation), as Django's cursors do."""

    def execute(sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        return cursor.execute(sql, params)

    for wrapper in reversed(connection.execute_wrappers):
        execute = functools.partial(wrapper, execute)
    execute(sql, params, False, {"connection": connection, "cursor": cursor})


def fetch_one(sql: str, params: Sequence[Any]) -> tuple[Any, ...]:
    """Run `sql` (`%s` placeholders) as a prepared statement with bound parameters; its
    first row.

    For a statement a request runs each time: psycopg sends the parameters in one Bind
    message, with no SQL text to build and no literals for the server to parse — a third
    of the client CPU of `connection.cursor()` with the same values (13 of them). Errors
    and the query log are Django's, as for its own cursors. A pooler that loses the
    statement (DISCARD ALL) costs one new connection: outside a transaction the call is
    made again on it.
    """
    for attempt in (1, 2):
        connection.ensure_connection()
        if connection.connection.prepare_threshold is None:
            # Django turns psycopg's preparing off (poolers); its own cursors bind on the
            # client and never prepare, so this enables it for fetch_one alone.
            connection.connection.prepare_threshold = PREPARE_THRESHOLD
        raw = _PreparingCursor(connection.connection)
        try:
            with raw, connection.wrap_database_errors:
                if connection.queries_logged:  # in the query log with its SQL text
                    with connection.make_debug_cursor(raw).debug_sql(sql, params):
                        _execute(raw, sql, params)
                else:
                    _execute(raw, sql, params)
                return raw.fetchone()
        except DatabaseError as error:
            lost = isinstance(error.__cause__, pg_errors.InvalidSqlStatementName)
            if not lost or attempt == 2 or connection.in_atomic_block:
                raise
            connection.close()
    raise AssertionError("unreachable")
