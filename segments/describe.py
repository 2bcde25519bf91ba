"""A rule tree in words, for stewards: nested lines a template renders as a list."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext, ngettext

from segments import rules


@dataclass
class Line:
    text: str
    children: list[Line] = field(default_factory=list)


def _value(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ", ".join(_value(item) for item in value)
    if isinstance(value, str):
        return gettext("“%(value)s”") % {"value": value}
    if isinstance(value, bool):
        return gettext("true") if value else gettext("false")
    return str(value)


def _condition(cond: rules.Condition) -> str:
    from segments.builder import FIELD_LABELS, OP_LABELS

    name = str(FIELD_LABELS.get(cond.field, cond.field.replace("_", " ")))
    if cond.json_field == "traits":
        name = gettext("trait “%(key)s”") % {"key": cond.field}
    elif cond.json_field:
        name = gettext("property “%(key)s”") % {"key": cond.field}
    op, value = cond.op, cond.value
    words = {"name": name, "op": OP_LABELS[op]}
    if op in ("is_set", "not_set"):
        return gettext("%(name)s %(op)s") % words
    if op == "between":
        return gettext("%(name)s is between %(low)s and %(high)s") % {
            "name": name,
            "low": _value(value[0]),
            "high": _value(value[1]),
        }
    if op == "within_last_days":
        return gettext("%(name)s is within the last %(days)s days") % {"name": name, "days": value}
    if op == "anniversary_within_days":
        return gettext("%(name)s has its anniversary within the next %(days)s days") % {
            "name": name,
            "days": value,
        }
    if op == "more_than_days_ago":
        return gettext("%(name)s is more than %(days)s days ago") % {"name": name, "days": value}
    if hasattr(value, "isoformat") and not isinstance(value, tuple):
        value = value.isoformat()
    return gettext("%(name)s %(op)s %(value)s") % {**words, "value": _value(value)}


def _event(node: rules.Event) -> str:
    what = _value(node.name) + (f" ({node.type})" if node.type else "")
    if node.where:
        what = gettext("%(event)s where %(filters)s") % {
            "event": what,
            "filters": gettext(" and ").join(_condition(cond) for cond in node.where),
        }
    if node.op == "not_since_days":
        return gettext("has not performed %(event)s in the last %(days)s days") % {
            "event": what,
            "days": node.days,
        }
    words = {"event": what, "count": node.count, "days": node.within_days}
    if node.op == "at_least":
        if node.within_days is None:
            return (
                ngettext(
                    "performed %(event)s at least %(count)s time ever",
                    "performed %(event)s at least %(count)s times ever",
                    node.count,
                )
                % words
            )
        return (
            ngettext(
                "performed %(event)s at least %(count)s time in the last %(days)s days",
                "performed %(event)s at least %(count)s times in the last %(days)s days",
                node.count,
            )
            % words
        )
    if node.within_days is None:
        return (
            ngettext(
                "performed %(event)s at most %(count)s time ever",
                "performed %(event)s at most %(count)s times ever",
                node.count,
            )
            % words
        )
    return (
        ngettext(
            "performed %(event)s at most %(count)s time in the last %(days)s days",
            "performed %(event)s at most %(count)s times in the last %(days)s days",
            node.count,
        )
        % words
    )


def rule_lines(node: rules.Node) -> Line:
    """A validated node as nested lines of words, in the active language."""
    if isinstance(node, rules.Group):
        head = gettext("All of:") if node.kind == "all" else gettext("Any of:")
        return Line(head, [rule_lines(child) for child in node.children])
    if isinstance(node, rules.Not):
        return Line(gettext("None of:"), [rule_lines(node.child)])
    if isinstance(node, rules.Condition):
        return Line(_condition(node))
    if isinstance(node, rules.Event):
        return Line(_event(node))
    if isinstance(node, rules.Consent):
        return Line(gettext("may be contacted for “%(purpose)s”") % {"purpose": node.code})
    if isinstance(node, rules.Source):
        return Line(gettext("came through the source “%(source)s”") % {"source": node.slug})
    if isinstance(node, rules.Channel):
        from profiles.models import Source

        kind = dict(Source.Kind.choices).get(node.kind, node.kind.replace("_", " "))
        return Line(gettext("came through a channel: %(kind)s") % {"kind": kind})
    from segments.models import Segment

    name = Segment.objects.filter(pk=node.segment_id).values_list("name", flat=True).first()
    return Line(
        gettext("is in the segment “%(name)s” (#%(id)s)") % {"name": name, "id": node.segment_id}
    )


def rule_describe(rule: Any, *, segment_id: int | None = None) -> Line:
    """A rule tree in words (validates it: raises RuleError like the compiler)."""
    return rule_lines(rules.rule_parse(rule, segment_id=segment_id))


def lines_text(line: Line, depth: int = 0) -> str:
    """The lines as indented plain text (for exports and logs)."""
    out = "  " * depth + line.text
    return "\n".join([out, *(lines_text(child, depth + 1) for child in line.children)])
