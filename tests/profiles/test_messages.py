"""Message preparation: how the fields of one message are read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.utils import timezone

from profiles.services.messages import Message, message_prepare

pytestmark = pytest.mark.django_db


def test_a_timestamp_without_offset_is_taken_as_utc(web_form: Any) -> None:
    message = Message(type="track", user_id="u-1", name="X", timestamp="2024-01-02T00:30:00")

    prepared = message_prepare(message=message, index=0, source=web_form, now=timezone.now())

    assert prepared.occurred_at == datetime(2024, 1, 2, 0, 30, tzinfo=UTC)
