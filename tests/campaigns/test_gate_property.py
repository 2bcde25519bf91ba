"""No message ever reaches a withdrawn, suppressed, restricted or erased person."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.models import Message
from campaigns.services import broadcast_create, broadcast_schedule, outbox_send_due
from consent.models import ConsentRecord
from consent.services import consent_record, suppression_add
from profiles.models import Profile
from tests.campaigns.conftest import static_segment

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
        suppression_add(identifiers=[("email", person.email)])
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
