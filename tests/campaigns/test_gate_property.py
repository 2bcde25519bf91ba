"""No message ever reaches a withdrawn, suppressed, restricted or erased person."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.models import Message, WebhookEndpoint
from campaigns.services import (
    broadcast_create,
    broadcast_schedule,
    outbox_send_due,
    webhook_enqueue,
)
from consent.models import ConsentRecord
from consent.services import consent_record, suppression_add
from profiles.models import Profile
from tests.campaigns.conftest import static_segment
from tests.campaigns.test_webhooks import Receiver, endpoint, receiver

__all__ = ["endpoint", "receiver"]  # fixtures shared with test_webhooks

STEPS = st.sampled_from(
    ["grant", "withdraw", "pending", "grant_expired", "suppress", "restrict", "erase"]
)
HISTORIES = st.lists(st.lists(STEPS, max_size=5), min_size=1, max_size=6)


class Rollback(Exception):
    """Undo one example's rows."""


def _apply(person: Profile, purpose: Any, step: str) -> None:
    now = timezone.now()
    if Profile.objects.filter(pk=person.pk, status="erased").exists():
        return  # nobody records anything for an erased person any more
    if step in ("grant", "withdraw"):
        status = "granted" if step == "grant" else "withdrawn"
        consent_record(
            profile_id=person.pk,
            purpose=purpose,
            status=status,
            method="admin",
            proof={"note": "p"},
        )
    elif step in ("pending", "grant_expired"):
        # States the services reach over time (a form's pending request, an old grant).
        ConsentRecord.objects.create(
            profile_id=person.pk,
            purpose=purpose,
            status="pending_confirmation" if step == "pending" else "granted",
            method="api",
            recorded_at=now - timedelta(days=2),
            expires_at=None if step == "pending" else now - timedelta(days=1),
        )
    elif step == "suppress":
        # An erased person's identifiers: the email, or the phone alone (an SMS contact).
        kind, value = ("phone", person.phone) if person.phone else ("email", person.email)
        suppression_add(identifiers=[(kind, value)])
    else:
        status = "restricted" if step == "restrict" else "erased"
        Profile.objects.filter(pk=person.pk).update(status=status)


def _expected(history: list[str]) -> bool:
    """The reference: the last consent step is a plain grant, and nothing else forbids."""
    if {"suppress", "restrict", "erase"} & set(history):
        return False
    decisions = [s for s in history if s in ("grant", "withdraw", "pending", "grant_expired")]
    return bool(decisions) and decisions[-1] == "grant"


@pytest.mark.django_db
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(histories=HISTORIES)
def test_only_people_whose_history_ends_in_a_grant_in_force_receive_it(
    smtp_sink: Any, template: Any, newsletter: Any, histories: list[list[str]]
) -> None:
    smtp_sink.messages.clear()  # one server for every example
    try:
        with transaction.atomic():
            people = [
                Profile.objects.create(email=f"h{n}@example.org", first_name=f"H{n}")
                for n in range(len(histories))
            ]
            segment = static_segment(people, name="Property")
            steps = [(p, s) for p, h in zip(people, histories, strict=True) for s in h]
            # Histories interleave across people; half of each one lands after the snapshot.
            broadcast = broadcast_create(
                name="P", segment_id=segment.pk, template_id=template.pk, purpose_id=newsletter.pk
            )
            for person, step in steps[: len(steps) // 2]:
                _apply(person, newsletter, step)
            broadcast_schedule(broadcast_id=broadcast.pk)
            for person, step in steps[len(steps) // 2 :]:
                _apply(person, newsletter, step)

            outbox_send_due()

            received = {m["To"] for m in smtp_sink.messages}
            wanted = {p.email for p, h in zip(people, histories, strict=True) if _expected(h)}
            assert received == wanted
            assert Message.objects.filter(status="sent").count() == len(wanted)
            raise Rollback
    except Rollback:
        pass


@pytest.mark.django_db
@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(histories=HISTORIES)
def test_no_marketing_webhook_call_reaches_a_person_who_may_not_be_contacted(
    receiver: tuple[Receiver, str],
    endpoint: WebhookEndpoint,
    newsletter: Any,
    histories: list[list[str]],
) -> None:
    receiver[0].calls.clear()  # one server for every example
    try:
        with transaction.atomic():
            people = [
                Profile.objects.create(
                    email=f"w{n}@example.org", first_name=f"W{n}", phone=f"+3361234567{n}"
                )
                for n in range(len(histories))
            ]
            steps = [(p, s) for p, h in zip(people, histories, strict=True) for s in h]
            # Half of the histories before the calls are queued, half after.
            for person, step in steps[: len(steps) // 2]:
                _apply(person, newsletter, step)
            for person in people:
                webhook_enqueue(
                    origin_kind=Message.Origin.JOURNEY_STEP,
                    origin_id=1,
                    profile_id=person.pk,
                    endpoint_id=endpoint.pk,
                    purpose_id=newsletter.pk,
                    kind=Message.Kind.MARKETING,
                    payload={"text": "Spring sale"},
                )
            for person, step in steps[len(steps) // 2 :]:
                _apply(person, newsletter, step)

            outbox_send_due()

            called = {json.loads(body)["profile_id"] for _, body in receiver[0].calls}
            wanted = {p.pk for p, h in zip(people, histories, strict=True) if _expected(h)}
            assert called == wanted
            assert len(receiver[0].calls) == len(wanted)
            raise Rollback
    except Rollback:
        pass
