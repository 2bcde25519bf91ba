"""Bounces and complaints recorded: the address blocked, the message marked, a profile event."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Value
from django.db.models.functions import Concat

from campaigns.models import BlockedAddress, Message
from campaigns.services.delivery import EVENT_SOURCE, EVENT_SOURCE_NAME
from consent.services import suppression_digest
from profiles.models import Event, Profile
from profiles.normalise import normalise_email
from profiles.services.events import system_events_append

EVENTS = {"bounce": "Email Bounced", "complaint": "Email Complained"}


@transaction.atomic
def bounce_record(
    *, kind: str, hard: bool, status: str, message_pk: int | None = None, message_id: str = ""
) -> Message | None:
    """A bounce or complaint about one sent email; None when it names no email we sent.

    A hard bounce or a complaint blocks the address for email (the gate then skips it as
    `undeliverable`); a hard bounce fails the message. Either way the person gets an
    `Email Bounced` / `Email Complained` event, once per message (a report read twice is
    recorded once).
    """
    messages = Message.objects.select_for_update().filter(channel=Message.Channel.EMAIL)
    if message_pk is not None:
        message = messages.filter(pk=message_pk).first()
    elif message_id:
        message = messages.filter(message_id=message_id).first()
    else:
        return None
    if message is None or message.status not in (Message.Status.SENT, Message.Status.FAILED):
        return None
    profile = Profile.objects.filter(pk=message.profile_id).first()
    address = normalise_email(profile.email).value if profile and profile.email else ""
    if (hard or kind == "complaint") and address:
        BlockedAddress.objects.get_or_create(
            channel="email",
            digest=suppression_digest(kind="email", value=address),
            defaults={
                "reason": (
                    BlockedAddress.Reason.COMPLAINT
                    if kind == "complaint"
                    else BlockedAddress.Reason.BOUNCE
                ),
                "detail": f"{kind} {status}"[:200],
            },
        )
    if kind == "bounce" and hard and message.status == Message.Status.SENT:
        Message.objects.filter(pk=message.pk).update(
            status=Message.Status.FAILED, last_error=f"bounce {status}"[:200]
        )
    event_id = f"{kind}:{message.message_id}"
    if Event.objects.filter(source__slug=EVENT_SOURCE, message_id=event_id).exists():
        return message  # this report was read before (the row lock orders readers)
    system_events_append(
        source_slug=EVENT_SOURCE,
        source_name=EVENT_SOURCE_NAME,
        name=EVENTS[kind],
        properties={"channel": "email", "hard": hard, "status": status},
        rows=Message.objects.filter(pk=message.pk).annotate(
            event_id=Concat(Value(f"{kind}:"), "message_id")
        ),
        message_id_field="event_id",
    )
    message.refresh_from_db()
    return message
