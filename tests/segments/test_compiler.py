"""The compiler, operator by operator, with the exact members each rule selects."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from profiles.models import Identity, Profile
from segments.compiler import compile_rule
from segments.errors import RuleError
from segments.evaluator import evaluate_rule
from segments.models import Membership, Segment

TODAY = timezone.localdate()


@pytest.fixture
def world(make_profile: Any, make_event: Any, make_source: Any, grant: Any) -> dict[str, Any]:
    """Four people and what they did; rules below name them by key."""
    now = timezone.now()
    ada = make_profile(
        first_name="Ada",
        country="FR",
        job_title="Marketing Manager",
        lifecycle_stage="customer",
        quality_score=90,
        date_of_birth=TODAY + timedelta(days=3) - timedelta(days=365 * 40 + 10),
        last_seen_at=now - timedelta(days=2),
        traits={
            "plan": "gold",
            "seats": 12,
            "vip": True,
            "since": (TODAY - timedelta(days=5)).isoformat(),
        },
    )
    grace = make_profile(
        first_name="Grace",
        country="DE",
        job_title="CTO",
        lifecycle_stage="lead",
        quality_score=40,
        date_of_birth=date(1980, 1, 1) if TODAY.month != 1 else date(1980, 7, 1),
        last_seen_at=now - timedelta(days=60),
        traits={"plan": "silver", "seats": 3, "since": (TODAY - timedelta(days=90)).isoformat()},
    )
    linus = make_profile(first_name="Linus", country="FR", job_title="marketing intern")
    erased = make_profile(first_name="Old", country="FR")
    for _ in range(3):
        make_event(
            ada, "whitepaper_download", days_ago=3, properties={"format": "pdf", "pages": 12}
        )
    make_event(grace, "whitepaper_download", days_ago=45, properties={"format": "docx"})
    make_event(linus, "email_opened", days_ago=1)
    make_event(grace, "email_opened", days_ago=40)
    grant(ada)
    grant(grace)
    grant(grace, granted=False)
    grant(erased)
    Profile.objects.filter(pk=erased.pk).update(status="erased")
    crm, _ = make_source("CRM", kind="crm", slug="crm")
    Identity.objects.create(profile=grace, kind="user_id", value="g1", source=crm)
    vip = Segment.objects.create(name="VIP", kind="static")
    Membership.objects.create(segment=vip, profile=linus, entered_at=now)
    return {"ada": ada, "grace": grace, "linus": linus, "erased": erased, "vip": vip}


def names(world: dict[str, Any], rule: Any) -> list[str]:
    by_pk = {v.pk: k for k, v in world.items() if isinstance(v, Profile)}
    sql = sorted(
        by_pk[pk] for pk in Profile.objects.filter(compile_rule(rule)).values_list("pk", flat=True)
    )
    python = sorted(by_pk[p.pk] for p in Profile.objects.all() if evaluate_rule(rule, profile=p))
    assert sql == python
    return sql


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"field": "country", "op": "eq", "value": "FR"}, ["ada", "erased", "linus"]),
        ({"field": "country", "op": "ne", "value": "FR"}, ["grace"]),
        ({"field": "job_title", "op": "contains", "value": "MARKETING"}, ["ada", "linus"]),
        ({"field": "job_title", "op": "starts_with", "value": "mark"}, ["ada", "linus"]),
        (
            {"field": "first_name", "op": "in", "value": ["Ada", "Linus", "Nobody"]},
            ["ada", "linus"],
        ),
        ({"field": "quality_score", "op": "gt", "value": 40}, ["ada"]),
        ({"field": "quality_score", "op": "gte", "value": 40}, ["ada", "grace"]),
        ({"field": "quality_score", "op": "lt", "value": 90}, ["grace"]),
        ({"field": "quality_score", "op": "lte", "value": 90}, ["ada", "grace"]),
        ({"field": "quality_score", "op": "between", "value": [30, 50]}, ["grace"]),
        ({"field": "quality_score", "op": "is_set"}, ["ada", "grace"]),
        ({"field": "quality_score", "op": "not_set"}, ["erased", "linus"]),
        ({"field": "job_title", "op": "not_set"}, ["erased"]),
        ({"field": "lifecycle_stage", "op": "eq", "value": "customer"}, ["ada"]),
        ({"field": "last_seen_at", "op": "within_last_days", "value": 30}, ["ada"]),
        ({"field": "last_seen_at", "op": "more_than_days_ago", "value": 30}, ["grace"]),
        ({"field": "date_of_birth", "op": "lt", "value": "1990-01-01"}, ["ada", "grace"]),
        ({"field": "date_of_birth", "op": "anniversary_within_days", "value": 7}, ["ada"]),
        (
            {"field": "created_at", "op": "eq", "value": TODAY.isoformat()},
            ["ada", "erased", "grace", "linus"],
        ),
        ({"field": "traits.plan", "op": "eq", "value": "gold"}, ["ada"]),
        ({"field": "traits.plan", "op": "ne", "value": "gold"}, ["erased", "grace", "linus"]),
        ({"field": "traits.plan", "op": "contains", "value": "IL"}, ["grace"]),
        ({"field": "traits.seats", "op": "gt", "value": 5}, ["ada"]),
        ({"field": "traits.seats", "op": "between", "value": [1, 3]}, ["grace"]),
        ({"field": "traits.seats", "op": "in", "value": [3, "12"]}, ["grace"]),
        ({"field": "traits.vip", "op": "eq", "value": True}, ["ada"]),
        ({"field": "traits.vip", "op": "is_set"}, ["ada"]),
        ({"field": "traits.since", "op": "within_last_days", "value": 30}, ["ada"]),
        ({"field": "traits.since", "op": "more_than_days_ago", "value": 30}, ["grace"]),
        (
            {
                "event": {"name": "whitepaper_download"},
                "op": "at_least",
                "count": 1,
                "within_days": 30,
            },
            ["ada"],
        ),
        ({"event": {"name": "whitepaper_download"}, "op": "at_least", "count": 3}, ["ada"]),
        (
            {"event": {"name": "whitepaper_download"}, "op": "at_most", "count": 1},
            ["erased", "grace", "linus"],
        ),
        (
            {"event": {"name": "whitepaper_download"}, "op": "at_most", "count": 0},
            ["erased", "linus"],
        ),
        (
            {
                "event": {
                    "name": "whitepaper_download",
                    "type": "track",
                    "where": [{"property": "pages", "op": "gte", "value": 10}],
                },
                "op": "at_least",
                "count": 1,
            },
            ["ada"],
        ),
        (
            {"event": {"name": "email_opened"}, "op": "not_since_days", "days": 30},
            ["ada", "erased", "grace"],
        ),
        ({"consent": "newsletter"}, ["ada"]),
        ({"source": "crm"}, ["grace"]),
        ({"channel": "crm"}, ["grace"]),
        ({"channel": "web_form"}, ["ada", "grace", "linus"]),
        ({"segment": "vip"}, ["linus"]),
        ({"not": {"field": "country", "op": "eq", "value": "FR"}}, ["grace"]),
        (
            {
                "any": [
                    {"consent": "newsletter"},
                    {
                        "all": [
                            {"field": "country", "op": "eq", "value": "FR"},
                            {"not": {"field": "quality_score", "op": "is_set"}},
                        ]
                    },
                ]
            },
            ["ada", "erased", "linus"],
        ),
    ],
)
def test_each_operator_selects_exactly(
    world: dict[str, Any], rule: Any, expected: list[str]
) -> None:
    if rule.get("segment") == "vip":
        rule = {"segment": world["vip"].pk}

    assert names(world, rule) == expected


def test_a_rule_is_one_query(world: dict[str, Any]) -> None:
    rule = {
        "all": [
            {"field": "country", "op": "eq", "value": "FR"},
            {
                "event": {"name": "whitepaper_download"},
                "op": "at_least",
                "count": 2,
                "within_days": 30,
            },
            {"event": {"name": "email_opened"}, "op": "not_since_days", "days": 30},
            {"consent": "newsletter"},
            {"segment": world["vip"].pk},
        ]
    }
    condition = compile_rule(rule)

    with CaptureQueriesContext(connection) as queries:
        list(Profile.objects.filter(condition).values_list("pk", flat=True))

    assert len(queries) == 1


@pytest.mark.parametrize(
    ("rule", "path"),
    [
        ("everyone", "rule"),
        ({"all": [{"field": "country", "op": "eq"}]}, "rule.all[0].value"),
        ({"all": [{"field": "country", "op": "is_set", "value": 1}]}, "rule.all[0].value"),
        ({"field": "country", "op": "equals", "value": "FR"}, "rule.op"),
        ({"field": "quality_score", "op": "eq", "value": "high"}, "rule.value"),
        ({"field": "quality_score", "op": "between", "value": [9, 1]}, "rule.value"),
        ({"field": "last_seen_at", "op": "gt", "value": "yesterday"}, "rule.value"),
        ({"field": "last_seen_at", "op": "within_last_days", "value": -1}, "rule.value"),
        ({"field": "traits.a b", "op": "is_set"}, "rule.field"),
        ({"field": "lifecycle_stage", "op": "eq", "value": "vip"}, "rule.value"),
        ({"any": [{"event": {"name": ""}, "op": "at_least"}]}, "rule.any[0].event.name"),
        ({"event": {"name": "x"}, "op": "at_least", "count": 0}, "rule.count"),
        ({"event": {"name": "x"}, "op": "not_since_days", "days": 3, "count": 1}, "rule.op"),
        ({"event": {"name": "x", "type": "click"}, "op": "at_least"}, "rule.event.type"),
        ({"source": "nowhere"}, "rule.source"),
        ({"channel": "fax"}, "rule.channel"),
        ({"segment": 987654}, "rule.segment"),
        ({"not": {"field": "country", "op": "eq", "value": "FR"}, "extra": 1}, "rule.extra"),
        (
            {"all": [{"field": "country", "op": "eq", "value": "FR", "note": "x"}]},
            "rule.all[0].note",
        ),
    ],
)
def test_bad_rules_name_the_offending_node(db: None, rule: Any, path: str) -> None:
    with pytest.raises(RuleError) as raised:
        compile_rule(rule)

    assert raised.value.path == path
    assert list(raised.value.fields) == [path]
