"""HTTP intake: validate at once, store durably, let the worker ingest in batches.

The tracking API and forms answer as soon as a request's messages are validated and
stored as one `IntakeBatch` row: a request costs a few milliseconds whatever the
identity work behind it. The worker drains the buffer through `ingest_messages` in
batches of hundreds — the set-based path where a message costs least. With
`CDP_INTAKE_MODE=sync` the request runs the whole pipeline itself instead (per-message
results then include duplicates; handy for small installs and tests).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from profiles.errors import InvalidMessage
from profiles.models import IntakeBatch, Source
from profiles.services.ingest import BatchResult, MessageResult, ingest_messages
from profiles.services.messages import Message, message_prepare

logger = logging.getLogger(__name__)

DRAIN_SCHEDULED_KEY = "cdp:intake-drain-scheduled"
MAX_ATTEMPTS = 5


def intake_buffered() -> bool:
    return getattr(settings, "CDP_INTAKE_MODE", "buffered") != "sync"


_FIELDS = tuple(field.name for field in fields(Message))


def _payload(message: Message, message_id: str) -> dict[str, Any]:
    data = {name: getattr(message, name) for name in _FIELDS}  # shallow: JSON copies it
    data["message_id"] = message_id  # a generated id is kept, so a retried drain dedups
    if isinstance(data["timestamp"], datetime):
        data["timestamp"] = data["timestamp"].isoformat()
    return data


def _schedule_drain() -> None:
    """Ask a worker to drain soon; requests within the same second share one task."""
    from profiles.tasks import intake_drain_task

    if cache.add(DRAIN_SCHEDULED_KEY, 1, timeout=1):
        try:
            intake_drain_task.apply_async(countdown=0.2)
        except Exception:  # broker down: beat's periodic drain picks the rows up
            logger.warning("could not schedule the intake drain; beat will drain")


def intake_accept(*, source: Source, messages: Sequence[Message]) -> BatchResult:
    """Validate each message; keep the valid ones durably for the worker (or ingest now)."""
    if not intake_buffered():
        return ingest_messages(source=source, messages=messages)
    now = timezone.now()
    results: list[MessageResult] = []
    payloads: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        try:
            prepared = message_prepare(message=message, index=index, source=source, now=now)
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
    if payloads:
        with transaction.atomic():
            IntakeBatch.objects.create(
                source=source, messages=payloads, count=len(payloads), received_at=now
            )
            transaction.on_commit(_schedule_drain)
    return BatchResult(results=results)


def intake_drain(*, limit: int = 1000) -> dict[str, int]:
    """Ingest buffered messages, oldest first, about `limit` at a time, and remove them.

    Rows are claimed with SKIP LOCKED, so several workers drain side by side; a source's
    messages that fail are retried later (up to MAX_ATTEMPTS) without blocking the others.
    """
    done = failed = 0
    with transaction.atomic():
        claimed: list[IntakeBatch] = []
        total = 0
        # Claim rows until about `limit` messages; one request's batch is never split.
        for row in (
            IntakeBatch.objects.select_for_update(skip_locked=True)
            .filter(attempts__lt=MAX_ATTEMPTS)
            .order_by("id")
            .select_related("source")[: max(1, limit // 10)]
        ):
            if claimed and total + row.count > limit:
                break
            claimed.append(row)
            total += row.count
        by_source: dict[int, list[IntakeBatch]] = defaultdict(list)
        for row in claimed:
            by_source[row.source_id].append(row)
        for group in by_source.values():
            ids = [row.pk for row in group]
            count = sum(row.count for row in group)
            try:
                with transaction.atomic():
                    ingest_messages(
                        source=group[0].source,
                        messages=[Message(**payload) for row in group for payload in row.messages],
                        received_at=min(row.received_at for row in group),
                    )
                    IntakeBatch.objects.filter(pk__in=ids).delete()
                done += count
            except Exception as exc:  # keep the rows for a later try; log no payload
                logger.exception("intake drain failed for source %s", group[0].source_id)
                IntakeBatch.objects.filter(pk__in=ids).update(
                    attempts=F("attempts") + 1, last_error=type(exc).__name__[:200]
                )
                failed += count
    return {"ingested": done, "failed": failed}


def intake_pending() -> int:
    """Messages accepted but not yet ingested (stuck ones included)."""
    from django.db.models import Sum

    return IntakeBatch.objects.aggregate(n=Sum("count"))["n"] or 0
