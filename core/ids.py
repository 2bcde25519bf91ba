"""A set of ids as one query parameter.

`pk__in=[...]` with thousands of ids sends thousands of placeholders, and building them
costs more than the query. On PostgreSQL the ids travel as one array (`= ANY(%s)`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.db.models import F, Lookup, Q


class _AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def get_db_prep_lookup(self, value: Any, connection: Any) -> tuple[str, list[Any]]:
        return "%s", [list(value)]

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs}::bigint[])", [*lhs_params, *rhs_params]


def id_in(field: str, ids: Iterable[int]) -> Q:
    """`field IN ids`: one array parameter on PostgreSQL, a plain IN elsewhere."""
    values = [int(pk) for pk in ids]
    if connection.vendor != "postgresql":
        return Q(**{f"{field}__in": values})
    return Q(_AnyOf(F(field), values))
