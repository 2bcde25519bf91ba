"""Opens and clicks come back as profile events; machine ones are flagged and kept apart.

A privacy proxy pre-fetching images or a link scanner following every link is not a
person reading: such opens and clicks (a known scanner's user agent, a HEAD request, or
within seconds of sending) set only `machine_opened_at` and carry `machine: true` on
their events, and stay out of the opened / clicked figures.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Value
from django.utils import timezone
from django.utils.translation import gettext

from campaigns.errors import NotFound
from campaigns.models import Message
from campaigns.services.outbox import EVENT_SOURCE, EVENT_SOURCE_NAME
from profiles.services.events import system_events_append

MACHINE_AGENTS = re.compile(
    r"bot\b|crawler|spider|scanner|preview|python-|curl/|wget|go-http|java/|headless|"
    r"barracuda|mimecast|proofpoint|symantec|messagelabs|trendmicro|fortinet|sophos|"
    r"safelinks|microsoft office|ms-office",
    re.IGNORECASE,
)


def is_machine(*, user_agent: str, method: str, sent_at: datetime | None, at: datetime) -> bool:
    """Whether an open or click looks automated rather than a person's."""
    if method == "HEAD" or not user_agent or MACHINE_AGENTS.search(user_agent):
        return True
    seconds = getattr(settings, "CDP_MACHINE_OPEN_SECONDS", 10)
    return sent_at is not None and at - sent_at < timedelta(seconds=seconds)


def message_event(
    *, message: Message, event_id: str, name: str, properties: dict[str, object]
) -> None:
    """One event per distinct (message, what): a repeat is a no-op."""
    try:
        with transaction.atomic():
            system_events_append(
                source_slug=EVENT_SOURCE,
                source_name=EVENT_SOURCE_NAME,
                name=name,
                properties=properties,
                rows=Message.objects.filter(pk=message.pk).annotate(event_id=Value(event_id)),
                message_id_field="event_id",
            )
    except IntegrityError:
        pass  # the same open or click was recorded already


def _message(pk: int) -> Message:
    message = Message.objects.filter(pk=pk, status=Message.Status.SENT).first()
    if message is None:
        raise NotFound(gettext("This link is not valid."))
    return message


def tracking_open(
    *, message_pk: int, user_agent: str, method: str = "GET", machine: bool | None = None
) -> bool:
    """Record an open of a sent message; returns whether it counted as a person's.

    `machine`: what the reporter knows (an email service that tells its proxy's opens
    apart); None: judged here from the user agent, the method and the time."""
    at = timezone.now()
    message = _message(message_pk)
    if machine is None:
        machine = is_machine(user_agent=user_agent, method=method, sent_at=message.sent_at, at=at)
    field = "machine_opened_at" if machine else "opened_at"
    Message.objects.filter(pk=message.pk, **{f"{field}__isnull": True}).update(**{field: at})
    message_event(
        message=message,
        event_id=f"open:{message.pk}:{'m' if machine else 'h'}",
        name="Email Opened",
        properties=_properties(message, machine),
    )
    return not machine


def tracking_click(
    *,
    message_pk: int,
    url: str,
    user_agent: str,
    method: str = "GET",
    machine: bool | None = None,
) -> bool:
    """Record a click (which implies an open); returns whether it counted as a person's."""
    at = timezone.now()
    message = _message(message_pk)
    if machine is None:
        machine = is_machine(user_agent=user_agent, method=method, sent_at=message.sent_at, at=at)
    if machine:
        Message.objects.filter(pk=message.pk, machine_opened_at__isnull=True).update(
            machine_opened_at=at
        )
    else:
        Message.objects.filter(pk=message.pk, clicked_at__isnull=True).update(clicked_at=at)
        if Message.objects.filter(pk=message.pk, opened_at__isnull=True).update(opened_at=at):
            # A click implies an open (images blocked): the open event says so too.
            message_event(
                message=message,
                event_id=f"open:{message.pk}:h",
                name="Email Opened",
                properties=_properties(message, machine),
            )
    link = hashlib.sha256(url.encode()).hexdigest()[:16]
    message_event(
        message=message,
        event_id=f"click:{message.pk}:{link}:{'m' if machine else 'h'}",
        name="Email Clicked",
        properties={**_properties(message, machine), "url": url[:500]},
    )
    return not machine


def _properties(message: Message, machine: bool) -> dict[str, object]:
    return {
        "origin": message.origin_kind,
        "origin_id": message.origin_id,
        "message": message.pk,
        "machine": machine,
    }
