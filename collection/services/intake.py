"""HTTP intake: validate at once, store durably, let the worker ingest in batches.

The tracking API and forms answer as soon as a request's messages are validated and
stored as one `IntakeBatch` row: a request costs a few milliseconds whatever the
identity work behind it. The worker drains the buffer through `ingest_messages` in
batches of thousands — the set-based path where a message costs least. With
`CDP_INTAKE_MODE=sync` the request runs the whole pipeline itself instead (per-message
results then include duplicates; handy for small installs and tests).
"""

from __future__ import annotations

import abc
import json
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from collection.models import IntakeBatch
from core.prepared import fetch_one
from profiles.errors import InvalidMessage
from profiles.models import Source
from profiles.services.ingest import BatchResult, MessageResult, ingest_messages
from profiles.services.ingest.collector import cycle_collector_paused
from profiles.services.ingest.statements import json_text
from profiles.services.messages import Key, Message, message_prepare

logger = logging.getLogger(__name__)

DRAIN_SCHEDULED_KEY = "cdp:intake-drain-scheduled"
MAX_ATTEMPTS = 5
# Messages per drain transaction. Larger batches share each statement's fixed cost and the
# commit: bigger is faster per message up to a few thousand, but holds the profiles' row
# locks longer, which a concurrent drain or a synchronous request then waits for.
DRAIN_LIMIT = 2000


def intake_buffered() -> bool:
    return getattr(settings, "CDP_INTAKE_MODE", "buffered") != "sync"


_FIELDS = tuple(field.name for field in fields(Message))
# What a Message field holds when the channel gave nothing.
_DEFAULTS: tuple[object, ...] = ("", None, {})


def _payload(message: Message, message_id: str) -> dict[str, Any]:
    """The message's fields as JSON; those left at their default are not stored.

    A sixth of the bytes of a typical message, which the drain then parses.
    """
    data = {  # shallow: JSON copies it
        name: value for name in _FIELDS if (value := getattr(message, name)) not in _DEFAULTS
    }
    data["message_id"] = message_id  # a generated id is kept, so a retried drain dedups
    if isinstance(data.get("timestamp"), datetime):
        data["timestamp"] = data["timestamp"].isoformat()
    return data


_last_scheduled = [float("-inf")]  # this process's last attempt, time.monotonic()


def _schedule_drain() -> None:
    """Ask a worker to drain soon; requests within the same second share one task.

    A process that asked less than a second ago does not ask again (no cache round trip);
    across processes the cache key settles it.
    """
    from collection.tasks import intake_drain_task

    now = time.monotonic()
    if now - _last_scheduled[0] < 1:
        return
    _last_scheduled[0] = now
    if cache.add(DRAIN_SCHEDULED_KEY, 1, timeout=1):
        try:
            intake_drain_task.apply_async(countdown=0.2)
        except Exception:  # broker down: beat's periodic drain picks the rows up
            logger.warning("could not schedule the intake drain; beat will drain")


def _maybe_unstorable(text: str) -> bool:
    """Whether the JSON may hold what PostgreSQL refuses: NUL, or a lone surrogate.

    A cheap scan of the whole request's JSON; a hit (also an escaped backslash before
    "u0000") sends the request through the exact per-message check.
    """
    if "\\u0000" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _accept(
    source: Source, messages: Sequence[Message], now: datetime, *, prechecked: bool
) -> tuple[list[MessageResult], list[dict[str, Any]]]:
    results: list[MessageResult] = []
    payloads: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        try:
            prepared = message_prepare(
                message=message, index=index, source=source, now=now, prechecked=prechecked
            )
        except InvalidMessage as exc:
            results.append(
                MessageResult(
                    index=index,
                    status="error",
                    message_id=str(message.message_id or ""),
                    errors=exc.fields or {"message": [str(exc)]},
                )
            )
            continue
        payloads.append(_payload(message, prepared.message_id))
        results.append(
            MessageResult(index=index, status="accepted", message_id=prepared.message_id)
        )
    return results, payloads


@dataclass(frozen=True)
class GuardSQL:
    ctes: str  # CTEs, the last named `admitted`: a row when the store may go on
    ctes_params: list[Any]
    columns: str  # result columns for `StoreGuard.settle`
    columns_params: list[Any]


class StoreGuard(abc.ABC):
    """A condition a request's messages are stored under (a rate limit, say).

    On PostgreSQL it is checked — and what it spends, spent — by the statement that stores
    them: no round trip of its own. Elsewhere, and when nothing is stored, `admit` runs it
    alone (in the storing transaction when there is one).
    """

    @abc.abstractmethod
    def sql(self) -> GuardSQL:
        """Its part of the storing statement."""

    @abc.abstractmethod
    def settle(self, values: Sequence[Any]) -> None:
        """Raise if the statement, which stored nothing, was refused (its columns)."""

    @abc.abstractmethod
    def admit_portable(self) -> None:
        """The same check and spend through the ORM, for other databases; raise if refused."""

    def admit(self) -> None:
        """Check and spend on its own; raise if refused."""
        if connection.vendor != "postgresql":
            with transaction.atomic():
                self.admit_portable()
            return
        part = self.sql()
        params = part.ctes_params + part.columns_params
        sql = f"WITH {part.ctes} SELECT EXISTS (SELECT 1 FROM admitted), {part.columns}"  # noqa: S608
        admitted, *values = fetch_one(sql, params)
        if not admitted:
            self.settle(values)
            raise RuntimeError("the store guard refused but raised nothing")


def intake_accept(
    *, source: Source, messages: Sequence[Message], guard: StoreGuard | None = None
) -> BatchResult:
    """Validate each message; keep the valid ones durably for the worker (or ingest now).

    The valid messages are one INSERT, committed before this returns (in autocommit; inside
    a caller's transaction, with it): a 200 means the messages are in the database.
    `guard` is checked before anything is kept; when it raises, nothing is.
    """
    if not intake_buffered():
        if guard is not None:
            guard.admit()
        return ingest_messages(source=source, messages=messages)
    now = timezone.now()
    # Every rule but the storability scan per message: the request's JSON is scanned once
    # below, and only a suspicious request pays for the exact check.
    results, payloads = _accept(source, messages, now, prechecked=True)
    text = json_text(payloads) if payloads else ""
    if payloads and _maybe_unstorable(text):
        results, payloads = _accept(source, messages, now, prechecked=False)
        # What may be left (a NUL in an identifier, which ingestion drops) is stored
        # escaped: ASCII JSON holds neither a NUL nor a lone surrogate.
        text = json.dumps(payloads, separators=(",", ":")) if payloads else ""
    if not payloads:
        if guard is not None:
            guard.admit()
        return BatchResult(results=results)
    if guard is None:
        _store(source, text, len(payloads), now)
    elif connection.vendor == "postgresql":
        _store_guarded(source, text, len(payloads), now, guard)
    else:
        with transaction.atomic():
            guard.admit()
            _store(source, text, len(payloads), now)
    transaction.on_commit(_schedule_drain)  # at once in autocommit
    return BatchResult(results=results)


_INSERT = (
    f"INSERT INTO {IntakeBatch._meta.db_table} "  # noqa: S608 - the model's own table
    "(source_id, messages, count, received_at, attempts, last_error) "
    "VALUES (%s, %s, %s, %s, 0, '')"
)


def _row(source: Source, text: str, count: int, received_at: datetime) -> list[Any]:
    return [source.pk, text, count, connection.ops.adapt_datetimefield_value(received_at)]


def _store(source: Source, text: str, count: int, received_at: datetime) -> None:
    """One IntakeBatch row: the ORM's INSERT without building a model instance (a fifth
    of a form post's Python work)."""
    with connection.cursor() as cursor:
        cursor.execute(_INSERT, _row(source, text, count, received_at))


_GUARDED_INSERT = (
    f"stored AS (INSERT INTO {IntakeBatch._meta.db_table} "  # noqa: S608 - the model's table
    "(source_id, messages, count, received_at, attempts, last_error) "
    "SELECT %s::bigint, %s::text, %s::integer, %s::timestamptz, 0, '' "
    "WHERE EXISTS (SELECT 1 FROM admitted) RETURNING 1)"
)


def _store_guarded(
    source: Source, text: str, count: int, received_at: datetime, guard: StoreGuard
) -> None:
    """The row and the guard in one statement: stored only if the guard admits it."""
    part = guard.sql()
    params = part.ctes_params + _row(source, text, count, received_at) + part.columns_params
    sql = (
        f"WITH {part.ctes}, {_GUARDED_INSERT} "  # noqa: S608 - our SQL, values bound
        f"SELECT EXISTS (SELECT 1 FROM stored), {part.columns}"
    )
    stored, *values = fetch_one(sql, params)
    if not stored:
        guard.settle(values)
        raise RuntimeError("the store guard refused the row but raised nothing")


def intake_drain(*, limit: int = DRAIN_LIMIT) -> dict[str, int]:
    """Ingest buffered messages, oldest first, about `limit` at a time, and remove them.

    Rows are claimed with SKIP LOCKED, so several workers drain side by side; a source's
    messages that fail are retried later (up to MAX_ATTEMPTS), after the rows not tried
    yet, without blocking the others.
    """
    with cycle_collector_paused():
        return _drain(limit)


@transaction.atomic
def _drain(limit: int) -> dict[str, int]:
    # A function of its own: the batch's objects are freed before the collector resumes.
    done = failed = 0
    claimed = _claim(limit)
    if not claimed:
        return {"ingested": 0, "failed": 0}
    by_source: dict[int, list[IntakeBatch]] = defaultdict(list)
    rows = IntakeBatch.objects.filter(pk__in=claimed).select_related("source").order_by("id")
    for row in rows:
        by_source[row.source_id].append(row)
    drained: list[int] = []
    for group in by_source.values():
        ids = [row.pk for row in group]
        count = sum(row.count for row in group)
        try:
            with transaction.atomic():
                ingest_messages(
                    source=group[0].source,
                    messages=[
                        Message(**payload) for row in group for payload in json.loads(row.messages)
                    ],
                    received_at=min(row.received_at for row in group),
                    prechecked=True,  # by intake_accept, before it stored them
                )
            drained += ids
            done += count
        except Exception as exc:  # keep the rows for a later try; log no payload
            logger.exception("intake drain failed for source %s", group[0].source_id)
            IntakeBatch.objects.filter(pk__in=ids).update(
                attempts=F("attempts") + 1, last_error=type(exc).__name__[:200]
            )
            failed += count
    if drained:
        IntakeBatch.objects.filter(pk__in=drained).delete()
    return {"ingested": done, "failed": failed}


def _claim(limit: int) -> list[int]:
    """Lock the next rows no other worker holds, about `limit` messages' worth; their ids.

    Rows not tried yet come first, oldest first (the (attempts, id) index), then retries.
    A server-side cursor locks only the rows it fetches, each fetch sized to what may still
    fit: the rows past the limit (but the one read to learn it would not fit) stay free for
    the next worker. The messages are read afterwards, for the rows kept only.
    """
    query = (
        IntakeBatch.objects.select_for_update(skip_locked=True)
        .filter(attempts__lt=MAX_ATTEMPTS)
        .order_by("attempts", "id")
        .values_list("id", "count")[: max(1, limit)]
    )
    sql, params = query.query.sql_with_params()
    claimed: list[int] = []
    total = biggest = 0
    size = 1  # one row first, to learn how many messages a request holds
    # Without server-side cursors (a pooler forbids them) the query locks all rows it returns.
    chunked = not connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
    with connection.chunked_cursor() if chunked else connection.cursor() as cursor:
        cursor.execute(sql, params)
        while total < limit:
            rows = cursor.fetchmany(size)
            if not rows:
                break
            for pk, count in rows:
                # One request's batch is never split; the first row goes whatever its size.
                if claimed and total + count > limit:
                    return claimed
                claimed.append(pk)
                total += count
                biggest = max(biggest, count)
            size = max(1, (limit - total) // max(biggest, 1))
    return claimed


def _matches(payload: dict[str, Any], source: Source, keys: set[Key], now: datetime) -> bool:
    try:
        prepared = message_prepare(
            message=Message(**payload), index=0, source=source, now=now, prechecked=True
        )
    except InvalidMessage:  # refused by the drain anyway, and deleted with its row
        return False
    found = {*prepared.keys, prepared.alias_of} if prepared.alias_of else set(prepared.keys)
    return not found.isdisjoint(keys)


def intake_scrub(*, keys: set[Key]) -> int:
    """Remove the buffered messages carrying any of these normalised identifiers; how many.

    For an erasure: the buffer must not keep the person's messages. Rows a drain holds
    right now are skipped (SKIP LOCKED, no deadlock with the drain): their messages are
    being ingested, and land before the erasure or are resolved again after it.
    """
    if not keys:
        return 0
    now = timezone.now()
    removed = 0
    rows = IntakeBatch.objects.select_for_update(skip_locked=True).select_related("source")
    for row in rows.order_by("id"):
        payloads = json.loads(row.messages)
        kept = [payload for payload in payloads if not _matches(payload, row.source, keys, now)]
        if len(kept) == len(payloads):
            continue
        removed += len(payloads) - len(kept)
        if kept:
            text = json.dumps(kept, separators=(",", ":"), ensure_ascii=True)
            IntakeBatch.objects.filter(pk=row.pk).update(messages=text, count=len(kept))
        else:
            IntakeBatch.objects.filter(pk=row.pk).delete()
    return removed


def intake_pending() -> int:
    """Messages accepted but not yet ingested (stuck ones included)."""
    from django.db.models import Sum

    return IntakeBatch.objects.aggregate(n=Sum("count"))["n"] or 0
