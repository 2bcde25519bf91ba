"""Statements prepared once per connection, over Django's client-side binding (PostgreSQL).

Django sends every statement as text with its values inlined, so PostgreSQL plans it
anew each time: for a statement of several CTEs, planning costs more than running it. A
`Prepared` statement is sent as `PREPARE name (types) AS …` the first time a connection
meets it, in the same message as its first `EXECUTE name (values)`, and as the EXECUTE
alone afterwards: one round trip either way.

A pooler that hands the session to another server connection (or runs DISCARD ALL)
loses the statement: the EXECUTE fails with "prepared statement does not exist", and
`lost_detected` turns that into `PreparedLost` after forgetting what this connection was
thought to hold; `fetch_one` then sends PREPARE and EXECUTE again, once.
"""

from __future__ import annotations

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


_BUILT: dict[tuple[str, str, tuple[str, ...]], Prepared] = {}
_BUILT_MAX = 200


def prepared(*, prefix: str, sql: str, params: Sequence[Any]) -> Prepared:
    """`Prepared.build`, kept per process (a digest and a rewrite a call saved)."""
    key = (prefix, sql, tuple(pg_type(p) for p in params))
    found = _BUILT.get(key)
    if found is None:
        if len(_BUILT) >= _BUILT_MAX:
            _BUILT.clear()
        found = _BUILT[key] = Prepared.build(prefix=prefix, sql=sql, params=params)
    return found


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


def fetch_one(statement: Prepared, params: Sequence[Any]) -> tuple[Any, ...]:
    """Execute the prepared statement (preparing it in the same message when needed); its
    first row. Tried again once if the connection had lost it, outside a transaction
    (inside one, the failed statement has aborted the caller's transaction)."""
    for attempt in (1, 2):
        sent = [*statement.preamble(), statement.execute]
        try:
            with lost_detected(), connection.cursor() as cursor:
                cursor.execute("; ".join(sent), params)
                raw = cursor.cursor
                for _ in sent[:-1]:
                    raw.nextset()
                return raw.fetchone()
        except PreparedLost:
            if attempt == 2 or connection.in_atomic_block:
                raise
    raise AssertionError("unreachable")
