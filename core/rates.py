"""Rate limits kept in the database: bursts of N, then one every period/N (GCRA).

A limit is one number per client — the next time a request is allowed at — read and moved
by one upsert. On PostgreSQL the upsert can be a CTE of the statement that does the
request's work (`spend_cte`), so limiting costs no round trip of its own: the form intake
spends the allowance in the INSERT that stores the submission. `rate_spend` is the same
step on its own (a single statement on PostgreSQL, a read and a write in one transaction
elsewhere). Clients are keyed by a keyed hash of their address: no address is stored.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from core.env import parse_rate
from core.models import RateAllowance
from core.prepared import fetch_one

TABLE = RateAllowance._meta.db_table
clock = time.time  # what "now" is; tests move it


@dataclass(frozen=True)
class Spend:
    """One request against `limit` requests per `period` seconds, made at `now`."""

    key: uuid.UUID
    limit: int
    period: float
    now: float

    @property
    def interval(self) -> float:
        return self.period / self.limit

    def moved(self, allowed_at: float | None) -> float:
        """The stored time once this request is spent (None: no row yet)."""
        return (self.now if allowed_at is None else max(allowed_at, self.now)) + self.interval

    def over_by(self, allowed_at: float | None) -> float:
        """Seconds past the allowance this request would be, given the stored time."""
        return self.moved(allowed_at) - self.now - self.period


@dataclass(frozen=True)
class Allowance:
    allowed: bool
    retry_after: float  # seconds until a request would be allowed (0 when allowed)


@functools.lru_cache(maxsize=4)
def _hmac_key(secret: str) -> bytes:
    # Django's salted_hmac derives this anew on every call; it only changes with the secret.
    return hashlib.sha256(b"cdp.rates" + secret.encode()).digest()


def rate_key(*, scope: str, ident: str) -> uuid.UUID:
    """128 bits of a keyed hash (HMAC-SHA256, SECRET_KEY) of the scope and the client."""
    message = f"{scope}\x00{ident}".encode()
    digest = hmac.new(_hmac_key(settings.SECRET_KEY), message, hashlib.sha256).digest()
    return uuid.UUID(bytes=digest[:16])


def spend(*, scope: str, ident: str, rate: str, now: float | None = None) -> Spend:
    limit, period = parse_rate(rate)
    return Spend(
        key=rate_key(scope=scope, ident=ident),
        limit=limit,
        period=period,
        now=clock() if now is None else now,
    )


def spend_cte(request: Spend, *, name: str, rows_from: str = "") -> tuple[str, list[Any]]:
    """A PostgreSQL CTE `name` that spends one request and yields a row when allowed.

    `rows_from`: a CTE of the same statement; the spend happens only if it has rows.
    Use `allowed_at_sql` for the stored time when it does not (to tell the wait).
    """
    source = f" FROM {rows_from}" if rows_from else ""
    sql = (
        f"{name} AS (INSERT INTO {TABLE} AS r (key, allowed_at) SELECT %s, %s{source} "
        "ON CONFLICT (key) DO UPDATE SET allowed_at = GREATEST(r.allowed_at, %s) + %s "
        "WHERE GREATEST(r.allowed_at, %s) + %s - %s <= %s RETURNING 1)"
    )
    now, interval = request.now, request.interval
    params = [request.key, now + interval, now, interval, now, interval, now, request.period]
    return sql, params


def allowed_at_sql(request: Spend) -> tuple[str, list[Any]]:
    """A scalar subquery: the stored time as the statement found it (NULL: none)."""
    return f"(SELECT allowed_at FROM {TABLE} WHERE key = %s)", [request.key]  # noqa: S608


def refused(request: Spend, allowed_at: float | None) -> Allowance:
    return Allowance(allowed=False, retry_after=max(request.over_by(allowed_at), 0.0))


def rate_spend(request: Spend) -> Allowance:
    """Spend one request if the limit allows it; whether it did, and the wait if not."""
    if connection.vendor == "postgresql":
        cte, params = spend_cte(request, name="spent")
        column, column_params = allowed_at_sql(request)
        sql = f"WITH {cte} SELECT EXISTS (SELECT 1 FROM spent), {column}"  # noqa: S608 - ours
        params += column_params
        allowed, allowed_at = fetch_one(sql, params)
    else:  # a read and a write; SQLite's write transactions run one at a time
        with transaction.atomic():
            rows = RateAllowance.objects.select_for_update().filter(key=request.key)
            allowed_at = rows.values_list("allowed_at", flat=True).first()
            allowed = request.over_by(allowed_at) <= 0
            if allowed and allowed_at is None:
                RateAllowance.objects.create(key=request.key, allowed_at=request.moved(None))
            elif allowed:
                rows.update(allowed_at=request.moved(allowed_at))
    return Allowance(allowed=True, retry_after=0.0) if allowed else refused(request, allowed_at)


def rate_sweep(*, now: float | None = None) -> int:
    """Delete allowances whose time has passed (a full allowance again); how many."""
    moment = clock() if now is None else now
    deleted, _ = RateAllowance.objects.filter(allowed_at__lt=moment).delete()
    return deleted
