"""Reads of the campaigns app: templates, broadcasts, a person's messages, statistics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Concat

from campaigns.models import Broadcast, Message, Template, TemplateVersion
from consent.models import ConsentRecord, Purpose
from consent.selectors import contactable_records
from core.ids import id_in
from profiles.models import Event, Source


def template_list() -> QuerySet[Template]:
    return Template.objects.order_by("name")


def template_latest_version(*, template_id: int) -> TemplateVersion | None:
    """The version a new message is rendered from: the highest."""
    return TemplateVersion.objects.filter(template_id=template_id).order_by("-version").first()


def broadcast_list() -> QuerySet[Broadcast]:
    return Broadcast.objects.select_related("segment", "template", "purpose").order_by("-id")


def profile_messages(*, profile_id: int) -> QuerySet[Message]:
    """A person's messages, newest first."""
    return Message.objects.filter(profile_id=profile_id).order_by("-id")


def withdrawn_profile_ids(*, purpose: Purpose, profile_ids: Iterable[int]) -> set[int]:
    """Among `profile_ids`, those whose latest decision for `purpose` is a withdrawal."""
    newer = ConsentRecord.objects.filter(
        profile_id=OuterRef("profile_id"), purpose_id=purpose.pk, id__gt=OuterRef("id")
    )
    return set(
        ConsentRecord.objects.filter(
            purpose_id=purpose.pk,
            status=ConsentRecord.Status.WITHDRAWN,
        )
        .filter(id_in("profile_id", profile_ids))
        .filter(~Exists(newer))
        .values_list("profile_id", flat=True)
    )


def contactable_among(*, purpose: Purpose, profile_ids: Sequence[int], at: datetime) -> set[int]:
    """Among `profile_ids`, those whose latest decision for `purpose` is a grant in force."""
    return set(
        contactable_records(purpose=purpose, at=at)
        .filter(profile_id__in=list(profile_ids))
        .values_list("profile_id", flat=True)
    )


@dataclass
class Stats:
    """A broadcast's figures; engagement counts exclude machine opens and clicks."""

    audience: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    machine_opened: int = 0
    bounced: int = 0
    unsubscribed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "audience": self.audience,
            "queued": self.by_status.get("queued", 0) + self.by_status.get("held", 0),
            "sending": self.by_status.get("sending", 0),
            "sent": self.by_status.get("sent", 0),
            "failed": self.by_status.get("failed", 0),
            "skipped": self.by_status.get("skipped", 0),
            "skipped_by_reason": self.skipped_by_reason,
            "delivered": self.delivered,
            "opened": self.opened,
            "clicked": self.clicked,
            "machine_opened": self.machine_opened,
            "bounced": self.bounced,
            "unsubscribed": self.unsubscribed,
        }


def origin_stats(*, origin_kind: str, origin_id: int) -> Stats:
    """Figures of one origin's messages, in three grouped queries. Unsubscribed: the
    messages with an `Email Unsubscribed` event (their own link, or an email service's
    report), each once."""
    messages = Message.objects.filter(origin_kind=origin_kind, origin_id=origin_id)
    stats = Stats()
    reasons: Counter[str] = Counter()
    for status, reason, count in (
        messages.values_list("status", "skip_reason").annotate(n=Count("id")).order_by()
    ):
        stats.by_status[status] = stats.by_status.get(status, 0) + count
        if reason:
            reasons[reason] += count
        stats.audience += count
    stats.skipped_by_reason = dict(reasons)
    figures = messages.aggregate(
        opened=Count("id", filter=Q(opened_at__isnull=False)),
        clicked=Count("id", filter=Q(clicked_at__isnull=False)),
        machine=Count("id", filter=Q(machine_opened_at__isnull=False)),
        bounced=Count("id", filter=Q(status="failed", last_error__startswith="bounce")),
    )
    stats.delivered = stats.by_status.get("sent", 0)
    stats.opened, stats.clicked = figures["opened"], figures["clicked"]
    stats.machine_opened, stats.bounced = figures["machine"], figures["bounced"]
    from campaigns.services.delivery import EVENT_SOURCE  # services import the selectors

    source = Source.objects.filter(slug=EVENT_SOURCE).values_list("pk", flat=True).first()
    if source is not None:
        unsubscribed = Event.objects.filter(
            source_id=source,
            message_id=Concat(Value("unsubscribed:"), OuterRef("message_id")),
        )
        stats.unsubscribed = (
            messages.filter(status=Message.Status.SENT, channel=Message.Channel.EMAIL)
            .filter(Exists(unsubscribed))
            .count()
        )
    return stats


def broadcast_stats(*, broadcast: Broadcast) -> Stats:
    return origin_stats(
        origin_kind=Message.Origin.BROADCAST,
        origin_id=broadcast.pk,
    )
