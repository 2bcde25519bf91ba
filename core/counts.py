"""Anonymous daily counts: add to them in one upsert, on PostgreSQL and SQLite alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from django.db import connection
from django.db.models import Field, Model

# Rows a statement carries at most (SQLite allows 32,766 bound parameters).
_CHUNK = 2_000


def counts_add(
    *, model: type[Model], keys: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> int:
    """Add each row's `count` to the row of `model` with the same `keys` (created if new).

    `keys` are the columns of one of the model's unique constraints, in any order; every
    value is a bound parameter. Returns the total added.
    """
    merged: dict[tuple[Any, ...], int] = {}
    for row in rows:  # one statement may not touch a row twice: same keys are summed first
        key = tuple(row[name] for name in keys)
        merged[key] = merged.get(key, 0) + int(row["count"])
    if not merged:
        return 0
    items = list(merged.items())
    quote = connection.ops.quote_name
    opts = model._meta
    table = quote(opts.db_table)
    count = quote("count")
    columns = [quote(cast(Field, opts.get_field(key)).column) for key in keys]
    conflict = ", ".join(columns)
    update = f"DO UPDATE SET {count} = {table}.{count} + excluded.{count}"
    if connection.vendor == "postgresql":
        # One statement whatever the size: a column of values per key, as typed arrays.
        fields = [cast(Field, opts.get_field(key)) for key in keys]
        types = [field.db_type(connection) for field in fields] + ["bigint"]
        arrays = ", ".join(f"%s::{kind}[]" for kind in types)
        sql = (
            f"INSERT INTO {table} ({conflict}, {count}) "  # noqa: S608
            f"SELECT * FROM unnest({arrays}) ON CONFLICT ({conflict}) {update}"
        )
        columns_of_values = [list(column) for column in zip(*(v for v, _ in items), strict=True)]
        with connection.cursor() as cursor:
            cursor.execute(sql, [*columns_of_values, [added for _, added in items]])
        return sum(merged.values())
    placeholders = "(" + ", ".join(["%s"] * (len(keys) + 1)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(items), _CHUNK):
            chunk = items[start : start + _CHUNK]
            params: list[Any] = []
            for values, added in chunk:
                params.extend(values)
                params.append(added)
            # Table and column names are ours; every value is a bound parameter.
            sql = (
                f"INSERT INTO {table} ({conflict}, {count}) "  # noqa: S608
                f"VALUES {', '.join([placeholders] * len(chunk))} "
                f"ON CONFLICT ({conflict}) {update}"
            )
            cursor.execute(sql, params)
    return sum(merged.values())
