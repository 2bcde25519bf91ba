"""One right-time policy for every channel: quiet hours and caps hold webhook calls (an
SMS gateway's texts) as they hold emails, each channel counted apart; transactional
messages are exempt on both. Through the claim itself, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from campaigns.models import Message, WebhookEndpoint
from campaigns.policy import QuietHours
from campaigns.services import outbox_claim, outbox_send_due, webhook_enqueue
from campaigns.services.outbox import message_id_make
from consent.models import ConsentRecord
from profiles.models import Profile
from tests.campaigns.conftest import grant, make_people
from tests.campaigns.test_policy import CHANGES, ZONES
from tests.campaigns.test_webhooks import Receiver, endpoint, receiver

__all__ = ["endpoint", "receiver"]  # fixtures shared with test_webhooks

CAPS = {"email": {"day": 2, "week": 3}, "webhook": {"day": 1, "week": 2}}
QUIET = QuietHours(time(21), time(8))
MINUTES_IN_8_DAYS = 8 * 24 * 60


class Rollback(Exception):
    """Undo one example's rows."""


def _call(
    person: Profile, endpoint: WebhookEndpoint, purpose: Any, origin: int, kind: str
) -> Message:
    return webhook_enqueue(
        origin_kind=Message.Origin.JOURNEY_STEP,
        origin_id=origin,
        profile_id=person.pk,
        endpoint_id=endpoint.pk,
        purpose_id=purpose.pk,
        kind=kind,
        payload={"text": "Spring sale: -20% today"},
    )


@pytest.mark.django_db
def test_quiet_hours_hold_marketing_calls_not_transactional_ones_and_a_channel_may_have_its_own(
    receiver: tuple[Receiver, str], endpoint: WebhookEndpoint, newsletter: Any, settings: Any
) -> None:
    settings.CDP_QUIET_HOURS = "00:00-23:59"  # quiet all day but the last minute
    person = make_people(1)[0]
    Profile.objects.filter(pk=person.pk).update(timezone="Europe/Paris")
    grant(person, newsletter)
    held = _call(person, endpoint, newsletter, 1, Message.Kind.MARKETING)
    urgent = _call(person, endpoint, newsletter, 2, Message.Kind.TRANSACTIONAL)

    first = outbox_send_due()
    held.refresh_from_db()
    urgent.refresh_from_db()

    assert (first.sent, first.deferred) == (1, 1)
    assert (held.status, urgent.status) == ("queued", "sent")
    local_end = held.due_at.astimezone(ZoneInfo("Europe/Paris"))
    assert (local_end.hour, local_end.minute) == (23, 59)
    assert len(receiver[0].calls) == 1

    # The webhook channel's own quiet hours (here none) take precedence over everyone's.
    settings.CDP_CHANNEL_QUIET_HOURS = {"webhook": "off"}
    Message.objects.filter(pk=held.pk).update(due_at=urgent.due_at)
    second = outbox_send_due()

    held.refresh_from_db()
    assert (second.sent, held.status) == (1, "sent")
    assert len(receiver[0].calls) == 2


@pytest.mark.django_db
def test_caps_count_each_channel_apart_and_spare_transactional_calls(
    receiver: tuple[Receiver, str], endpoint: WebhookEndpoint, newsletter: Any, settings: Any
) -> None:
    settings.CDP_FREQUENCY_CAPS = {"email": {"day": 5, "week": 5}, "webhook": {"day": 1}}
    people = make_people(2)
    for person in people:
        grant(person, newsletter)
    first = _call(people[0], endpoint, newsletter, 1, Message.Kind.MARKETING)
    other_person = _call(people[1], endpoint, newsletter, 1, Message.Kind.MARKETING)
    outbox_send_due()
    second = _call(people[0], endpoint, newsletter, 2, Message.Kind.MARKETING)
    urgent = _call(people[0], endpoint, newsletter, 3, Message.Kind.TRANSACTIONAL)

    result = outbox_send_due()

    rows = Message.objects.in_bulk([first.pk, other_person.pk, second.pk, urgent.pk])
    assert [(rows[m.pk].status, rows[m.pk].skip_reason) for m in (first, other_person)] == [
        ("sent", ""),
        ("sent", ""),
    ]
    assert (rows[second.pk].status, rows[second.pk].skip_reason) == ("skipped", "frequency_cap")
    assert rows[urgent.pk].status == "sent"
    assert (result.sent, result.skipped) == (1, {"frequency_cap": 1})
    assert len(receiver[0].calls) == 3


def _row(
    person: Profile,
    channel: str,
    *,
    origin: int,
    kind: str,
    version: Any,
    endpoint: WebhookEndpoint,
    purpose: Any,
    sent_at: datetime | None,
    due_at: datetime,
) -> Message:
    return Message.objects.create(
        origin_kind=Message.Origin.BROADCAST,
        origin_id=origin,
        profile=person,
        channel=channel,
        purpose=purpose,
        kind=kind,
        template_version=version if channel == "email" else None,
        endpoint=endpoint if channel == "webhook" else None,
        status="sent" if sent_at else "queued",
        sent_at=sent_at,
        message_id=message_id_make(
            origin_kind=Message.Origin.BROADCAST, origin_id=origin, profile_id=person.pk
        ),
        due_at=due_at,
    )


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    now=st.builds(
        lambda change, minutes: change + timedelta(minutes=minutes),
        st.sampled_from(CHANGES),
        st.integers(-36 * 60, 36 * 60),
    ),
    zone=ZONES,
    channel=st.sampled_from(["email", "webhook"]),
    kind=st.sampled_from(["marketing", "transactional"]),
    same=st.lists(st.integers(1, MINUTES_IN_8_DAYS), max_size=4),
    other=st.lists(st.integers(1, MINUTES_IN_8_DAYS), max_size=4),
)
def test_the_claim_holds_every_channel_to_one_policy_across_daylight_saving(
    template: Any,
    newsletter: Any,
    settings: Any,
    now: datetime,
    zone: str,
    channel: str,
    kind: str,
    same: list[int],
    other: list[int],
) -> None:
    settings.CDP_QUIET_HOURS = "21:00-08:00"
    settings.CDP_CHANNEL_QUIET_HOURS = {}
    settings.CDP_FREQUENCY_CAPS = CAPS
    version = template.versions.order_by("-version").first()
    other_channel = "webhook" if channel == "email" else "email"
    try:
        with transaction.atomic():
            endpoint = WebhookEndpoint.objects.create(name="SMS", url="http://127.0.0.1:9/")
            person = Profile.objects.create(email="p@example.org", first_name="P", timezone=zone)
            ConsentRecord.objects.create(
                profile_id=person.pk,
                purpose=newsletter,
                status="granted",
                method="api",
                recorded_at=datetime(2025, 1, 1, tzinfo=UTC),
            )
            common = {"version": version, "endpoint": endpoint, "purpose": newsletter}
            for n, minutes in enumerate(same + other):
                sent_at = now - timedelta(minutes=minutes)
                on = channel if n < len(same) else other_channel
                _row(
                    person,
                    on,
                    origin=1000 + n,
                    kind="marketing",
                    sent_at=sent_at,
                    due_at=sent_at,
                    **common,
                )
            owed = _row(
                person,
                channel,
                origin=1,
                kind=kind,
                sent_at=None,
                due_at=now - timedelta(minutes=1),
                **common,
            )

            claimed, _ = outbox_claim(limit=20, now=now)

            owed.refresh_from_db()
            local = now.astimezone(ZoneInfo(zone))
            day = sum(1 for minutes in same if minutes < 24 * 60)
            week = sum(1 for minutes in same if minutes < 7 * 24 * 60)
            capped = day >= CAPS[channel]["day"] or week >= CAPS[channel]["week"]
            event(f"{kind} {'quiet' if QUIET.contains(local.time()) else ''} {capped=}")
            if kind == "transactional":
                assert [c.pk for c in claimed] == [owed.pk]
            elif QUIET.contains(local.time()):
                # Held until the first instant whose local time is past the window.
                assert (owed.status, claimed) == ("queued", [])
                assert now < owed.due_at <= now + timedelta(hours=12, minutes=1)
                assert not QUIET.contains(owed.due_at.astimezone(ZoneInfo(zone)).time())
                before = owed.due_at - timedelta(seconds=1)
                assert QUIET.contains(before.astimezone(ZoneInfo(zone)).time())
            elif capped:
                assert (owed.status, owed.skip_reason) == ("skipped", "frequency_cap")
            else:
                assert [c.pk for c in claimed] == [owed.pk]
            raise Rollback
    except Rollback:
        pass
