"""Markers shared by the test modules."""

import pytest
from django.db import connection

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: row locks, concurrent upserts and SKIP LOCKED are not "
    "meaningful on SQLite, which serialises all writers",
)
