"""Simulate a journey for one person: which path, which messages, when (nothing written).

Branches are judged with the segments' reference evaluator on the person as they are now;
a wait for an event assumes the event does not come (the timeout branch) unless asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns import policy
from campaigns.journeys.dates import next_occasion
from campaigns.journeys.definition import awaited_event
from campaigns.journeys.engine import arrival_due, variant_pick, version_definition
from campaigns.models import Journey
from campaigns.selectors import template_latest_version
from profiles.models import Profile
from segments.evaluator import evaluate_rule

MAX_STEPS = 200


@dataclass(frozen=True)
class SimulatedStep:
    at: datetime
    step: str
    type: str
    outcome: str
    detail: str = ""


def journey_simulate(
    *, journey: Journey, profile: Profile, now: datetime | None = None, event_comes: bool = False
) -> list[SimulatedStep]:
    """The steps the person would walk on the current version, with the time of each."""
    assert journey.version_id is not None
    definition = version_definition(journey.version_id)
    zone = policy.recipient_zone(timezone=profile.timezone, country=profile.country)
    at = now or timezone.now()
    key = definition.start
    walked: list[SimulatedStep] = []
    if definition.trigger["type"] == "date":
        fires, read = next_occasion(definition.trigger, profile=profile, now=at)
        if fires is None:
            detail = _("no date to read") if read is None else _("the date has passed")
            return [SimulatedStep(at, "", "date", "none", detail)]
        walked.append(SimulatedStep(fires, "", "date", "enter", _("the date comes")))
        at = fires
    while len(walked) < MAX_STEPS:
        step = definition.steps[key]
        at = arrival_due(step, now=at, zone=zone)
        detail = ""
        if step.type == "branch":
            outcome = "yes" if evaluate_rule(step.raw["rule"], profile=profile, now=at) else "no"
        elif step.type == "split":
            outcome = variant_pick(journey_id=journey.pk, profile_id=profile.pk, step=step)
        elif step.type == "wait_for_event":
            outcome = "event" if event_comes else "timeout"
            key_name = "next" if event_comes else "timeout_next"
            walked.append(
                SimulatedStep(at, step.key, step.type, outcome, awaited_event(step)["name"])
            )
            key = step.targets[key_name]
            continue
        elif step.type == "send":
            version = template_latest_version(template_id=step.raw["template"])
            detail = str(version) if version else _("no version")
            outcome = "send"
        elif step.type == "webhook":
            from campaigns.models import WebhookEndpoint

            endpoint = WebhookEndpoint.objects.filter(pk=step.raw["endpoint"]).first()
            detail = endpoint.name if endpoint else _("no endpoint")
            outcome = "send"
        elif step.type == "exit":
            walked.append(SimulatedStep(at, step.key, step.type, "exit"))
            break
        else:
            outcome = "waited" if step.type in ("wait", "wait_until") else "done"
        walked.append(SimulatedStep(at, step.key, step.type, outcome, detail))
        key = step.targets["next" if outcome in ("send", "waited", "done") else outcome]
    return walked
