"""HTTP intake: validate at once, store durably, let the worker ingest in batches.

The tracking API and forms answer as soon as a message is validated and stored in
`IntakeMessage` (one multi-row INSERT): a request costs a few milliseconds whatever the
identity work behind it. The worker drains the buffer through `ingest_messages` in
batches of hundreds — the set-based path where a message costs least. With
`CDP_INTAKE_MODE=sync` the request runs the whole pipeline itself instead (per-message
results then include duplicates; handy for small installs and tests).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from profiles.errors import InvalidMessage
from profiles.models import IntakeMessage, Source
from profiles.services.ingest import BatchResult, MessageResult, ingest_messages
from profiles.services.messages import Message, message_prepare

logger = logging.getLogger(__name__)

DRAIN_SCHEDULED_KEY = "cdp:intake-drain-scheduled"
MAX_ATTEMPTS = 5


def intake_buffered() -> bool:
    return getattr(settings, "CDP_INTAKE_MODE", "buffered") != "sync"


def _payload(message: Message, message_id: str) -> dict[str, Any]:
    data = asdict(message)
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
    rows: list[IntakeMessage] = []
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
        rows.append(
            IntakeMessage(
                source=source, payload=_payload(message, prepared.message_id), received_at=now
            )
        )
        results.append(
            MessageResult(index=index, status="accepted", message_id=prepared.message_id)
        )
    if rows:
        with transaction.atomic():
            IntakeMessage.objects.bulk_create(rows, batch_size=1000)
            transaction.on_commit(_schedule_drain)
    return BatchResult(results=results)


def _message(payload: dict[str, Any]) -> Message:
    return Message(**payload)


def intake_drain(*, limit: int = 1000) -> dict[str, int]:
    """Ingest up to `limit` buffered messages, oldest first, and remove them.

    Rows are claimed with SKIP LOCKED, so several workers drain side by side; a source's
    batch that fails is retried later (up to MAX_ATTEMPTS) without blocking the others.
    """
    done = failed = 0
    with transaction.atomic():
        rows = list(
            IntakeMessage.objects.select_for_update(skip_locked=True)
            .filter(attempts__lt=MAX_ATTEMPTS)
            .order_by("id")
            .select_related("source")[:limit]
        )
        by_source: dict[int, list[IntakeMessage]] = defaultdict(list)
        for row in rows:
            by_source[row.source_id].append(row)
        for group in by_source.values():
            ids = [row.pk for row in group]
            try:
                with transaction.atomic():
                    ingest_messages(
                        source=group[0].source,
                        messages=[_message(row.payload) for row in group],
                        received_at=min(row.received_at for row in group),
                    )
                    IntakeMessage.objects.filter(pk__in=ids).delete()
                done += len(group)
            except Exception as exc:  # keep the rows for a later try; log no payload
                logger.exception("intake drain failed for source %s", group[0].source_id)
                IntakeMessage.objects.filter(pk__in=ids).update(
                    attempts=F("attempts") + 1, last_error=type(exc).__name__[:200]
                )
                failed += len(group)
    return {"ingested": done, "failed": failed}


def intake_pending() -> int:
    """Messages accepted but not yet ingested (stuck ones included)."""
    return IntakeMessage.objects.count()
