"""The quality score of a profile: completeness and validity, with configurable weights.

score = 100 * (sum of the weights of the filled fields + validity weight * v) / total,
rounded down, where v is 1 without open issues, 1/2 with open warnings only and 0 with an
open error (an invalid value a source sent). One SQL expression, so ingestion and
maintenance score a whole batch of profiles in one UPDATE on every database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, cast

from django.db import connection
from django.db.models import Case, Exists, OuterRef, Q, Value, When
from django.db.models.expressions import Combinable, Expression
from django.db.models.sql import UpdateQuery

from profiles.fields import PROFILE_FIELDS
from profiles.models import DataQualityIssue, Profile
from profiles.services.quality.config import VALIDITY

_SCORED = frozenset({*PROFILE_FIELDS, "job_function"})
_NULLABLE = {"date_of_birth"}  # the one scored field that is NULL, not "", when empty


def _split(weights: Mapping[str, int]) -> tuple[dict[str, int], int, int]:
    """The weights of scored fields, the validity weight, and their total."""
    fields = {
        name: weight
        for name, weight in weights.items()
        if weight > 0 and name != VALIDITY and name in _SCORED
    }
    validity = max(weights.get(VALIDITY, 0), 0)
    return fields, validity, sum(fields.values()) + validity


def _filled(name: str) -> Q:
    return Q(**{f"{name}__isnull": False}) if name in _NULLABLE else ~Q(**{name: ""})


def score_expression(weights: Mapping[str, int]) -> Expression | Value:
    """The score of the row being updated, as one SQL expression (NULL when weights are 0)."""
    fields, validity, total = _split(weights)
    if total == 0:
        return Value(None)
    # Twice every weight, so the half-validity of warnings stays an integer.
    points: Combinable = Value(0)
    for name, weight in sorted(fields.items()):
        points = points + Case(When(_filled(name), then=Value(2 * weight)), default=Value(0))
    if validity:
        open_issues = DataQualityIssue.objects.filter(
            profile_id=OuterRef("pk"), resolved_at__isnull=True
        )
        points = points + Case(
            When(
                Exists(open_issues.filter(severity=DataQualityIssue.Severity.ERROR)),
                then=Value(0),
            ),
            When(
                Exists(open_issues.filter(severity=DataQualityIssue.Severity.WARNING)),
                then=Value(validity),
            ),
            default=Value(2 * validity),
        )
    return points * Value(100) / Value(2 * total)


def quality_score(
    values: Mapping[str, Any], weights: Mapping[str, int], *, errors: int, warnings: int
) -> int | None:
    """The same score computed in Python, for one profile's values (the reference)."""
    fields, validity, total = _split(weights)
    if total == 0:
        return None
    points = sum(
        2 * weight for name, weight in fields.items() if values.get(name) not in ("", None)
    )
    points += 0 if errors else validity if warnings else 2 * validity
    return points * 100 // (2 * total)


def score_update_statement(
    profile_ids: Sequence[int], weights: Mapping[str, int]
) -> tuple[str, Any]:
    """The UPDATE that scores `profile_ids`, as SQL and parameters (queued by the PG store).

    The ids travel as one array parameter: the SQL is compiled once per set of weights
    (an IN list of a batch's ids was ~9 µs of Python per profile to compile and quote).
    """
    sql, params = _score_update_sql(tuple(sorted(weights.items())))
    return sql, [*params, list(profile_ids)]


@lru_cache(maxsize=16)
def _score_update_sql(weights: tuple[tuple[str, int], ...]) -> tuple[str, tuple[Any, ...]]:
    query = cast(UpdateQuery, Profile.objects.filter(pk=0).query.chain(UpdateQuery))
    query.add_update_values({"quality_score": score_expression(dict(weights))})
    sql, params = query.get_compiler(connection=connection).as_sql()
    quote = connection.ops.quote_name
    column = f"{quote(Profile._meta.db_table)}.{quote(Profile._meta.pk.column)}"
    where = f" WHERE {column} = %s"
    if not sql.endswith(where) or params[-1] != 0:
        raise AssertionError(f"unexpected score UPDATE: ...{sql[-80:]}")
    return f"{sql[: -len(where)]} WHERE {column} = ANY(%s::bigint[])", tuple(params[:-1])


def profiles_score(*, profile_ids: Sequence[int], weights: Mapping[str, int]) -> int:
    """Score the given profiles in one UPDATE; how many rows it touched."""
    if not profile_ids:
        return 0
    return Profile.objects.filter(pk__in=list(profile_ids)).update(
        quality_score=score_expression(weights)
    )
