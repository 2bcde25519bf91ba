"""A rule tree compiled into one SQL condition over profiles (Q, Exists, Subquery).

Every condition is written so that it is TRUE or FALSE, never NULL (a missing trait, an
empty column): `not` groups then mean exactly "the others", as in the reference evaluator.
The same code runs on PostgreSQL and SQLite.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.db import NotSupportedError, models
from django.db.models import Count, Exists, F, Func, OuterRef, Q, Value
from django.db.models.expressions import Expression
from django.db.models.fields.json import KT
from django.db.models.functions import Left, Lower, StrIndex
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
)
from django.utils import timezone

from segments import rules
from segments.rules import DATE, DATETIME, TEXT, Node

FALSE = Q(pk__in=[])


class JsonKeyType(Func):
    """The JSON type of one key, the same words on both databases; 'missing' if absent."""

    output_field = models.CharField()

    def __init__(self, field: str, key: str) -> None:
        super().__init__(F(field))
        self.key = key

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list]:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"COALESCE(jsonb_typeof(({sql}) -> %s), 'missing')", [*params, self.key]

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list]:
        sql, params = compiler.compile(self.source_expressions[0])
        return (
            f"(CASE json_type({sql}, %s) WHEN 'integer' THEN 'number' WHEN 'real' THEN 'number'"
            " WHEN 'text' THEN 'string' WHEN 'true' THEN 'boolean' WHEN 'false' THEN 'boolean'"
            f" WHEN 'null' THEN 'null' WHEN 'array' THEN 'array' WHEN 'object' THEN 'object'"
            " ELSE 'missing' END)",
            [*params, f'$."{self.key}"'],
        )

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list]:
        # The project runs on PostgreSQL and SQLite only (README); say so clearly elsewhere.
        raise NotSupportedError(
            f"segment rules on traits need PostgreSQL or SQLite, not {connection.vendor}"
        )


def json_type_of(value: Any) -> str:
    """The JSON type name `JsonKeyType` gives a Python value (the evaluator uses it)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return {type(None): "null", list: "array", dict: "object"}.get(type(value), "missing")


def scanned_models() -> tuple[type[models.Model], ...]:
    """The tables a compiled rule may read across all profiles."""
    from consent.models import ConsentRecord
    from profiles.models import Event, Identity, Profile
    from segments.models import Membership

    return (Profile, Event, Identity, ConsentRecord, Membership)


def compile_rule(rule: Any, *, now: datetime | None = None, segment_id: int | None = None) -> Q:
    """Validate a rule tree and compile it into a Q over profiles.Profile (active or not).

    Raises RuleError naming the path of the offending node. `now` fixes the clock of
    relative dates (default: now); `segment_id` refuses references back to that segment.
    """
    return compile_node(rules.rule_parse(rule, segment_id=segment_id), now=now)


def compile_node(node: Node, *, now: datetime | None = None) -> Q:
    """The Q of an already validated node."""
    return _Compiler(now or timezone.now()).node(node)


def event_filter(spec: Any, *, path: str, now: datetime | None = None) -> Q:
    """The Q over profiles.Event rows matching an event spec of the rule language.

    `spec` is what a rule's `{"event": ...}` holds (name, type, where): one event by
    name with property filters, as journey triggers use. Raises RuleError naming the path.
    """
    node = rules.rule_parse({"event": spec, "op": "at_least"}, path=path)
    assert isinstance(node, rules.Event)
    compiler = _Compiler(now or timezone.now())
    where = Q(name=node.name)
    if node.type:
        where &= Q(type=node.type)
    for cond in node.where:
        where &= compiler.json_condition(cond)
    return where


class _Compiler:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self.today = timezone.localdate(now) if timezone.is_aware(now) else now.date()

    def node(self, node: Node) -> Q:
        if isinstance(node, rules.Group):
            parts = [self.node(child) for child in node.children]
            combined = parts[0]
            for part in parts[1:]:
                combined = combined & part if node.kind == "all" else combined | part
            return combined
        if isinstance(node, rules.Not):
            return ~self.node(node.child)
        if isinstance(node, rules.Condition):
            return self.condition(node)
        if isinstance(node, rules.Event):
            return self.event(node)
        if isinstance(node, rules.Consent):
            return self.consent(node)
        if isinstance(node, rules.Source):
            return self.source(Q(source_id=node.source_id))
        if isinstance(node, rules.Channel):
            return self.source(Q(source__kind=node.kind))
        return self.segment(node)

    # --- profile fields and JSON keys -------------------------------------------------

    def condition(self, cond: rules.Condition) -> Q:
        if cond.json_field:
            return self.json_condition(cond)
        name, op, value = cond.field, cond.op, cond.value
        if cond.type == TEXT:
            return self.text(F(name), op, value, Q(**{name: ""}))
        unset = Q(**{f"{name}__isnull": True})
        if op in rules.SET_OPS:
            return ~unset if op == "is_set" else unset
        if op == "ne":
            return ~self.condition(rules.Condition(cond.path, name, cond.type, "eq", value))
        if cond.type == DATETIME and op == "eq":
            return ~unset & Q(**{f"{name}__date": value})
        if op == "eq":
            return ~unset & Q(**{name: value})
        if op == "in":
            return ~unset & Q(**{f"{name}__in": list(value)})
        if op in rules.ORDER_OPS:
            return ~unset & Q(**{f"{name}__{op}": value})
        if op == "between":
            return ~unset & Q(**{f"{name}__gte": value[0], f"{name}__lte": value[1]})
        if op in rules.RELATIVE_OPS:
            start, end = self.window(cond.type, value)
            if op == "within_last_days":
                return ~unset & Q(**{f"{name}__gte": start, f"{name}__lte": end})
            return ~unset & Q(**{f"{name}__lt": start})
        # anniversary_within_days
        return ~unset & self.anniversary(name, value)

    def window(self, type: str, days: int) -> tuple[date | datetime, date | datetime]:
        if type in (DATE, rules.TRAIT):
            return self.today - timedelta(days=days), self.today
        return self.now - timedelta(days=days), self.now

    def anniversary(self, name: str, days: int) -> Q:
        found = FALSE
        for month, first, last in anniversary_ranges(self.today, days):
            found |= Q(
                **{f"{name}__month": month, f"{name}__day__gte": first, f"{name}__day__lte": last}
            )
        return found

    def text(self, expr: Any, op: str, value: Any, empty: Q) -> Q:
        if op == "is_set":
            return ~empty
        if op == "not_set":
            return empty
        if op == "eq":
            return Q(Exact(expr, Value(value)))
        if op == "ne":
            return ~Q(Exact(expr, Value(value)))
        if op == "in":
            found = FALSE
            for item in value:
                found |= Q(Exact(expr, Value(item)))
            return found
        position = StrIndex(Lower(expr), Lower(Value(value)))
        if op == "contains":
            return Q(GreaterThan(position, 0))
        return Q(Exact(position, 1))  # starts_with

    def json_condition(self, cond: rules.Condition) -> Q:
        column, key, op, value = cond.json_field, cond.field, cond.op, cond.value
        kind = JsonKeyType(column, key)

        def is_type(*names: str) -> Q:
            found = FALSE
            for name in names:
                found |= Q(Exact(kind, Value(name)))
            return found

        text = KT(f"{column}__{key}")
        if op in ("is_set", "not_set"):
            present = (is_type("number", "boolean", "array", "object")) | (
                is_type("string") & ~Q(Exact(text, Value("")))
            )
            return present if op == "is_set" else ~present
        if op == "ne":
            return ~self.json_condition(
                rules.Condition(cond.path, key, cond.type, "eq", value, column)
            )
        if op in ("eq", "in"):
            found = FALSE
            for item in value if op == "in" else (value,):
                found |= self.json_equal(column, key, kind, item)
            return found
        if op in ("contains", "starts_with"):
            return is_type("string") & self.text(text, op, value, FALSE)
        if op in rules.RELATIVE_OPS:
            start, end = self.window(rules.TRAIT, value)
            day = Left(text, 10)
            if op == "within_last_days":
                return is_type("string") & Q(
                    GreaterThanOrEqual(day, Value(start.isoformat())),
                    LessThanOrEqual(day, Value(end.isoformat())),
                )
            return is_type("string") & Q(LessThan(day, Value(start.isoformat())))
        if op == "between":
            return is_type("number") & Q(
                **{f"{column}__{key}__gte": value[0], f"{column}__{key}__lte": value[1]}
            )
        return is_type("number") & Q(**{f"{column}__{key}__{op}": value})

    def json_equal(self, column: str, key: str, kind: Expression, value: Any) -> Q:
        name = json_type_of(value)
        guard = Q(Exact(kind, Value(name)))
        if name == "string":
            return guard & Q(Exact(KT(f"{column}__{key}"), Value(value)))
        return guard & Q(**{f"{column}__{key}": value})

    # --- events, consent, sources, segments ------------------------------------------

    def event(self, node: rules.Event) -> Q:
        from profiles.models import Event

        events = Event.objects.filter(name=node.name)
        if node.type:
            events = events.filter(type=node.type)
        for cond in node.where:
            events = events.filter(self.json_condition(cond))
        if node.op == "not_since_days":
            recent = events.filter(occurred_at__gte=self.now - timedelta(days=node.days))
            return ~Q(Exists(recent.filter(profile_id=OuterRef("pk"))))
        if node.within_days is not None:
            events = events.filter(occurred_at__gte=self.now - timedelta(days=node.within_days))
        if node.op == "at_least" and node.count == 1:
            return Q(Exists(events.filter(profile_id=OuterRef("pk"))))
        if node.op == "at_most" and node.count == 0:
            return ~Q(Exists(events.filter(profile_id=OuterRef("pk"))))
        counted = events.order_by().values("profile_id").annotate(n=Count("id"))
        if node.op == "at_least":
            return Q(pk__in=counted.filter(n__gte=node.count).values("profile_id"))
        return ~Q(pk__in=counted.filter(n__gt=node.count).values("profile_id"))

    def consent(self, node: rules.Consent) -> Q:
        from consent.models import Purpose
        from consent.selectors import contactable_records

        # Active profiles only, checked on the profile row at hand rather than joined again.
        purpose = Purpose(pk=node.purpose_id, code=node.code)
        records = contactable_records(purpose=purpose, at=self.now)
        return Q(status="active") & Q(Exists(records.filter(profile_id=OuterRef("pk"))))

    def source(self, where: Q) -> Q:
        from profiles.models import Event, Identity

        events = Event.objects.filter(where, profile_id=OuterRef("pk"))
        identities = Identity.objects.filter(where, profile_id=OuterRef("pk"))
        return Q(Exists(events)) | Q(Exists(identities))

    def segment(self, node: rules.SegmentRef) -> Q:
        from segments.models import Membership

        current = Membership.objects.filter(
            segment_id=node.segment_id, profile_id=OuterRef("pk"), exited_at__isnull=True
        )
        return Q(Exists(current))


def anniversary_ranges(today: date, days: int) -> list[tuple[int, int, int]]:
    """(month, first day, last day) runs covering the calendar days today .. today + days."""
    runs: list[tuple[int, int, int]] = []
    for offset in range(days + 1):
        day = today + timedelta(days=offset)
        if runs and runs[-1][0] == day.month and runs[-1][2] == day.day - 1:
            runs[-1] = (day.month, runs[-1][1], day.day)
        else:
            runs.append((day.month, day.day, day.day))
    return runs
