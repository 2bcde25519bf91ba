"""Helpers of the journey tests: a welcome journey over a static segment."""

from __future__ import annotations

from typing import Any

from campaigns.journeys.engine import journeys_advance
from campaigns.journeys.services import journey_activate, journey_create
from campaigns.journeys.triggers import journeys_catch_up
from campaigns.models import Journey

CLICKED = {"event": {"name": "Email Clicked"}, "op": "at_least", "count": 1}


def welcome_definition(segment_id: int, template_id: int) -> dict[str, Any]:
    return {
        "trigger": {"type": "segment_entered", "segment": segment_id},
        "start": "welcome",
        "steps": {
            "welcome": {"type": "send", "template": template_id, "next": "wait"},
            "wait": {"type": "wait", "duration": {"days": 3}, "next": "clicked"},
            "clicked": {"type": "branch", "rule": CLICKED, "yes": "offer", "no": "reminder"},
            "offer": {"type": "send", "template": template_id, "next": "done"},
            "reminder": {"type": "send", "template": template_id, "next": "done"},
            "done": {"type": "exit"},
        },
    }


def live_journey(
    definition: dict[str, Any], purpose: Any, name: str = "Welcome", **extra: Any
) -> Journey:
    journey = journey_create(name=name, purpose_id=purpose.pk, definition=definition, **extra)
    journey_activate(journey_id=journey.pk)
    journeys_catch_up()  # the first run starts the cursor at the end of the log
    journey.refresh_from_db()
    return journey


__all__ = ["CLICKED", "journeys_advance", "journeys_catch_up", "live_journey", "welcome_definition"]
