"""The PostgreSQL backend's health check: skipped for a connection that just worked.

Each test drives its own connection through request cycles as Django's handlers do
(`close_if_unusable_or_obsolete` at a request's start and end) and kills the server side of
it with `pg_terminate_backend` from the test's connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import OperationalError, connection, connections

from tests.helpers import postgres_only

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def own() -> Iterator[Any]:
    """A second connection to the test database, with health checks on."""
    conn = connections.create_connection("default")
    conn.settings_dict["CONN_HEALTH_CHECKS"] = True
    conn.settings_dict["CONN_MAX_AGE"] = 600
    yield conn
    conn.close()


def _request(conn: Any) -> int:
    """One request: start, a query, end. Returns the server pid that answered."""
    conn.close_if_unusable_or_obsolete()
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return int(cursor.fetchone()[0])
    finally:
        conn.close_if_unusable_or_obsolete()


def _kill(pid: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_a_connection_idle_longer_than_the_delay_is_checked_and_replaced(own: Any) -> None:
    own.settings_dict["OPTIONS"]["health_check_delay"] = 0
    first = _request(own)
    _kill(first)

    second = _request(own)

    assert second != first


def test_a_connection_used_within_the_delay_is_trusted_without_a_ping(own: Any) -> None:
    own.settings_dict["OPTIONS"]["health_check_delay"] = 3600
    first = _request(own)
    _kill(first)

    # Trusted: the dead connection is used as is, and the one request that finds it fails.
    with pytest.raises(OperationalError):
        _request(own)
    # Django closed it at the end of that request: the next one gets a new connection.
    assert own.connection is None
    assert _request(own) != first
