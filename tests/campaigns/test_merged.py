"""Messages owed to a profile merged away go to the survivor, never twice for one origin."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from campaigns.models import Message
from campaigns.services import broadcast_create, broadcast_schedule, outbox_send_due
from profiles.services.merge import profile_merge
from tests.campaigns.conftest import grant, make_people, static_segment


def _scheduled(people: list[Any], template: Any, purpose: Any, name: str) -> int:
    broadcast = broadcast_create(
        name=name,
        segment_id=static_segment(people, name=name).pk,
        template_id=template.pk,
        purpose_id=purpose.pk,
    )
    return broadcast_schedule(broadcast_id=broadcast.pk).pk


@pytest.mark.django_db
def test_a_merged_persons_messages_reach_the_survivor_once_per_origin(
    smtp_sink: Any, template: Any, newsletter: Any
) -> None:
    absorbed, survivor, other, twice_absorbed = make_people(4)
    for person in (absorbed, survivor, other, twice_absorbed):
        grant(person, newsletter)
    both = _scheduled([absorbed, survivor, other], template, newsletter, "Both")
    only_absorbed = _scheduled([absorbed, twice_absorbed], template, newsletter, "Absorbed")
    profile_merge(survivor_id=absorbed.pk, absorbed_id=twice_absorbed.pk)
    profile_merge(survivor_id=survivor.pk, absorbed_id=absorbed.pk)

    result = outbox_send_due()

    rows = {(m.origin_id, m.message_id): m for m in Message.objects.all()}
    by_origin = Counter((m.origin_id, m.profile_id, m.status) for m in rows.values())
    assert by_origin == {
        (both, survivor.pk, "sent"): 1,
        (both, other.pk, "sent"): 1,
        (both, absorbed.pk, "skipped"): 1,  # the survivor had its own
        (only_absorbed, survivor.pk, "sent"): 1,  # redirected, across two merges
        (only_absorbed, twice_absorbed.pk, "skipped"): 1,  # the same person for that origin
    }
    assert result.skipped == {"merged": 2}
    assert Counter(m["To"] for m in smtp_sink.messages) == {survivor.email: 2, other.email: 1}
