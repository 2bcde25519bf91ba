"""A journey's definition: a trigger, a start step and named steps, validated with paths.

Every error names the path of the offending part, e.g. `definition.steps.wait.next`, as
segment rules do; branch rules are segment rules (validated by the segments' parser), so
a branch reads `definition.steps.clicked.rule.all[0].op`. The grammar: docs/journeys.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Any

from django.utils.translation import gettext as _

from campaigns.errors import InvalidJourney
from segments.compiler import event_filter
from segments.errors import RuleError
from segments.rules import CHOICES, KEY_RE, rule_parse

STEP_KEY_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
MAX_STEPS = 100
WAITS = ("wait", "wait_until", "wait_for_event")
NEXT_KEYS: dict[str, tuple[str, ...]] = {
    "send": ("next",),
    "webhook": ("next",),
    "wait": ("next",),
    "wait_until": ("next",),
    "wait_for_event": ("next", "timeout_next"),
    "branch": ("yes", "no"),
    "split": (),
    "update_profile": ("next",),
    "add_to_segment": ("next",),
    "remove_from_segment": ("next",),
    "exit": (),
}
TRIGGERS = ("segment_entered", "segment_exited", "event", "date", "manual")
DATE_FIELDS = ("date_of_birth", "created_at", "first_seen_at", "last_seen_at")
MAX_OFFSET_DAYS = 3650
MAX_WAIT = timedelta(days=3650)


@dataclass(frozen=True)
class Step:
    key: str
    type: str
    raw: dict[str, Any]
    targets: dict[str, str] = field(default_factory=dict)  # outcome -> next step key


@dataclass(frozen=True)
class Definition:
    trigger: dict[str, Any]
    start: str
    steps: dict[str, Step]
    exit_on_segment_exit: bool = False

    def target(self, key: str, outcome: str) -> str:
        return self.steps[key].targets[outcome]


def _fail(path: str, message: str) -> InvalidJourney:
    return InvalidJourney(f"{path}: {message}", fields={path: [message]})


def duration_parse(raw: Any, path: str) -> timedelta:
    """{"days": d, "hours": h, "minutes": m}: at least one minute, at most ten years."""
    if not isinstance(raw, dict) or not raw or set(raw) - {"days", "hours", "minutes"}:
        raise _fail(path, _("must be an object of days, hours and/or minutes"))
    for unit, value in raw.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise _fail(f"{path}.{unit}", _("must be a whole number, zero or more"))
    length = timedelta(**raw)
    if not timedelta(minutes=1) <= length <= MAX_WAIT:
        raise _fail(path, _("must last from one minute to ten years"))
    return length


def time_parse(raw: Any, path: str) -> time:
    if not isinstance(raw, str) or not re.fullmatch(r"\d{2}:\d{2}", raw):
        raise _fail(path, _("must be a time of day, HH:MM"))
    hour, minute = int(raw[:2]), int(raw[3:])
    if hour > 23 or minute > 59:
        raise _fail(path, _("must be a time of day, HH:MM"))
    return time(hour, minute)


def definition_parse(raw: Any, *, check_references: bool = True) -> Definition:
    """Validate a definition; raises InvalidJourney naming the path of the offending part."""
    path = "definition"
    if not isinstance(raw, dict):
        raise _fail(path, _("must be an object with trigger, start and steps"))
    unknown = set(raw) - {"trigger", "start", "steps", "exit"}
    if unknown:
        raise _fail(f"{path}.{sorted(unknown)[0]}", _("is not a part of a definition"))
    trigger = _trigger(raw.get("trigger"), f"{path}.trigger", check_references)
    exit_raw = raw.get("exit", {})
    if not isinstance(exit_raw, dict) or set(exit_raw) - {"left_segment"}:
        raise _fail(f"{path}.exit", _('must be an object such as {"left_segment": true}'))
    left = exit_raw.get("left_segment", False)
    if not isinstance(left, bool):
        raise _fail(f"{path}.exit.left_segment", _("must be true or false"))
    if left and trigger["type"] != "segment_entered":
        raise _fail(f"{path}.exit.left_segment", _("needs a segment_entered trigger"))
    steps_raw = raw.get("steps")
    if not isinstance(steps_raw, dict) or not steps_raw:
        raise _fail(f"{path}.steps", _("must be an object of named steps"))
    if len(steps_raw) > MAX_STEPS:
        raise _fail(f"{path}.steps", _("a journey has at most %d steps") % MAX_STEPS)
    steps = {
        key: _step(key, value, f"{path}.steps.{key}", check_references)
        for key, value in steps_raw.items()
    }
    start = raw.get("start")
    if not isinstance(start, str) or start not in steps:
        raise _fail(f"{path}.start", _("must name one of the steps"))
    for step in steps.values():
        for outcome, target in step.targets.items():
            if target not in steps:
                where = (
                    f"{path}.steps.{step.key}.{outcome}"
                    if step.type != "split"
                    else f"{path}.steps.{step.key}.variants[{outcome}].next"
                )
                raise _fail(where, _("points to no step: %s") % target)
    _refuse_cycles_without_wait(steps, f"{path}.steps")
    return Definition(trigger=trigger, start=start, steps=steps, exit_on_segment_exit=left)


def _trigger(raw: Any, path: str, check_references: bool) -> dict[str, Any]:
    if not isinstance(raw, dict) or raw.get("type") not in TRIGGERS:
        raise _fail(f"{path}.type", _("must be one of %s") % ", ".join(TRIGGERS))
    kind = raw["type"]
    if kind in ("segment_entered", "segment_exited"):
        _only(raw, {"type", "segment"}, path)
        _segment(raw.get("segment"), f"{path}.segment", check_references, static=False)
    elif kind == "event":
        _only(raw, {"type", "event"}, path)
        _event_spec(raw.get("event"), path)
    elif kind == "date":
        _date_trigger(raw, path)
    else:
        _only(raw, {"type"}, path)
    return dict(raw)


def _event_spec(spec: Any, path: str) -> None:
    """An event by name with property filters: the rule language's event filter."""
    try:
        event_filter(spec, path=path)
    except RuleError as error:
        raise _fail(error.path, error.detail) from None


def _date_trigger(raw: dict[str, Any], path: str) -> None:
    """A date in the person's data (a field, a trait or their latest such event) + days."""
    _only(raw, {"type", "field", "trait", "event", "days", "yearly", "time"}, path)
    sources = [key for key in ("field", "trait", "event") if key in raw]
    if len(sources) != 1:
        raise _fail(path, _("reads one date: a field, a trait or an event"))
    if "field" in raw and raw["field"] not in DATE_FIELDS:
        raise _fail(f"{path}.field", _("must be one of %s") % ", ".join(DATE_FIELDS))
    if "trait" in raw and (not isinstance(raw["trait"], str) or not KEY_RE.match(raw["trait"])):
        raise _fail(f"{path}.trait", _("a trait key has 1-64 letters, digits, '_' or '-'"))
    if "event" in raw:
        _event_spec(raw["event"], path)
    yearly = raw.get("yearly", False)
    if not isinstance(yearly, bool):
        raise _fail(f"{path}.yearly", _("must be true or false"))
    if yearly and ("event" in raw or raw.get("field", "date_of_birth") != "date_of_birth"):
        raise _fail(f"{path}.yearly", _("only a date (the date of birth or a trait) recurs yearly"))
    days = raw.get("days", 0)
    limit = 365 if yearly else MAX_OFFSET_DAYS
    if not isinstance(days, int) or isinstance(days, bool) or abs(days) > limit:
        raise _fail(
            f"{path}.days",
            _("must be a whole number of days from -%(limit)d to %(limit)d") % {"limit": limit},
        )
    time_parse(raw.get("time"), f"{path}.time")


def _only(raw: dict[str, Any], allowed: set[str], path: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise _fail(f"{path}.{unknown[0]}", _("is not a part of this step"))


def _segment(value: Any, path: str, check: bool, *, static: bool) -> None:
    from segments.models import Segment

    if not isinstance(value, int) or isinstance(value, bool):
        raise _fail(path, _("must be a segment id"))
    if not check:
        return
    kind = Segment.objects.filter(pk=value).values_list("kind", flat=True).first()
    if kind is None:
        raise _fail(path, _("no segment with this id"))
    if static and kind != Segment.Kind.STATIC:
        raise _fail(path, _("must be a static segment (a list people are added to)"))


def _step(key: str, raw: Any, path: str, check: bool) -> Step:  # noqa: C901  (a table of kinds)
    if not STEP_KEY_RE.match(key):
        raise _fail(path, _("a step name has 1-64 letters, digits, '_' or '-'"))
    if not isinstance(raw, dict) or raw.get("type") not in NEXT_KEYS:
        raise _fail(f"{path}.type", _("must be one of %s") % ", ".join(NEXT_KEYS))
    kind = raw["type"]
    targets: dict[str, str] = {}
    for outcome in NEXT_KEYS[kind]:
        target = raw.get(outcome)
        if not isinstance(target, str) or not target:
            raise _fail(f"{path}.{outcome}", _("must name the next step"))
        targets[outcome] = target
    common = {"type", "label", *NEXT_KEYS[kind]}
    if kind == "send":
        _only(raw, common | {"template", "kind"}, path)
        _template(raw.get("template"), f"{path}.template", check)
        if raw.get("kind", "marketing") not in ("marketing", "transactional"):
            raise _fail(f"{path}.kind", _("must be marketing or transactional"))
    elif kind == "webhook":
        _only(raw, common | {"endpoint", "payload", "kind"}, path)
        _endpoint(raw.get("endpoint"), f"{path}.endpoint", check)
        if not isinstance(raw.get("payload", {}), dict):
            raise _fail(f"{path}.payload", _("must be a JSON object"))
        if raw.get("kind", "marketing") not in ("marketing", "transactional"):
            raise _fail(f"{path}.kind", _("must be marketing or transactional"))
    elif kind == "wait":
        _only(raw, common | {"duration"}, path)
        duration_parse(raw.get("duration"), f"{path}.duration")
    elif kind == "wait_until":
        _only(raw, common | {"time", "weekdays"}, path)
        time_parse(raw.get("time"), f"{path}.time")
        days = raw.get("weekdays", list(range(7)))
        if (
            not isinstance(days, list)
            or not days
            or any(d not in range(7) or isinstance(d, bool) for d in days)
        ):
            raise _fail(f"{path}.weekdays", _("must list weekdays, 0 (Monday) to 6 (Sunday)"))
    elif kind == "wait_for_event":
        _only(raw, common | {"event", "timeout"}, path)
        name = raw.get("event")
        if isinstance(name, dict):
            _event_spec(name, path)
        elif not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise _fail(
                f"{path}.event",
                _("must be an event name (1-200 characters) or an event with filters"),
            )
        duration_parse(raw.get("timeout"), f"{path}.timeout")
    elif kind == "branch":
        _only(raw, common | {"rule"}, path)
        try:
            rule_parse(raw.get("rule"), path=f"{path}.rule")
        except RuleError as error:
            raise _fail(error.path, error.detail) from None
    elif kind == "split":
        _only(raw, common | {"variants"}, path)
        targets = _variants(raw.get("variants"), f"{path}.variants")
    elif kind == "update_profile":
        _only(raw, common | {"lifecycle_stage", "trait", "value"}, path)
        _update(raw, path)
    elif kind in ("add_to_segment", "remove_from_segment"):
        _only(raw, common | {"segment"}, path)
        _segment(raw.get("segment"), f"{path}.segment", check, static=True)
    else:
        _only(raw, {"type", "label"}, path)
    return Step(key=key, type=kind, raw=dict(raw), targets=targets)


def _template(value: Any, path: str, check: bool) -> None:
    from campaigns.models import TemplateVersion

    if not isinstance(value, int) or isinstance(value, bool):
        raise _fail(path, _("must be a template id"))
    if check and not TemplateVersion.objects.filter(template_id=value).exists():
        raise _fail(path, _("no template with a version has this id"))


def _endpoint(value: Any, path: str, check: bool) -> None:
    from campaigns.models import WebhookEndpoint

    if not isinstance(value, int) or isinstance(value, bool):
        raise _fail(path, _("must be a webhook endpoint id"))
    if check and not WebhookEndpoint.objects.filter(pk=value, is_active=True).exists():
        raise _fail(path, _("no active webhook endpoint has this id"))


def _variants(raw: Any, path: str) -> dict[str, str]:
    if not isinstance(raw, list) or len(raw) < 2:
        raise _fail(path, _("must list at least two variants"))
    targets: dict[str, str] = {}
    holdouts = 0
    for i, item in enumerate(raw):
        vpath = f"{path}[{i}]"
        if not isinstance(item, dict):
            raise _fail(vpath, _("must be an object with name, weight and next"))
        _only(item, {"name", "weight", "next", "holdout"}, vpath)
        name = item.get("name")
        if not isinstance(name, str) or not STEP_KEY_RE.match(name) or name in targets:
            raise _fail(f"{vpath}.name", _("must be a unique name of 1-64 letters or digits"))
        weight = item.get("weight")
        if not isinstance(weight, int) or isinstance(weight, bool) or not 1 <= weight <= 10000:
            raise _fail(f"{vpath}.weight", _("must be a whole number from 1 to 10000"))
        target = item.get("next")
        if not isinstance(target, str) or not target:
            raise _fail(f"{vpath}.next", _("must name the next step"))
        if not isinstance(item.get("holdout", False), bool):
            raise _fail(f"{vpath}.holdout", _("must be true or false"))
        holdouts += bool(item.get("holdout"))
        targets[name] = target
    if holdouts > 1:
        raise _fail(path, _("at most one variant is the holdout"))
    return targets


def _update(raw: dict[str, Any], path: str) -> None:
    stage = raw.get("lifecycle_stage")
    trait = raw.get("trait")
    if (stage is None) == (trait is None):
        raise _fail(path, _("sets either lifecycle_stage or a trait (with its value)"))
    if stage is not None and stage not in CHOICES["lifecycle_stage"]:
        raise _fail(
            f"{path}.lifecycle_stage",
            _("must be one of %s") % ", ".join(CHOICES["lifecycle_stage"]),
        )
    if trait is not None:
        if not isinstance(trait, str) or not KEY_RE.match(trait):
            raise _fail(f"{path}.trait", _("a trait key has 1-64 letters, digits, '_' or '-'"))
        value = raw.get("value")
        if not isinstance(value, str | int | float | bool) or (
            isinstance(value, str) and len(value) > 500
        ):
            raise _fail(f"{path}.value", _("must be a text (500 characters at most) or number"))


def _refuse_cycles_without_wait(steps: dict[str, Step], path: str) -> None:
    """A loop must pass a wait, or one tick would walk it forever."""
    instant = {key: step for key, step in steps.items() if step.type not in WAITS}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(key: str) -> str | None:
        state[key] = 1
        for target in instant[key].targets.values():
            if target not in instant:
                continue
            if state.get(target) == 1:
                return target
            if target not in state:
                found = visit(target)
                if found:
                    return found
        state[key] = 2
        return None

    for key in instant:
        if key not in state:
            found = visit(key)
            if found:
                raise _fail(f"{path}.{found}", _("is on a loop without a wait"))


def awaited_event(step: Step) -> dict[str, Any]:
    """A wait_for_event step's event spec (a bare name is an event of that name)."""
    spec = step.raw["event"]
    return {"name": spec} if isinstance(spec, str) else dict(spec)


def split_variants(step: Step) -> list[tuple[str, int, bool]]:
    """(name, weight, holdout) of a split's variants, in their order."""
    return [
        (item["name"], item["weight"], bool(item.get("holdout"))) for item in step.raw["variants"]
    ]
