"""The reference evaluator: one profile judged in plain Python, rule by rule.

It reads the same typed nodes as the compiler and is the specification the compiled SQL
is property-tested against. Text matching (`contains`, `starts_with`) ignores the case of
ASCII letters, as both databases do.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.utils import timezone

from segments import rules
from segments.compiler import anniversary_ranges, json_type_of
from segments.rules import DATE, DATETIME, TEXT, Node


def evaluate_rule(
    rule: Any, *, profile: Any, now: datetime | None = None, segment_id: int | None = None
) -> bool:
    """Whether one profile (active or not) matches a rule; raises RuleError like the compiler."""
    node = rules.rule_parse(rule, segment_id=segment_id)
    return _Evaluator(profile, now or timezone.now()).node(node)


def _ascii_lower(text: str) -> str:
    return "".join(ch.lower() if "A" <= ch <= "Z" else ch for ch in text)


def _text_match(op: str, actual: str, value: str) -> bool:
    if op == "contains":
        return _ascii_lower(value) in _ascii_lower(actual)
    return _ascii_lower(actual).startswith(_ascii_lower(value))


class _Evaluator:
    def __init__(self, profile: Any, now: datetime) -> None:
        self.profile = profile
        self.now = now
        self.today = timezone.localdate(now)
        self._events: list[Any] | None = None

    def node(self, node: Node) -> bool:
        if isinstance(node, rules.Group):
            results = (self.node(child) for child in node.children)
            return all(results) if node.kind == "all" else any(results)
        if isinstance(node, rules.Not):
            return not self.node(node.child)
        if isinstance(node, rules.Condition):
            return self.condition(node)
        if isinstance(node, rules.Event):
            return self.event(node)
        if isinstance(node, rules.Consent):
            return self.consent(node)
        if isinstance(node, rules.Source):
            return self.source(source_id=node.source_id)
        if isinstance(node, rules.Channel):
            return self.source(kind=node.kind)
        return self.segment(node)

    def condition(self, cond: rules.Condition) -> bool:
        if cond.json_field:
            return self.json_condition(cond, getattr(self.profile, cond.json_field) or {})
        actual = getattr(self.profile, cond.field)
        op, value = cond.op, cond.value
        if cond.type == TEXT:
            actual = actual or ""
            if op in ("is_set", "not_set"):
                return (actual != "") == (op == "is_set")
            if op == "eq":
                return actual == value
            if op == "ne":
                return actual != value
            if op == "in":
                return actual in value
            return _text_match(op, actual, value)
        if op in ("is_set", "not_set"):
            return (actual is not None) == (op == "is_set")
        if op == "ne":
            return not self.condition(
                rules.Condition(cond.path, cond.field, cond.type, "eq", value)
            )
        if actual is None:
            return False
        if cond.type == DATETIME and op == "eq":
            return timezone.localdate(actual) == value
        return self.compare(cond.type, op, actual, value)

    def compare(self, type: str, op: str, actual: Any, value: Any) -> bool:
        if op == "eq":
            return actual == value
        if op == "in":
            return actual in value
        if op == "gt":
            return actual > value
        if op == "gte":
            return actual >= value
        if op == "lt":
            return actual < value
        if op == "lte":
            return actual <= value
        if op == "between":
            return value[0] <= actual <= value[1]
        if op in rules.RELATIVE_OPS:
            if type == DATE:
                start, end = self.today - timedelta(days=value), self.today
            else:
                start, end = self.now - timedelta(days=value), self.now
            if op == "within_last_days":
                return start <= actual <= end
            return actual < start
        # anniversary_within_days
        day: date = actual if type == DATE else timezone.localdate(actual)
        return any(
            day.month == month and first <= day.day <= last
            for month, first, last in anniversary_ranges(self.today, value)
        )

    def json_condition(self, cond: rules.Condition, data: dict[str, Any]) -> bool:
        op, value = cond.op, cond.value
        present = cond.field in data
        actual = data.get(cond.field)
        kind = json_type_of(actual) if present else "missing"
        if op in ("is_set", "not_set"):
            is_set = kind in ("number", "boolean", "array", "object") or (
                kind == "string" and actual != ""
            )
            return is_set == (op == "is_set")
        if op == "ne":
            return not self.json_condition(
                rules.Condition(cond.path, cond.field, cond.type, "eq", value, cond.json_field),
                data,
            )
        if op in ("eq", "in"):
            return any(
                kind == json_type_of(item) and actual == item
                for item in (value if op == "in" else (value,))
            )
        if op in ("contains", "starts_with"):
            return kind == "string" and _text_match(op, actual, value)
        if op in rules.RELATIVE_OPS:
            if kind != "string":
                return False
            day = actual[:10]
            start = (self.today - timedelta(days=value)).isoformat()
            if op == "within_last_days":
                return start <= day <= self.today.isoformat()
            return day < start
        return kind == "number" and self.compare(rules.NUMBER, op, actual, value)

    # --- events, consent, sources, segments ------------------------------------------

    def events(self) -> list[Any]:
        if self._events is None:
            from profiles.models import Event

            self._events = list(
                Event.objects.filter(profile_id=self.profile.pk).select_related("source")
            )
        return self._events

    def event(self, node: rules.Event) -> bool:
        matching = [
            event
            for event in self.events()
            if event.name == node.name
            and (not node.type or event.type == node.type)
            and all(self.json_condition(cond, event.properties or {}) for cond in node.where)
        ]
        if node.op == "not_since_days":
            since = self.now - timedelta(days=node.days)
            return not any(event.occurred_at >= since for event in matching)
        if node.within_days is not None:
            since = self.now - timedelta(days=node.within_days)
            matching = [event for event in matching if event.occurred_at >= since]
        if node.op == "at_least":
            return len(matching) >= node.count
        return len(matching) <= node.count

    def consent(self, node: rules.Consent) -> bool:
        from consent.models import ConsentRecord

        if self.profile.status != "active":
            return False
        latest = (
            ConsentRecord.objects.filter(
                profile_id=self.profile.pk, purpose_id=node.purpose_id, recorded_at__lte=self.now
            )
            .order_by("-id")
            .first()
        )
        return (
            latest is not None
            and latest.status == ConsentRecord.Status.GRANTED
            and (latest.expires_at is None or latest.expires_at > self.now)
        )

    def source(self, *, source_id: int | None = None, kind: str | None = None) -> bool:
        from profiles.models import Identity

        identities = list(
            Identity.objects.filter(profile_id=self.profile.pk).select_related("source")
        )
        sources = [event.source for event in self.events()] + [
            identity.source for identity in identities if identity.source is not None
        ]
        return any(
            (source_id is not None and source.pk == source_id)
            or (kind is not None and source.kind == kind)
            for source in sources
        )

    def segment(self, node: rules.SegmentRef) -> bool:
        from segments.models import Membership

        return Membership.objects.filter(
            segment_id=node.segment_id, profile_id=self.profile.pk, exited_at__isnull=True
        ).exists()
