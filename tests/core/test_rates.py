"""Rate limits in the database: GCRA allowances, spent alone or inside another statement."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from django.db import connection

from core.env import ImproperlyConfiguredEnv, env_rate, parse_rate
from core.models import RateAllowance
from core.rates import (
    Spend,
    allowed_at_sql,
    rate_key,
    rate_spend,
    rate_sweep,
    spend,
    spend_cte,
)
from tests.helpers import in_parallel, postgres_only

pytestmark = pytest.mark.django_db


def _allowed(rate: str, now: float, ident: str = "198.51.100.7") -> Any:
    return rate_spend(spend(scope="test", ident=ident, rate=rate, now=now))


def test_bursts_of_n_then_one_every_period_over_n() -> None:
    now = 1_000_000.0

    burst = [_allowed("3/min", now).allowed for _ in range(4)]
    early = _allowed("3/min", now + 19)
    refilled = _allowed("3/min", now + 20)
    again = _allowed("3/min", now + 20)

    assert burst == [True, True, True, False]
    assert (early.allowed, round(early.retry_after, 6)) == (False, 1.0)
    assert (refilled.allowed, refilled.retry_after) == (True, 0.0)
    assert (again.allowed, round(again.retry_after, 6)) == (False, 20.0)


def test_a_refused_request_spends_nothing() -> None:
    key = rate_key(scope="test", ident="198.51.100.7")

    def request(now: float) -> Any:
        return rate_spend(Spend(key=key, limit=1, period=10, now=now))

    assert request(0.0).allowed

    refused = [request(5.0) for _ in range(3)]

    assert [(r.allowed, r.retry_after) for r in refused] == [(False, 5.0)] * 3
    assert request(10.0).allowed


def test_each_client_and_scope_has_its_own_allowance_and_no_address_is_stored() -> None:
    assert _allowed("1/hour", 0.0, ident="198.51.100.7").allowed
    assert _allowed("1/hour", 0.0, ident="198.51.100.8").allowed
    assert rate_spend(spend(scope="other", ident="198.51.100.7", rate="1/hour", now=0.0)).allowed
    assert not _allowed("1/hour", 1.0, ident="198.51.100.7").allowed

    keys = {str(key) for key in RateAllowance.objects.values_list("key", flat=True)}
    assert len(keys) == 3
    assert not any("198.51" in key for key in keys)
    assert rate_key(scope="test", ident="198.51.100.7") != rate_key(
        scope="test", ident="198.51.100.8"
    )


def test_the_sweep_deletes_only_allowances_back_to_full() -> None:
    _allowed("1/min", 0.0, ident="old")  # allowed again from 60
    _allowed("1/hour", 0.0, ident="recent")  # from 3600

    assert rate_sweep(now=100.0) == 1
    assert RateAllowance.objects.count() == 1
    assert not _allowed("1/hour", 100.0, ident="recent").allowed


@pytest.mark.parametrize("rate", ["", "x/min", "0/min", "5/fortnight", "-1/s"])
def test_a_malformed_rate_is_refused_with_the_notation_to_use(rate: str) -> None:
    with pytest.raises(ValueError, match="use N/s, N/min, N/hour or N/day"):
        parse_rate(rate)


def test_a_malformed_rate_in_the_environment_stops_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FORM_RATE_LIMIT", "lots")
    with pytest.raises(ImproperlyConfiguredEnv, match="FORM_RATE_LIMIT: not a rate"):
        env_rate("FORM_RATE_LIMIT", "30/min")
    monkeypatch.setenv("FORM_RATE_LIMIT", "5/hour")
    assert env_rate("FORM_RATE_LIMIT", "30/min") == "5/hour"


def test_rates_read_as_drf_writes_them() -> None:
    assert [parse_rate(r) for r in ("30/min", "5/s", "1000/hour", "2/day")] == [
        (30, 60.0),
        (5, 1.0),
        (1000, 3600.0),
        (2, 86400.0),
    ]


@postgres_only
def test_a_spend_inside_another_statement_happens_only_with_its_rows() -> None:
    request = spend(scope="test", ident="198.51.100.9", rate="1/hour", now=0.0)
    cte, params = spend_cte(request, name="spent", rows_from="gate")
    column, column_params = allowed_at_sql(request)

    def run(open_gate: bool) -> tuple[bool, float | None]:
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH gate AS (SELECT 1 WHERE %s), {cte} "  # noqa: S608 - ours
                f"SELECT EXISTS (SELECT 1 FROM spent), {column}",
                [open_gate, *params, *column_params],
            )
            return cursor.fetchone()

    assert run(False) == (False, None)  # gate shut: nothing spent
    assert run(True) == (True, None)  # the column sees the row as the statement began
    assert run(True) == (False, 3600.0)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_never_exceed_the_allowance() -> None:
    allowed: list[bool] = []
    lock = threading.Lock()

    def client(_: int) -> None:
        for _ in range(10):
            result = _allowed("25/hour", 1000.0).allowed
            with lock:
                allowed.append(result)

    assert in_parallel(8, client) == []
    assert len(allowed) == 80
    assert sum(allowed) == 25


def test_an_allowance_reads_as_its_key() -> None:
    key = uuid.UUID("12345678-1234-5678-1234-567812345678")

    assert str(RateAllowance(key=key, allowed_at=0.0)) == "12345678-1234-5678-1234-567812345678"
