"""`no_jit`: JIT off for the statements inside, the setting back as it was after."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from core.planner import no_jit, work_mem
from tests.helpers import postgres_only


def _jit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('jit')")
        return str(cursor.fetchone()[0])


@postgres_only
@pytest.mark.django_db(transaction=True)  # the setting must end with the real transaction
def test_jit_is_off_inside_and_as_it_was_after() -> None:
    before = _jit()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = on")
        with no_jit():
            assert _jit() == "off"
        assert _jit() == "on"
    assert _jit() == before


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_work_mem_is_raised_inside_and_as_it_was_after() -> None:
    def setting() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('work_mem')")
            return str(cursor.fetchone()[0])

    before = setting()
    with transaction.atomic():
        with work_mem(96):
            assert setting() == "96MB"
        assert setting() == before
    assert setting() == before
