"""The rule language: validation of a JSON rule tree into typed nodes.

The compiler (SQL) and the reference evaluator (Python) both work on the nodes made here,
so they accept exactly the same rules. Every error names the path of the offending node,
e.g. `rule.all[2].event.where[0].op`. The grammar, with examples: docs/segments.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, Union

from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext

from segments.errors import RuleError

TEXT, NUMBER, DATE, DATETIME, TRAIT = "text", "number", "date", "datetime", "trait"

PROFILE_FIELDS: dict[str, str] = {
    "email": TEXT,
    "phone": TEXT,
    "first_name": TEXT,
    "last_name": TEXT,
    "company": TEXT,
    "job_title": TEXT,
    "job_function": TEXT,
    "postcode": TEXT,
    "city": TEXT,
    "country": TEXT,
    "language": TEXT,
    "lifecycle_stage": TEXT,
    "quality_score": NUMBER,
    "date_of_birth": DATE,
    "first_seen_at": DATETIME,
    "last_seen_at": DATETIME,
    "created_at": DATETIME,
}
CHOICES: dict[str, tuple[str, ...]] = {
    "lifecycle_stage": ("anonymous", "lead", "prospect", "customer", "churned"),
}

SET_OPS = ("is_set", "not_set")
RELATIVE_OPS = ("within_last_days", "more_than_days_ago")
ORDER_OPS = ("gt", "gte", "lt", "lte")
OPS_BY_TYPE: dict[str, tuple[str, ...]] = {
    TEXT: ("eq", "ne", "contains", "starts_with", "in", *SET_OPS),
    NUMBER: ("eq", "ne", "in", *ORDER_OPS, "between", *SET_OPS),
    DATE: ("eq", "ne", *ORDER_OPS, "between", *SET_OPS, *RELATIVE_OPS, "anniversary_within_days"),
    DATETIME: (
        "eq",
        "ne",
        *ORDER_OPS,
        "between",
        *SET_OPS,
        *RELATIVE_OPS,
        "anniversary_within_days",
    ),
    TRAIT: (
        "eq",
        "ne",
        "contains",
        "starts_with",
        "in",
        *ORDER_OPS,
        "between",
        *SET_OPS,
        *RELATIVE_OPS,
    ),
}
ALL_FIELD_OPS = tuple(dict.fromkeys(op for ops in OPS_BY_TYPE.values() for op in ops))
PROPERTY_OPS = OPS_BY_TYPE[TRAIT]
EVENT_OPS = ("at_least", "at_most", "not_since_days")
EVENT_TYPES = ("identify", "track", "page", "screen", "group", "alias", "form", "import")
KEY_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
MAX_DAYS = 36500
MAX_NODES = 200
MAX_DEPTH = 12
MAX_LIST = 1000

Scalar = Union[str, int, float, bool]  # noqa: UP007 (a runtime alias)


@dataclass(frozen=True)
class Condition:
    """A test of one value: a profile field, a custom trait or an event property."""

    path: str
    field: str  # profile field name, or the trait / property key
    type: str
    op: str
    value: Any = None  # parsed: dates as date / datetime, lists as tuples
    json_field: str = ""  # "traits" or "properties" for JSON keys, "" for a column


@dataclass(frozen=True)
class Event:
    path: str
    name: str
    type: str
    where: tuple[Condition, ...]
    op: str
    count: int = 0
    within_days: int | None = None
    days: int = 0


@dataclass(frozen=True)
class Consent:
    path: str
    code: str
    purpose_id: int


@dataclass(frozen=True)
class Source:
    path: str
    slug: str
    source_id: int


@dataclass(frozen=True)
class Channel:
    path: str
    kind: str


@dataclass(frozen=True)
class SegmentRef:
    path: str
    segment_id: int


@dataclass(frozen=True)
class Group:
    path: str
    kind: str  # "all" | "any"
    children: tuple[Node, ...] = field(default=())


@dataclass(frozen=True)
class Not:
    path: str
    child: Node


Node = Union[Group, Not, Condition, Event, Consent, Source, Channel, SegmentRef]  # noqa: UP007


def rule_parse(rule: Any, *, segment_id: int | None = None, path: str = "rule") -> Node:
    """Validate a rule tree and return its typed nodes; raises RuleError naming the path.

    `segment_id`: the segment the rule belongs to, so a reference back to it (directly or
    through other segments) is refused.
    """
    _refuse_unstorable(rule, path)
    parser = _Parser(segment_id=segment_id)
    return parser.node(rule, path, depth=0)


def _refuse_unstorable(raw: Any, path: str, depth: int = 0) -> None:
    """Texts PostgreSQL refuses (a NUL character, a lone surrogate) are a RuleError naming
    the node, not a database error; the walk stops at the depth the parser allows."""
    if depth > MAX_DEPTH * 2 + 4:
        return  # deeper than any valid rule: the parser refuses it with its own message
    if isinstance(raw, str):
        if "\x00" in raw:
            raise RuleError(path, gettext("must not contain a NUL character"))
        try:
            raw.encode("utf-8")
        except UnicodeEncodeError:
            raise RuleError(path, gettext("must be valid Unicode text")) from None
    elif isinstance(raw, dict):
        for key, value in raw.items():
            _refuse_unstorable(key, path, depth + 1)
            _refuse_unstorable(value, f"{path}.{key}", depth + 1)
    elif isinstance(raw, list):
        for i, item in enumerate(raw):
            _refuse_unstorable(item, f"{path}[{i}]", depth + 1)


class _Parser:
    def __init__(self, *, segment_id: int | None) -> None:
        self.segment_id = segment_id
        self.nodes = 0

    def node(self, raw: Any, path: str, depth: int) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise RuleError(
                path, gettext("a rule has at most %(MAX_NODES)s nodes") % {"MAX_NODES": MAX_NODES}
            )
        if depth > MAX_DEPTH:
            raise RuleError(
                path, gettext("groups nest at most %(MAX_DEPTH)s deep") % {"MAX_DEPTH": MAX_DEPTH}
            )
        if not isinstance(raw, dict):
            raise RuleError(path, gettext("must be an object (a group or a condition)"))
        kinds = [
            k for k in ("all", "any", "not", "field", "event", "consent", "source") if k in raw
        ]
        kinds += [k for k in ("channel", "segment") if k in raw]
        if len(kinds) != 1:
            raise RuleError(
                path,
                gettext(
                    "must have exactly one of all, any, not, field, event, consent, source, "
                    "channel, segment"
                ),
            )
        kind = kinds[0]
        if kind in ("all", "any"):
            _only(raw, {kind}, path)
            items = raw[kind]
            if not isinstance(items, list) or not items:
                raise RuleError(f"{path}.{kind}", gettext("must be a non-empty list of conditions"))
            return Group(
                path=path,
                kind=kind,
                children=tuple(
                    self.node(item, f"{path}.{kind}[{i}]", depth + 1)
                    for i, item in enumerate(items)
                ),
            )
        if kind == "not":
            _only(raw, {"not"}, path)
            return Not(path=path, child=self.node(raw["not"], f"{path}.not", depth + 1))
        if kind == "field":
            return self.field_condition(raw, path)
        if kind == "event":
            return self.event(raw, path)
        if kind == "consent":
            return self.consent(raw, path)
        if kind == "source":
            return self.source(raw, path)
        if kind == "channel":
            return self.channel(raw, path)
        return self.segment(raw, path)

    def field_condition(self, raw: dict[str, Any], path: str) -> Condition:
        _only(raw, {"field", "op", "value"}, path)
        name = raw["field"]
        if not isinstance(name, str):
            raise RuleError(f"{path}.field", gettext("must be a field name"))
        if name.startswith("traits."):
            key = name[len("traits.") :]
            if not KEY_RE.match(key):
                raise RuleError(
                    f"{path}.field", gettext("a trait key has 1-64 letters, digits, '_' or '-'")
                )
            return _condition(raw, path, field=key, type=TRAIT, json_field="traits")
        if name not in PROFILE_FIELDS:
            raise RuleError(
                f"{path}.field",
                gettext("unknown field %(name)s; use one of %(value)s or traits.<key>")
                % {"name": repr(name), "value": ", ".join(PROFILE_FIELDS)},
            )
        return _condition(raw, path, field=name, type=PROFILE_FIELDS[name])

    def event(self, raw: dict[str, Any], path: str) -> Event:
        _only(raw, {"event", "op", "count", "within_days", "days"}, path)
        spec = raw["event"]
        if not isinstance(spec, dict):
            raise RuleError(f"{path}.event", gettext("must be an object with a name"))
        _only(spec, {"name", "type", "where"}, f"{path}.event")
        name = spec.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise RuleError(
                f"{path}.event.name", gettext("must be an event name (1-200 characters)")
            )
        type_ = spec.get("type", "")
        if type_ not in ("", *EVENT_TYPES):
            raise RuleError(
                f"{path}.event.type",
                gettext("must be one of %(value)s") % {"value": ", ".join(EVENT_TYPES)},
            )
        where_raw = spec.get("where", [])
        if not isinstance(where_raw, list):
            raise RuleError(f"{path}.event.where", gettext("must be a list of property filters"))
        where = []
        for i, item in enumerate(where_raw):
            wpath = f"{path}.event.where[{i}]"
            if not isinstance(item, dict):
                raise RuleError(wpath, gettext("must be an object with property, op and value"))
            _only(item, {"property", "op", "value"}, wpath)
            key = item.get("property")
            if not isinstance(key, str) or not KEY_RE.match(key):
                raise RuleError(
                    f"{wpath}.property",
                    gettext("a property name has 1-64 letters, digits, '_' or '-'"),
                )
            where.append(_condition(item, wpath, field=key, type=TRAIT, json_field="properties"))
        op = raw.get("op")
        if op not in EVENT_OPS:
            raise RuleError(
                f"{path}.op", gettext("must be one of %(value)s") % {"value": ", ".join(EVENT_OPS)}
            )
        if op == "not_since_days":
            if "count" in raw or "within_days" in raw:
                raise RuleError(
                    f"{path}.op", gettext("not_since_days takes days, not count / within_days")
                )
            days = _days(raw.get("days"), f"{path}.days")
            return Event(path, name, type_, tuple(where), op, days=days)
        if "days" in raw:
            raise RuleError(
                f"{path}.days", gettext("%(op)s takes count and within_days, not days") % {"op": op}
            )
        count = raw.get("count", 1)
        low = 1 if op == "at_least" else 0
        if not _is_int(count) or not low <= count <= 1_000_000:
            raise RuleError(
                f"{path}.count", gettext("must be a whole number from %(low)s") % {"low": low}
            )
        within = raw.get("within_days")
        if within is not None:
            within = _days(within, f"{path}.within_days")
        return Event(path, name, type_, tuple(where), op, count=count, within_days=within)

    def consent(self, raw: dict[str, Any], path: str) -> Consent:
        from consent.models import Purpose

        _only(raw, {"consent"}, path)
        code = raw["consent"]
        purpose = Purpose.objects.filter(code=code).first() if isinstance(code, str) else None
        if purpose is None:
            raise RuleError(
                f"{path}.consent",
                gettext("no consent purpose with code %(code)s") % {"code": repr(code)},
            )
        return Consent(path, code, purpose.pk)

    def source(self, raw: dict[str, Any], path: str) -> Source:
        from profiles.models import Source as SourceModel

        _only(raw, {"source"}, path)
        slug = raw["source"]
        found = SourceModel.objects.filter(slug=slug).first() if isinstance(slug, str) else None
        if found is None:
            raise RuleError(
                f"{path}.source", gettext("no source with slug %(slug)s") % {"slug": repr(slug)}
            )
        return Source(path, slug, found.pk)

    def channel(self, raw: dict[str, Any], path: str) -> Channel:
        from profiles.models import Source as SourceModel

        _only(raw, {"channel"}, path)
        kind = raw["channel"]
        if kind not in SourceModel.Kind.values:
            raise RuleError(
                f"{path}.channel",
                gettext("must be one of %(value)s") % {"value": ", ".join(SourceModel.Kind.values)},
            )
        return Channel(path, kind)

    def segment(self, raw: dict[str, Any], path: str) -> SegmentRef:
        from segments.models import Segment

        _only(raw, {"segment"}, path)
        ref = raw["segment"]
        if not _is_int(ref):
            raise RuleError(f"{path}.segment", gettext("must be a segment id"))
        if self.segment_id is not None and ref == self.segment_id:
            raise RuleError(f"{path}.segment", gettext("a segment cannot refer to itself"))
        if not Segment.objects.filter(pk=ref).exists():
            raise RuleError(f"{path}.segment", gettext("no segment with id %(ref)s") % {"ref": ref})
        if self.segment_id is not None:
            chain = _reference_chain(start=ref, target=self.segment_id)
            if chain:
                shown = " -> ".join(str(pk) for pk in [self.segment_id, *chain])
                raise RuleError(
                    f"{path}.segment",
                    gettext("refers back to this segment (%(shown)s)") % {"shown": shown},
                )
        return SegmentRef(path, ref)


def segment_references(rule: Any) -> set[int]:
    """Ids of the segments a (raw) rule tree mentions, without validating it."""
    found: set[int] = set()
    stack = [rule]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("segment")
            if _is_int(ref):
                found.add(ref)
            stack.extend(v for k, v in item.items() if k in ("all", "any", "not"))
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _reference_chain(*, start: int, target: int) -> list[int]:
    """The path of segment ids from `start` to `target` through rules, or [] if none."""
    from segments.models import Segment

    seen: set[int] = set()
    frontier: list[list[int]] = [[start]]
    while frontier:
        chain = frontier.pop()
        current = chain[-1]
        if current == target:
            return chain
        if current in seen:
            continue
        seen.add(current)
        rule = Segment.objects.filter(pk=current).values_list("rule", flat=True).first()
        frontier.extend([*chain, ref] for ref in segment_references(rule))
    return []


def _only(raw: dict[str, Any], allowed: set[str], path: str) -> None:
    extra = sorted(set(raw) - allowed)
    if extra:
        raise RuleError(
            f"{path}.{extra[0]}",
            gettext("unexpected key; allowed: %(value)s") % {"value": ", ".join(sorted(allowed))},
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _days(value: Any, path: str, maximum: int = MAX_DAYS) -> int:
    if not _is_int(value) or not 0 <= value <= maximum:
        raise RuleError(
            path,
            gettext("must be a whole number of days from 0 to %(maximum)s") % {"maximum": maximum},
        )
    return value


def _condition(  # noqa: C901  (one branch per kind of condition, read as a table)
    raw: dict[str, Any], path: str, *, field: str, type: str, json_field: str = ""
) -> Condition:
    op = raw.get("op")
    allowed = OPS_BY_TYPE[type]
    if op not in ALL_FIELD_OPS:
        raise RuleError(
            f"{path}.op",
            gettext("unknown operator %(op)s; use one of %(value)s")
            % {"op": repr(op), "value": ", ".join(allowed)},
        )
    if op not in allowed:
        raise RuleError(
            f"{path}.op",
            gettext("%(op)s does not apply to a %(type)s field; use one of %(value)s")
            % {"op": op, "type": type, "value": ", ".join(allowed)},
        )
    vpath = f"{path}.value"
    value = raw.get("value")
    if op in SET_OPS:
        if "value" in raw:
            raise RuleError(vpath, gettext("%(op)s takes no value") % {"op": op})
        return Condition(path, field, type, op, None, json_field)
    if "value" not in raw:
        raise RuleError(vpath, gettext("is required"))
    if op in RELATIVE_OPS:
        parsed: Any = _days(value, vpath)
    elif op == "anniversary_within_days":
        parsed = _days(value, vpath, maximum=366)
    elif op == "in":
        if not isinstance(value, list) or not value or len(value) > MAX_LIST:
            raise RuleError(
                vpath,
                gettext("must be a non-empty list of at most %(MAX_LIST)s values")
                % {"MAX_LIST": MAX_LIST},
            )
        parsed = tuple(_scalar(item, f"{vpath}[{i}]", type, field) for i, item in enumerate(value))
    elif op == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise RuleError(vpath, gettext("must be a list [low, high]"))
        low = _ordered(value[0], f"{vpath}[0]", type)
        high = _ordered(value[1], f"{vpath}[1]", type)
        if high < low:
            raise RuleError(vpath, gettext("low must not be above high"))
        parsed = (low, high)
    elif op in ORDER_OPS:
        parsed = _ordered(value, vpath, type)
    elif op in ("contains", "starts_with"):
        if not isinstance(value, str) or not value or len(value) > 200:
            raise RuleError(vpath, gettext("must be a non-empty text (at most 200 characters)"))
        parsed = value
    else:  # eq, ne
        parsed = _scalar(value, vpath, type, field)
    return Condition(path, field, type, op, parsed, json_field)


def _scalar(value: Any, path: str, type: str, field: str) -> Any:
    if type == TEXT:
        if not isinstance(value, str) or len(value) > 300:
            raise RuleError(path, gettext("must be a text (at most 300 characters)"))
        if field in CHOICES and value not in CHOICES[field]:
            raise RuleError(
                path, gettext("must be one of %(value)s") % {"value": ", ".join(CHOICES[field])}
            )
        return value
    if type == NUMBER:
        if not _is_int(value):
            raise RuleError(path, gettext("must be a whole number"))
        return value
    if type in (DATE, DATETIME):
        return _date(value, path)
    if (
        (isinstance(value, str) and len(value) <= 300)
        or _is_number(value)
        or isinstance(value, bool)
    ):
        return value
    raise RuleError(path, gettext("must be a text, a number or true / false"))


def _ordered(value: Any, path: str, type: str) -> Any:
    if type == NUMBER:
        if not _is_int(value):
            raise RuleError(path, gettext("must be a whole number"))
        return value
    if type == TRAIT:
        if not _is_number(value):
            raise RuleError(path, gettext("must be a number"))
        return value
    if type == DATE:
        return _date(value, path)
    return _datetime(value, path)


def _date(value: Any, path: str) -> date:
    parsed = None
    if isinstance(value, str):
        try:
            parsed = parse_date(value)
        except ValueError:
            parsed = None
    if parsed is None:
        raise RuleError(
            path, gettext("must be a date YYYY-MM-DD, not %(value)s") % {"value": repr(value)}
        )
    return parsed


def _datetime(value: Any, path: str) -> datetime:
    if isinstance(value, str) and len(value) == 10:
        return datetime.combine(_date(value, path), time.min, tzinfo=UTC)
    parsed = None
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
    if parsed is None:
        raise RuleError(
            path,
            gettext("must be a date or an ISO 8601 date-time, not %(value)s")
            % {"value": repr(value)},
        )
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
