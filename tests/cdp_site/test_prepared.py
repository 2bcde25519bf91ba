"""Statements prepared once per connection over client-side binding (PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from cdp_site.prepared import Prepared, PreparedLost, fetch_one, pg_type, prepared
from tests.helpers import postgres_only

SQL = "SELECT %s::bigint + 1, %s::text || '%%', %s"


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
    assert prepared(prefix="t", sql=SQL, params=[2, "b", 3.5]) is prepared(
        prefix="t", sql=SQL, params=[1, "a", 2.5]
    )


@postgres_only
@pytest.mark.django_db
def test_prepared_in_the_first_message_then_executed_alone() -> None:
    statement = prepared(prefix="test_once", sql=SQL, params=[1, "a", 2.5])

    with CaptureQueriesContext(connection) as queries:
        first = fetch_one(statement, [1, "a", 2.5])
        second = fetch_one(statement, [41, "b", 0.5])

    assert (first, second) == ((2, "a%", 2.5), (42, "b%", 0.5))
    assert queries[0]["sql"].startswith(f"PREPARE {statement.name}")
    assert queries[1]["sql"].startswith(f"EXECUTE {statement.name}")


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_statement_the_connection_lost_is_prepared_again() -> None:
    statement = prepared(prefix="test_lost", sql=SQL, params=[1, "a", 2.5])
    assert fetch_one(statement, [1, "a", 2.5]) == (2, "a%", 2.5)
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # what a pooler's DISCARD ALL does

    assert fetch_one(statement, [2, "b", 1.0]) == (3, "b%", 1.0)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_inside_a_transaction_a_lost_statement_is_reported_not_retried() -> None:
    statement = prepared(prefix="test_lost_atomic", sql=SQL, params=[1, "a", 2.5])
    fetch_one(statement, [1, "a", 2.5])
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")

    with pytest.raises(PreparedLost), transaction.atomic():
        fetch_one(statement, [2, "b", 1.0])
    assert fetch_one(statement, [3, "c", 1.0]) == (4, "c%", 1.0)  # prepared again after
