"""Erasure scrubs the person's messages still waiting in the intake buffer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from collection.models import IntakeBatch
from collection.services.intake import intake_accept, intake_drain, intake_pending
from consent.services import person_erase
from profiles.models import Profile
from profiles.services.messages import Message
from tests.consent.gdpr_helpers import ADA, ingest_person

pytestmark = pytest.mark.django_db


def _bo(message_id: str) -> Message:
    return Message(
        type="identify",
        message_id=message_id,
        traits={"email": "bo@example.org", "firstName": "Bo"},
    )


def test_erasure_removes_the_persons_buffered_messages_and_keeps_the_others(
    web_form: Any, settings: Any
) -> None:
    person = ingest_person(web_form, message_id="m1")
    settings.CDP_INTAKE_MODE = "buffered"
    by_email = Message(
        type="identify", message_id="e1", traits={"email": " ADA.Lovelace@Example.ORG "}
    )
    by_phone = Message(type="track", message_id="p1", name="X", traits={"phone": "06 12 34 56 78"})
    by_user_id = Message(type="track", message_id="u1", name="X", user_id="user-m1")
    intake_accept(source=web_form, messages=[by_email, _bo("b1")])
    intake_accept(source=web_form, messages=[by_phone, by_user_id])
    intake_accept(source=web_form, messages=[_bo("b2")])
    assert intake_pending() == 5

    person_erase(profile_ids=[person.pk])

    assert [
        (row.count, [payload["message_id"] for payload in json.loads(row.messages)])
        for row in IntakeBatch.objects.order_by("id")
    ] == [(1, ["b1"]), (1, ["b2"])]
    assert ADA["email"] not in str(list(IntakeBatch.objects.values_list("messages", flat=True)))
    assert intake_drain() == {"ingested": 2, "failed": 0}
    assert sorted(Profile.objects.values_list("status", "email")) == [
        ("active", "bo@example.org"),
        ("erased", ""),
    ]
