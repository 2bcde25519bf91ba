"""Planner statistics refreshed after bulk writes (PostgreSQL; SQLite has nothing to do)."""

from __future__ import annotations

import pytest
from django.db import connection

from core.statistics import STALE_ROWS, statistics_refresh
from profiles.models import Profile
from tests.helpers import postgres_only


def _analyzed_tuples() -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'profiles_profile'")
        return cursor.fetchone()[0]


def _analyze() -> None:
    """Fresh statistics, whatever earlier tests left behind."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE profiles_profile")


def _add_profiles(count: int) -> None:
    Profile.objects.bulk_create([Profile() for _ in range(count)], batch_size=1000)


@postgres_only
@pytest.mark.django_db(transaction=True)  # the statistics system counts committed changes
def test_a_table_changed_by_more_than_a_tenth_is_analyzed_once() -> None:
    _analyze()
    _add_profiles(STALE_ROWS // 2)
    assert statistics_refresh(models=[Profile]) == []  # a few rows: autovacuum's rule too

    _add_profiles(STALE_ROWS + 200)

    assert statistics_refresh(models=[Profile]) == ["profiles_profile"]
    assert _analyzed_tuples() == Profile.objects.count()
    assert statistics_refresh(models=[Profile]) == []  # analyzed: fresh again


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_table_never_analyzed_is_analyzed_whatever_its_size() -> None:
    _analyze()
    with connection.cursor() as cursor:
        # What a new table (or one restored from a dump) looks like: no statistics at all.
        cursor.execute("UPDATE pg_class SET reltuples = -1 WHERE relname = 'profiles_profile'")

    assert statistics_refresh(models=[Profile]) == ["profiles_profile"]
    assert _analyzed_tuples() == 0


@pytest.mark.django_db
def test_a_few_changed_rows_leave_the_statistics_alone() -> None:
    """Below autovacuum's threshold nothing is analyzed (on SQLite, never anything)."""
    if connection.vendor == "postgresql":
        _analyze()
    _add_profiles(STALE_ROWS // 10)

    assert statistics_refresh(models=[Profile]) == []
