"""A rule tree in words, for stewards: nested lines a template renders as a list."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from segments import rules

_OPS = {
    "eq": "is",
    "ne": "is not",
    "contains": "contains",
    "starts_with": "starts with",
    "in": "is one of",
    "gt": "is more than",
    "gte": "is at least",
    "lt": "is less than",
    "lte": "is at most",
    "between": "is between",
    "is_set": "is set",
    "not_set": "is not set",
    "within_last_days": "is within the last",
    "more_than_days_ago": "is more than",
    "anniversary_within_days": "has its anniversary within the next",
}


@dataclass
class Line:
    text: str
    children: list[Line] = field(default_factory=list)


def _value(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ", ".join(_value(item) for item in value)
    if isinstance(value, str):
        return f"“{value}”"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _condition(cond: rules.Condition) -> str:
    name = cond.field.replace("_", " ")
    if cond.json_field == "traits":
        name = f"trait “{cond.field}”"
    elif cond.json_field:
        name = f"property “{cond.field}”"
    op, value = cond.op, cond.value
    if op in ("is_set", "not_set"):
        return f"{name} {_OPS[op]}"
    if op == "between":
        return f"{name} is between {_value(value[0])} and {_value(value[1])}"
    if op in ("within_last_days", "anniversary_within_days"):
        return f"{name} {_OPS[op]} {value} days"
    if op == "more_than_days_ago":
        return f"{name} is more than {value} days ago"
    if hasattr(value, "isoformat") and not isinstance(value, tuple):
        value = value.isoformat()
    return f"{name} {_OPS[op]} {_value(value)}"


def _event(node: rules.Event) -> str:
    what = f"“{node.name}”" + (f" ({node.type})" if node.type else "")
    if node.where:
        what += " where " + " and ".join(_condition(cond) for cond in node.where)
    if node.op == "not_since_days":
        return f"has not performed {what} in the last {node.days} days"
    times = "time" if node.count == 1 else "times"
    bound = "at least" if node.op == "at_least" else "at most"
    window = f" in the last {node.within_days} days" if node.within_days is not None else " ever"
    return f"performed {what} {bound} {node.count} {times}{window}"


def rule_lines(node: rules.Node) -> Line:
    """A validated node as nested lines of words."""
    if isinstance(node, rules.Group):
        head = "All of:" if node.kind == "all" else "Any of:"
        return Line(head, [rule_lines(child) for child in node.children])
    if isinstance(node, rules.Not):
        return Line("None of:", [rule_lines(node.child)])
    if isinstance(node, rules.Condition):
        return Line(_condition(node))
    if isinstance(node, rules.Event):
        return Line(_event(node))
    if isinstance(node, rules.Consent):
        return Line(f"may be contacted for “{node.code}”")
    if isinstance(node, rules.Source):
        return Line(f"came through the source “{node.slug}”")
    if isinstance(node, rules.Channel):
        return Line(f"came through a {node.kind.replace('_', ' ')} channel")
    from segments.models import Segment

    name = Segment.objects.filter(pk=node.segment_id).values_list("name", flat=True).first()
    return Line(f"is in the segment “{name}” (#{node.segment_id})")


def rule_describe(rule: Any, *, segment_id: int | None = None) -> Line:
    """A rule tree in words (validates it: raises RuleError like the compiler)."""
    return rule_lines(rules.rule_parse(rule, segment_id=segment_id))


def lines_text(line: Line, depth: int = 0) -> str:
    """The lines as indented plain text (for exports and logs)."""
    out = "  " * depth + line.text
    return "\n".join([out, *(lines_text(child, depth + 1) for child in line.children)])
