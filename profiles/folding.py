"""Accent- and case-folded names, the same in Python and in the database.

The database keeps `first_name_key` / `last_name_key` as generated columns (indexed), so
every write path — ingestion, COPY, the admin, raw SQL — keeps them current; a search folds
its words with `fold` and compares them with the same characters.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Func

# One character for one: PostgreSQL's translate() and Python's str.translate agree exactly.
# Upper-case letters are listed too: SQLite's lower() folds ASCII only.
# Each plain letter and the accented ones folded into it (lower case; upper case derived).
_GROUPS = {
    "a": "àáâãäåāăąæ",
    "c": "çćč",
    "d": "ď",
    "e": "èéêëēėęě",
    "i": "ìíîïīį",
    "l": "ł",
    "n": "ñńň",
    "o": "òóôõöøōœ",
    "r": "ŕř",
    "s": "śšşß",
    "t": "ť",
    "u": "ùúûüūůű",
    "y": "ýÿ",
    "z": "žźż",
}
_PAIRS = [(accented, plain) for plain, letters in _GROUPS.items() for accented in letters]
_PAIRS += [(a.upper(), p) for a, p in _PAIRS if len(a.upper()) == 1 and a.upper() != a]
FOLD_FROM = "".join(accented for accented, _ in _PAIRS)
FOLD_TO = "".join(plain for _, plain in _PAIRS)
_TABLE = str.maketrans(FOLD_FROM, FOLD_TO)


def fold(text: str) -> str:
    """Lower case without accents: "Amélie" → "amelie" (what the key columns hold)."""
    return text.lower().translate(_TABLE)


class Folded(Func):
    """SQL twin of `fold`: translate(lower(x)) on PostgreSQL, replace() chains elsewhere."""

    function = "LOWER"
    arity = 1

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        sql, params = super().as_sql(compiler, connection, **extra)
        # Literals, not parameters: a generated column's expression takes no parameters.
        return f"translate({sql}, '{FOLD_FROM}', '{FOLD_TO}')", params

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # SQLite has no translate() and overflows its parser on a hundred nested replace();
        # each connection gets `cdp_fold`, a deterministic function (register_sqlite_fold).
        return super().as_sql(compiler, connection, function="cdp_fold", **extra)


def _fold_or_null(text: str | None) -> str | None:
    return None if text is None else fold(text)


def register_sqlite_fold(sender: Any, connection: Any, **kwargs: Any) -> None:
    """`connection_created` receiver: give a new SQLite connection the `cdp_fold` function."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("cdp_fold", 1, _fold_or_null, deterministic=True)
