"""What happened to a sent email, however it is reported: one code path for every source.

A VERP bounce read by `cdp_bounce`, the signed `POST /t/delivery-events/` and an email
service's own tracking webhook (through django-anymail, `campaigns/esp.py`) all become a
`DeliveryEvent` recorded here:

| type | what it does |
|---|---|
| delivered | an `Email Delivered` profile event, once per message |
| bounced (hard) / rejected | the message failed, the address blocked for email, `Email Bounced` |
| bounced (soft) / deferred | `Email Bounced` with `hard: false`; nothing blocked |
| complained | the address blocked for email, `Email Complained` |
| opened / clicked | as the pixel and the signed redirect (machine ones flagged) |
| unsubscribed | the purpose withdrawn (proof: the report), `Email Unsubscribed` |

The unsubscribe and preference links of our own emails name their message too: when one
withdraws the message's purpose (consent's ledger, with the click's proof),
`unsubscribe_link_followed` hears it through consent's hook and records it here as an
`unsubscribed` report of that message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from campaigns.errors import NotFound
from campaigns.models import Message
from campaigns.services.bounces import bounce_record
from campaigns.services.tracking import message_event, tracking_click, tracking_open
from consent.errors import ConsentError
from consent.models import ConsentRecord, Purpose
from consent.services import consent_record

TYPES = frozenset(
    {
        "delivered",
        "bounced",
        "deferred",
        "rejected",
        "complained",
        "opened",
        "clicked",
        "unsubscribed",
    }
)
_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


@dataclass(frozen=True)
class DeliveryEvent:
    """One report about one email: which message (its pk, else its Message-ID), what."""

    type: str
    message_pk: int | None = None
    message_id: str = ""
    hard: bool = True
    status: str = ""
    user_agent: str = ""
    url: str = ""
    # Whether the open or click was automated, when the reporter knows (an email service
    # telling its proxy's opens apart); None: judged from the user agent and the time.
    machine: bool | None = None
    source: str = ""  # who reported it: "verp", "cdp", "mailgun", "postmark"…


def status_of(*texts: str | None) -> str:
    """The enhanced SMTP status (`5.1.1`) an email service's words carry, else ''."""
    for text in texts:
        found = _STATUS.search(text or "")
        if found:
            return found.group(1)
    return ""


def _message(event: DeliveryEvent) -> Message | None:
    """The email the report is about: by pk, else by Message-ID (with or without <>)."""
    emails = Message.objects.filter(channel=Message.Channel.EMAIL)
    if event.message_pk is not None:
        return emails.filter(pk=event.message_pk).first()
    value = event.message_id.strip()
    if not value:
        return None
    bare = value.strip("<>")
    return emails.filter(message_id__in=[value, f"<{bare}>"]).first()


def delivery_event_record(event: DeliveryEvent) -> bool:
    """Record one report; False when it names no email of ours that was sent."""
    if event.type not in TYPES:
        return False
    message = _message(event)
    if message is None or message.status not in (Message.Status.SENT, Message.Status.FAILED):
        return False
    if event.type in ("bounced", "deferred", "rejected", "complained"):
        kind = "complaint" if event.type == "complained" else "bounce"
        hard = event.type in ("rejected", "complained") or (event.type == "bounced" and event.hard)
        return (
            bounce_record(
                kind=kind,
                hard=hard,
                status=(event.status or event.type)[:20],
                message_pk=message.pk,
            )
            is not None
        )
    if message.status != Message.Status.SENT:
        return False
    if event.type == "opened":
        return _quietly(
            lambda: tracking_open(
                message_pk=message.pk, user_agent=event.user_agent, machine=event.machine
            )
        )
    if event.type == "clicked":
        url = event.url[:2000]
        return bool(url) and _quietly(
            lambda: tracking_click(
                message_pk=message.pk, url=url, user_agent=event.user_agent, machine=event.machine
            )
        )
    if event.type == "unsubscribed":
        return _unsubscribed(message, event)
    message_event(
        message=message,
        event_id=f"delivered:{message.message_id}",
        name="Email Delivered",
        properties={"channel": "email", "message": message.pk, "source": event.source},
    )
    return True


def _quietly(record: Callable[[], object]) -> bool:
    try:
        record()
    except NotFound:
        return False
    return True


@transaction.atomic
def _unsubscribed(message: Message, event: DeliveryEvent) -> bool:
    """The person unsubscribed at the email service: their purpose is withdrawn here too."""
    purpose = Purpose.objects.filter(pk=message.purpose_id).first()
    if purpose is None:
        return False
    try:
        consent_record(
            profile_id=message.profile_id,
            purpose=purpose,
            status=ConsentRecord.Status.WITHDRAWN,
            method=ConsentRecord.Method.UNSUBSCRIBE_LINK,
            proof={
                "time": timezone.now().isoformat(),
                "reported_by": event.source or "email service",
                "message_id": message.message_id,
            },
        )
    except ConsentError:
        return False  # an erased or restricted person: nothing more to record
    message_event(
        message=message,
        event_id=f"unsubscribed:{message.message_id}",
        name="Email Unsubscribed",
        properties={"channel": "email", "message": message.pk, "source": event.source},
    )
    return True


def unsubscribe_link_followed(
    *, profile_ids: frozenset[int], purpose_id: int, message_id: int, source: str
) -> bool:
    """Consent's hook: a link sent in this message (unsubscribe or preference page)
    withdrew a purpose. Recorded only for a sent email of that purpose to that person (a
    forged or foreign id, or another purpose, records nothing); the event is once per
    message, however many clicks."""
    message = (
        Message.objects.filter(
            pk=message_id,
            profile_id__in=profile_ids,
            purpose_id=purpose_id,
            channel=Message.Channel.EMAIL,
        )
        .values_list("pk", flat=True)
        .first()
    )
    if message is None:
        return False
    return delivery_event_record(
        DeliveryEvent(type="unsubscribed", message_pk=message, source=source)
    )


__all__ = [
    "TYPES",
    "DeliveryEvent",
    "delivery_event_record",
    "status_of",
    "unsubscribe_link_followed",
]
