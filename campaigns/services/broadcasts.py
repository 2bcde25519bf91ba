"""Broadcasts: a template sent once to a segment's members for a purpose.

Scheduling takes the audience snapshot: one outbox row per current member, due at the
send time, spread by the throttle. Pause holds the rows still queued; resume shifts them
by the pause's length; cancel skips them. Workers only ever look at the outbox.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from campaigns.errors import BroadcastState, InvalidBroadcast, NotFound
from campaigns.models import Broadcast, Message, Template
from campaigns.selectors import template_latest_version
from campaigns.services.outbox import message_id_make
from consent.models import Purpose
from consent.selectors import contactable_profile_ids, purpose_current_wording
from segments.models import Membership, Segment

SNAPSHOT_CHUNK = 2_000


def _wake_workers() -> None:
    from campaigns.tasks import outbox_send_task

    transaction.on_commit(lambda: outbox_send_task.delay())


@transaction.atomic
def broadcast_create(
    *,
    name: str,
    segment_id: int,
    template_id: int,
    purpose_id: int,
    kind: str = Broadcast.Kind.MARKETING,
    scheduled_at: datetime | None = None,
    throttle_per_minute: int | None = None,
    actor: Any = None,
) -> Broadcast:
    """A draft broadcast; refused if its segment, template or purpose cannot be used."""
    errors: dict[str, list[str]] = {}
    if not Segment.objects.filter(pk=segment_id).exists():
        errors["segment"] = [gettext("No segment with this id.")]
    if not Template.objects.filter(pk=template_id).exists():
        errors["template"] = [gettext("No template with this id.")]
    purpose = Purpose.objects.filter(pk=purpose_id).first()
    if purpose is None:
        errors["purpose"] = [gettext("No purpose with this id.")]
    elif purpose_current_wording(purpose=purpose) is None:
        errors["purpose"] = [gettext("This purpose has no wording: people never agreed to it.")]
    elif purpose.channel != Purpose.Channel.EMAIL:
        errors["purpose"] = [gettext("This purpose is not for email.")]
    if kind not in Broadcast.Kind.values:
        errors["kind"] = [gettext("Use marketing or transactional.")]
    if throttle_per_minute is not None and throttle_per_minute < 1:
        errors["throttle_per_minute"] = [gettext("At least one message a minute.")]
    if errors:
        raise InvalidBroadcast(gettext("This broadcast cannot be created."), fields=errors)
    return Broadcast.objects.create(
        name=name,
        segment_id=segment_id,
        template_id=template_id,
        purpose_id=purpose_id,
        kind=kind,
        scheduled_at=scheduled_at,
        throttle_per_minute=throttle_per_minute,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )


def _locked(broadcast_id: int) -> Broadcast:
    broadcast = Broadcast.objects.select_for_update().filter(pk=broadcast_id).first()
    if broadcast is None:
        raise NotFound(gettext("No broadcast with this id."))
    return broadcast


def _members(segment_id: int) -> Iterator[list[int]]:
    ids = (
        Membership.objects.filter(segment_id=segment_id, exited_at__isnull=True)
        .order_by("profile_id")
        .values_list("profile_id", flat=True)
    )
    chunk: list[int] = []
    for profile_id in ids.iterator(chunk_size=SNAPSHOT_CHUNK):
        chunk.append(profile_id)
        if len(chunk) == SNAPSHOT_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@transaction.atomic
def broadcast_schedule(*, broadcast_id: int, scheduled_at: datetime | None = None) -> Broadcast:
    """Snapshot the audience into the outbox, due at the send time (now if none)."""
    broadcast = _locked(broadcast_id)
    if broadcast.status != Broadcast.Status.DRAFT:
        raise BroadcastState(gettext("Only a draft broadcast can be scheduled."))
    version = template_latest_version(template_id=broadcast.template_id)
    if version is None:
        raise InvalidBroadcast(
            gettext("The template has no version."), fields={"template": [gettext("No version.")]}
        )
    now = timezone.now()
    start = scheduled_at or broadcast.scheduled_at or now
    step = (
        timedelta(minutes=1) / broadcast.throttle_per_minute
        if broadcast.throttle_per_minute
        else None
    )
    count = 0
    for chunk in _members(broadcast.segment_id):
        Message.objects.bulk_create(
            [
                Message(
                    origin_kind=Message.Origin.BROADCAST,
                    origin_id=broadcast.pk,
                    profile_id=profile_id,
                    purpose_id=broadcast.purpose_id,
                    kind=broadcast.kind,
                    template_version=version,
                    message_id=message_id_make(
                        origin_kind=Message.Origin.BROADCAST,
                        origin_id=broadcast.pk,
                        profile_id=profile_id,
                    ),
                    due_at=start + step * (count + n) if step else start,
                )
                for n, profile_id in enumerate(chunk)
            ],
            ignore_conflicts=True,
        )
        count += len(chunk)
    broadcast.status = Broadcast.Status.SCHEDULED
    broadcast.scheduled_at = start
    broadcast.snapshot_at = now
    broadcast.audience_size = count
    broadcast.template_version = version
    broadcast.save(
        update_fields=[
            "status",
            "scheduled_at",
            "snapshot_at",
            "audience_size",
            "template_version",
            "updated_at",
        ]
    )
    _wake_workers()
    return broadcast


def _messages(broadcast: Broadcast) -> Any:
    return Message.objects.filter(origin_kind=Message.Origin.BROADCAST, origin_id=broadcast.pk)


@transaction.atomic
def broadcast_pause(*, broadcast_id: int) -> Broadcast:
    """Hold the messages not yet claimed; those being sent finish."""
    broadcast = _locked(broadcast_id)
    if broadcast.status != Broadcast.Status.SCHEDULED:
        raise BroadcastState(gettext("Only a scheduled broadcast can be paused."))
    _messages(broadcast).filter(status=Message.Status.QUEUED).update(status=Message.Status.HELD)
    broadcast.status, broadcast.paused_at = Broadcast.Status.PAUSED, timezone.now()
    broadcast.save(update_fields=["status", "paused_at", "updated_at"])
    return broadcast


@transaction.atomic
def broadcast_resume(*, broadcast_id: int) -> Broadcast:
    """Release held messages, later by the pause's length (the throttle's spacing is kept)."""
    broadcast = _locked(broadcast_id)
    if broadcast.status != Broadcast.Status.PAUSED or broadcast.paused_at is None:
        raise BroadcastState(gettext("Only a paused broadcast can be resumed."))
    paused_for = timezone.now() - broadcast.paused_at
    _messages(broadcast).filter(status=Message.Status.HELD).update(
        status=Message.Status.QUEUED, due_at=F("due_at") + paused_for
    )
    broadcast.status, broadcast.paused_at = Broadcast.Status.SCHEDULED, None
    broadcast.save(update_fields=["status", "paused_at", "updated_at"])
    _wake_workers()
    return broadcast


@transaction.atomic
def broadcast_cancel(*, broadcast_id: int) -> Broadcast:
    """Skip every message not yet claimed, with the reason 'cancelled'."""
    broadcast = _locked(broadcast_id)
    if broadcast.status == Broadcast.Status.CANCELLED:
        raise BroadcastState(gettext("This broadcast is already cancelled."))
    _messages(broadcast).filter(status__in=[Message.Status.QUEUED, Message.Status.HELD]).update(
        status=Message.Status.SKIPPED, skip_reason=Message.Reason.CANCELLED, lease_until=None
    )
    broadcast.status = Broadcast.Status.CANCELLED
    if broadcast.snapshot_at is None:
        broadcast.snapshot_at = timezone.now()
    broadcast.save(update_fields=["status", "snapshot_at", "updated_at"])
    return broadcast


def broadcast_estimate(*, broadcast: Broadcast) -> dict[str, int]:
    """What scheduling now would do: members, and how many consent lets through today."""
    members = Membership.objects.filter(segment_id=broadcast.segment_id, exited_at__isnull=True)
    total = members.count()
    if broadcast.kind == Broadcast.Kind.TRANSACTIONAL:
        allowed = members.filter(profile__status="active").count()
    else:
        allowed = members.filter(
            profile_id__in=contactable_profile_ids(purpose=broadcast.purpose)
        ).count()
    return {"members": total, "to_send": allowed, "to_skip": total - allowed}
