"""A journey definition is refused with the path of the offending step; nothing is written."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from campaigns.errors import InvalidJourney
from campaigns.journeys.definition import definition_parse
from campaigns.journeys.services import journey_create
from campaigns.models import Journey, JourneyVersion
from tests.campaigns.conftest import static_segment
from tests.campaigns.journeys import welcome_definition


@pytest.fixture
def valid(template: Any) -> dict[str, Any]:
    return welcome_definition(static_segment([]).pk, template.pk)


def _broken(valid: dict[str, Any], change: Any) -> dict[str, Any]:
    broken = copy.deepcopy(valid)
    change(broken)
    return broken


CASES = [
    (
        lambda d: d["steps"]["wait"].update(next="nowhere"),
        "definition.steps.wait.next",
    ),
    (
        lambda d: d["steps"]["offer"].update(next="welcome"),
        None,  # a loop through a wait is fine
    ),
    (
        lambda d: d["steps"].update(
            again={
                "type": "branch",
                "rule": {"field": "city", "op": "is_set"},
                "yes": "again2",
                "no": "done",
            },
            again2={"type": "update_profile", "lifecycle_stage": "lead", "next": "again"},
        ),
        "definition.steps.again",
    ),
    (
        lambda d: d["steps"]["clicked"]["rule"].update(op="sometimes"),
        "definition.steps.clicked.rule.op",
    ),
    (lambda d: d["steps"]["welcome"].pop("template"), "definition.steps.welcome.template"),
    (lambda d: d["steps"]["welcome"].update(template=999999), "definition.steps.welcome.template"),
    (lambda d: d["trigger"].update(segment=999999), "definition.trigger.segment"),
    (lambda d: d.update(start="missing"), "definition.start"),
    (
        lambda d: d["steps"]["wait"].update(duration={"days": -1}),
        "definition.steps.wait.duration.days",
    ),
    (
        lambda d: d["steps"].update(
            ab={
                "type": "split",
                "variants": [
                    {"name": "a", "weight": 1, "next": "gone"},
                    {"name": "b", "weight": 1, "next": "done"},
                ],
            }
        ),
        "definition.steps.ab.variants[a].next",
    ),
    (
        lambda d: d.update(
            trigger={
                "type": "event",
                "event": {
                    "name": "Form Submitted",
                    "where": [{"property": "form", "op": "near", "value": 1}],
                },
            }
        ),
        "definition.trigger.event.where[0].op",
    ),
    (
        lambda d: d.update(trigger={"type": "date", "field": "date_of_birth", "time": "09:00"}),
        None,
    ),
    (
        lambda d: d.update(trigger={"type": "date", "field": "city", "time": "09:00"}),
        "definition.trigger.field",
    ),
    (
        lambda d: d.update(trigger={"type": "date", "trait": "renewal", "time": "25:00"}),
        "definition.trigger.time",
    ),
    (
        lambda d: d.update(
            trigger={
                "type": "date",
                "trait": "renewal",
                "days": 400,
                "yearly": True,
                "time": "09:00",
            }
        ),
        "definition.trigger.days",
    ),
    (
        lambda d: d.update(
            trigger={"type": "date", "field": "created_at", "yearly": True, "time": "09:00"}
        ),
        "definition.trigger.yearly",
    ),
    (
        lambda d: d.update(trigger={"type": "date", "time": "09:00"}),
        "definition.trigger",
    ),
    (
        lambda d: d.update(
            trigger={"type": "date", "event": {"name": ""}, "days": 30, "time": "09:00"}
        ),
        "definition.trigger.event.name",
    ),
    (
        lambda d: d["steps"].update(
            paid={
                "type": "wait_for_event",
                "event": {
                    "name": "Order Completed",
                    "where": [{"property": "total", "op": "gte", "value": "many"}],
                },
                "timeout": {"days": 1},
                "next": "done",
                "timeout_next": "done",
            }
        ),
        "definition.steps.paid.event.where[0].value",
    ),
    (
        lambda d: d["steps"].update(
            paid={
                "type": "wait_for_event",
                "event": 12,
                "timeout": {"days": 1},
                "next": "done",
                "timeout_next": "done",
            }
        ),
        "definition.steps.paid.event",
    ),
]


@pytest.mark.parametrize(("change", "path"), CASES)
def test_a_broken_definition_names_the_offending_step(
    valid: dict[str, Any], change: Any, path: str | None
) -> None:
    broken = _broken(valid, change)
    if path is None:
        assert definition_parse(broken).start == "welcome"
        return
    with pytest.raises(InvalidJourney) as caught:
        definition_parse(broken)
    assert list(caught.value.fields or {}) == [path]


def test_a_refused_journey_writes_nothing(valid: dict[str, Any], newsletter: Any) -> None:
    broken = _broken(valid, lambda d: d["steps"]["wait"].update(next="nowhere"))
    with pytest.raises(InvalidJourney):
        journey_create(name="Broken", purpose_id=newsletter.pk, definition=broken)
    assert (Journey.objects.count(), JourneyVersion.objects.count()) == (0, 0)
