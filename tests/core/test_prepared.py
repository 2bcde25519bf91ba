"""Prepared statements (PostgreSQL): bound parameters, or PREPARE / EXECUTE in text."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from core.prepared import Prepared, fetch_one, pg_type
from tests.helpers import postgres_only

SQL = "SELECT %s::bigint + 1, %s::text || '%%', %s"
# What a pooler's DISCARD ALL does, out of psycopg's sight (it forgets its statements when
# it sees a DEALLOCATE ALL of its own).
LOSE_ALL = "DO $$ BEGIN EXECUTE 'DEALLOCATE ALL'; END $$"


def test_parameter_types_are_read_off_the_values() -> None:
    now = datetime(2026, 11, 29, tzinfo=UTC)
    values = [True, 1, 1.5, "x", None, uuid.UUID(int=1), now.date(), now, now.replace(tzinfo=None)]

    assert [pg_type(v) for v in values] == [
        "boolean",
        "unknown",
        "double precision",
        "unknown",
        "unknown",
        "uuid",
        "date",
        "timestamptz",
        "timestamp",
    ]


def test_a_statement_is_named_by_its_text_and_types_and_numbered() -> None:
    first = Prepared.build(prefix="t", sql=SQL, params=[1, "a", 2.5])

    assert first.prepare.startswith(f"PREPARE {first.name} (unknown, unknown, double precision)")
    assert first.prepare.endswith("AS SELECT $1::bigint + 1, $2::text || '%%', $3")
    assert first.execute == f"EXECUTE {first.name} (%s, %s, %s)"
    assert Prepared.build(prefix="t", sql=SQL, params=[1, "a", None]).name != first.name


@postgres_only
@pytest.mark.django_db
def test_a_statement_with_bound_parameters_is_prepared_once_and_logged() -> None:
    with CaptureQueriesContext(connection) as queries:
        first = fetch_one(SQL, [1, "a", 2.5])
        second = fetch_one(SQL, [41, "b", 0.5])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%$1::bigint + 1%"],
        )
        (prepared_count,) = cursor.fetchone()

    assert (first, second) == ((2, "a%", 2.5), (42, "b%", 0.5))
    assert [q["sql"] for q in queries] == [SQL, SQL]
    assert prepared_count == 1


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_statement_the_connection_lost_is_prepared_again_on_a_new_connection() -> None:
    assert fetch_one(SQL, [1, "a", 2.5]) == (2, "a%", 2.5)
    with connection.cursor() as cursor:
        cursor.execute(LOSE_ALL)

    assert fetch_one(SQL, [2, "b", 1.0]) == (3, "b%", 1.0)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_inside_a_transaction_a_lost_statement_is_an_error_not_retried() -> None:
    fetch_one(SQL, [1, "a", 2.5])
    with connection.cursor() as cursor:
        cursor.execute(LOSE_ALL)

    with pytest.raises(DatabaseError), transaction.atomic():
        fetch_one(SQL, [2, "b", 1.0])


@postgres_only
@pytest.mark.django_db
def test_the_connection_execute_wrappers_see_the_statement() -> None:
    seen: list[str] = []

    def spy(execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        assert fetch_one(SQL, [1, "a", 2.5]) == (2, "a%", 2.5)

    assert seen == [SQL]
