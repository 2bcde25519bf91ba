"""The webhook channel: a signed JSON POST to a configured endpoint, through the outbox.

A webhook message is an outbox row like an email: unique per (origin, profile), claimed
with a lease, gated on the person's status and consent in the claiming transaction. The
call carries the person as a template sees them (profile fields, traits, consents,
segments, personas) and the payload given when it was queued, signed with HMAC-SHA256:

    X-CDP-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">

keyed with the endpoint's secret from the environment. A 2xx answer marks the message
sent; a 4xx fails it (the receiver refused it: sending it again would not help); a 5xx,
a timeout or a refused connection puts it back, due again after a backoff (30 s, 1 min,
2 min, … capped at an hour) until the attempts run out.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import Value
from django.db.models.functions import Concat
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.errors import InvalidWebhook
from campaigns.models import Message, WebhookEndpoint
from campaigns.services.delivery import EVENT_SOURCE, EVENT_SOURCE_NAME
from consent.models import Purpose
from profiles.models import Profile
from profiles.services.events import system_events_append

DEFAULT_SECRET_ENV = "CDP_WEBHOOK_SECRET"  # noqa: S105 - the name of a variable
BACKOFF_SECONDS = 30
BACKOFF_CAP = timedelta(hours=1)


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: `t=<timestamp>,v1=<hex HMAC-SHA256 of "t.body">`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def webhook_secret(*, endpoint: WebhookEndpoint) -> str:
    """The endpoint's signing secret, from the environment only ("" when not set)."""
    return os.environ.get(endpoint.secret_env or DEFAULT_SECRET_ENV, "")


@transaction.atomic
def webhook_enqueue(
    *,
    origin_kind: str,
    origin_id: int,
    profile_id: int,
    endpoint_id: int,
    purpose_id: int,
    kind: str = Message.Kind.TRANSACTIONAL,
    payload: dict[str, Any] | None = None,
    due_at: datetime | None = None,
) -> Message:
    """Queue one webhook call for a person; queuing it again for the same origin returns it.

    Raises InvalidWebhook (400) for an unknown or inactive endpoint, an unknown purpose or
    person, or a payload that is not a JSON object.
    """
    from campaigns.services.outbox import message_id_make

    fields: dict[str, list[str]] = {}
    if not WebhookEndpoint.objects.filter(pk=endpoint_id, is_active=True).exists():
        fields["endpoint"] = [_("No active webhook endpoint has this id.")]
    if not Purpose.objects.filter(pk=purpose_id).exists():
        fields["purpose"] = [_("No purpose has this id.")]
    if not Profile.objects.filter(pk=profile_id).exists():
        fields["profile"] = [_("No profile has this id.")]
    if kind not in Message.Kind.values:
        fields["kind"] = [_("Use marketing or transactional.")]
    if payload is not None and not isinstance(payload, dict):
        fields["payload"] = [_("Give a JSON object.")]
    if fields:
        raise InvalidWebhook(_("This webhook call cannot be queued."), fields=fields)
    try:
        json.dumps(payload or {}, cls=DjangoJSONEncoder)
    except (TypeError, ValueError) as error:
        raise InvalidWebhook(
            _("This webhook call cannot be queued."),
            fields={"payload": [_("The payload is not JSON.")]},
        ) from error
    message, _created = Message.objects.get_or_create(
        origin_kind=origin_kind,
        origin_id=origin_id,
        profile_id=profile_id,
        defaults={
            "channel": Message.Channel.WEBHOOK,
            "endpoint_id": endpoint_id,
            "purpose_id": purpose_id,
            "kind": kind,
            "payload": payload or {},
            "message_id": message_id_make(
                origin_kind=origin_kind, origin_id=origin_id, profile_id=profile_id
            ),
            "due_at": due_at or timezone.now(),
        },
    )
    return message


def _backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=BACKOFF_SECONDS * 2 ** max(attempts - 1, 0)), BACKOFF_CAP)


def _body(item: Any, context: dict[str, Any], payload: dict[str, Any]) -> bytes:
    person = {k: context[k] for k in ("profile", "traits", "consents", "segments", "personas")}
    document = {
        "message_id": item.message_id,
        "profile_id": item.profile.pk,
        "person": person,
        "payload": payload,
    }
    return json.dumps(document, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def _call(endpoint: WebhookEndpoint, secret: str, item: Any, body: bytes) -> int:
    """POST the body; the HTTP status, or 0 for a timeout or a connection that failed."""
    request = urllib.request.Request(  # noqa: S310 - the URL field admits http(s) only
        endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "cdp-webhooks/1",
            "X-CDP-Message-Id": item.message_id,
            "X-CDP-Signature": webhook_signature(
                secret=secret, timestamp=int(time.time()), body=body
            ),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=endpoint.timeout_seconds) as answer:  # noqa: S310
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (urllib.error.URLError, TimeoutError, OSError):
        return 0


def webhooks_send_claimed(
    *, claimed: Sequence[Any], contexts: dict[int, dict[str, Any]], result: Any
) -> None:
    """Call each claimed webhook once and record its outcome on its row."""
    rows = Message.objects.in_bulk([item.pk for item in claimed])
    endpoints = WebhookEndpoint.objects.in_bulk({rows[item.pk].endpoint_id for item in claimed})
    for item in claimed:
        row = rows[item.pk]
        endpoint = endpoints[row.endpoint_id]
        secret = webhook_secret(endpoint=endpoint)
        now = timezone.now()
        if not secret or not endpoint.is_active:
            error = "no secret" if not secret else "endpoint inactive"
            _record(row, status=Message.Status.FAILED, code=None, error=error, now=now)
            result.failed += 1
            continue
        code = _call(endpoint, secret, item, _body(item, contexts[item.pk], row.payload))
        if 200 <= code < 300:
            _record(row, status=Message.Status.SENT, code=code, error="", now=now)
            result.sent += 1
        elif 400 <= code < 500:
            _record(row, status=Message.Status.FAILED, code=code, error=f"HTTP {code}", now=now)
            result.failed += 1
        else:
            error = f"HTTP {code}" if code else "timeout or connection refused"
            _record(
                row,
                status=Message.Status.QUEUED,
                code=code or None,
                error=error,
                now=now,
                due_at=now + _backoff(row.attempts),
            )
            result.retried += 1


def _record(
    row: Message,
    *,
    status: str,
    code: int | None,
    error: str,
    now: datetime,
    due_at: datetime | None = None,
) -> None:
    """The call's outcome on its row; a call that went through is a profile event too."""
    changes: dict[str, Any] = {
        "status": status,
        "lease_until": None,
        "response_status": code,
        "last_error": error[:200],
    }
    if status == Message.Status.SENT:
        changes["sent_at"] = now
    if due_at is not None:
        changes["due_at"] = due_at
    try:
        with transaction.atomic():
            updated = Message.objects.filter(pk=row.pk, status=Message.Status.SENDING).update(
                **changes
            )
            if updated and status == Message.Status.SENT:
                system_events_append(
                    source_slug=EVENT_SOURCE,
                    source_name=EVENT_SOURCE_NAME,
                    name="Webhook Called",
                    properties={"channel": "webhook", "status": code},
                    rows=Message.objects.filter(pk=row.pk).annotate(
                        event_id=Concat(Value("webhook:"), "message_id")
                    ),
                    message_id_field="event_id",
                )
    except IntegrityError:  # pragma: no cover - the row changed under us; the lease decides
        return
