"""Property: on random data and random rules, the compiled SQL selects exactly the profiles
the reference evaluator accepts (on whichever database the suite runs: SQLite or PostgreSQL).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profiles.models import Event, Identity, Profile
from profiles.services.events import system_source_get
from segments.compiler import compile_rule
from segments.evaluator import evaluate_rule
from segments.models import Membership, Segment
from segments.services.incremental import Assumed, refresh_one_statement
from segments.services.membership import (
    SYSTEM_SOURCE_NAME,
    SYSTEM_SOURCE_SLUG,
    _should_and_current,
    _statement,
)

TEXTS = ["", "FR", "DE", "fr", "Marketing", "marketing manager", "Ana", "ana-lou", "é", "Zoë"]
NEEDLES = ["a", "Mar", "MAN", "FR", "é", "ana", "lou"]
TRAIT_VALUES = ["gold", "", "3", 3, 2.5, 0, True, False, None, "2026-11-20", [1], {"a": 1}]
TRAIT_KEYS = ["plan", "seats", "vip", "since"]
DAYS = [0, 1, 7, 30, 400]
TODAY = date.today()
DATES = [TODAY - timedelta(days=d) for d in (0, 3, 200, 365 * 30, 365 * 30 + 2)]

text_field = st.sampled_from(["country", "job_title", "first_name", "city"])
number = st.sampled_from([0, 10, 50, 51, 99])
iso_date = st.sampled_from([d.isoformat() for d in DATES] + ["2000-02-29"])


def _between(values: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    return st.lists(values, min_size=2, max_size=2).map(sorted)


text_condition = st.one_of(
    st.builds(
        lambda f, op, v: {"field": f, "op": op, "value": v},
        text_field,
        st.sampled_from(["eq", "ne"]),
        st.sampled_from(TEXTS),
    ),
    st.builds(
        lambda f, op, v: {"field": f, "op": op, "value": v},
        text_field,
        st.sampled_from(["contains", "starts_with"]),
        st.sampled_from(NEEDLES),
    ),
    st.builds(
        lambda f, v: {"field": f, "op": "in", "value": v},
        text_field,
        st.lists(st.sampled_from(TEXTS), min_size=1, max_size=3),
    ),
    st.builds(
        lambda f, op: {"field": f, "op": op}, text_field, st.sampled_from(["is_set", "not_set"])
    ),
    st.builds(
        lambda v: {"field": "lifecycle_stage", "op": "eq", "value": v},
        st.sampled_from(["lead", "customer"]),
    ),
)
number_condition = st.one_of(
    st.builds(
        lambda op, v: {"field": "quality_score", "op": op, "value": v},
        st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"]),
        number,
    ),
    st.builds(lambda v: {"field": "quality_score", "op": "between", "value": v}, _between(number)),
    st.builds(
        lambda op: {"field": "quality_score", "op": op}, st.sampled_from(["is_set", "not_set"])
    ),
)
date_condition = st.one_of(
    st.builds(
        lambda f, op, v: {"field": f, "op": op, "value": v},
        st.sampled_from(["date_of_birth", "last_seen_at"]),
        st.sampled_from(["eq", "ne", "gt", "lte"]),
        iso_date,
    ),
    st.builds(
        lambda f, v: {"field": f, "op": "between", "value": v},
        st.sampled_from(["date_of_birth", "last_seen_at"]),
        _between(iso_date),
    ),
    st.builds(
        lambda f, op, v: {"field": f, "op": op, "value": v},
        st.sampled_from(["date_of_birth", "last_seen_at"]),
        st.sampled_from(["within_last_days", "more_than_days_ago"]),
        st.sampled_from(DAYS),
    ),
    st.builds(
        lambda f, v: {"field": f, "op": "anniversary_within_days", "value": v},
        st.sampled_from(["date_of_birth", "last_seen_at"]),
        st.sampled_from([0, 3, 30, 366]),
    ),
)


def _json_condition(key_name: str, key: str) -> st.SearchStrategy[dict[str, Any]]:
    scalars = st.sampled_from([v for v in TRAIT_VALUES if not isinstance(v, list | dict | None)])
    return st.one_of(
        st.builds(
            lambda op, v: {key_name: key, "op": op, "value": v},
            st.sampled_from(["eq", "ne"]),
            scalars,
        ),
        st.builds(
            lambda v: {key_name: key, "op": "in", "value": v},
            st.lists(scalars, min_size=1, max_size=3),
        ),
        st.builds(
            lambda op, v: {key_name: key, "op": op, "value": v},
            st.sampled_from(["contains", "starts_with"]),
            st.sampled_from(["go", "G", "2026", "3"]),
        ),
        st.builds(
            lambda op, v: {key_name: key, "op": op, "value": v},
            st.sampled_from(["gt", "gte", "lt", "lte"]),
            st.sampled_from([0, 2.5, 3]),
        ),
        st.builds(
            lambda v: {key_name: key, "op": "between", "value": v},
            _between(st.sampled_from([0, 2.5, 3])),
        ),
        st.builds(lambda op: {key_name: key, "op": op}, st.sampled_from(["is_set", "not_set"])),
        st.builds(
            lambda op, v: {key_name: key, "op": op, "value": v},
            st.sampled_from(["within_last_days", "more_than_days_ago"]),
            st.sampled_from(DAYS),
        ),
    )


trait_condition = st.sampled_from(TRAIT_KEYS).flatmap(
    lambda key: _json_condition("field", key).map(lambda c: {**c, "field": f"traits.{key}"})
)
event_condition = st.one_of(
    st.builds(
        lambda name, where, op, count, within: {
            "event": {"name": name, "where": where},
            "op": op,
            "count": count if op == "at_most" else max(count, 1),
            **({"within_days": within} if within is not None else {}),
        },
        st.sampled_from(["download", "open"]),
        st.lists(
            st.sampled_from(["format", "size"]).flatmap(
                lambda key: _json_condition("property", key)
            ),
            max_size=1,
        ),
        st.sampled_from(["at_least", "at_most"]),
        st.integers(min_value=0, max_value=3),
        st.sampled_from([None, 1, 7, 30]),
    ),
    st.builds(
        lambda name, days: {"event": {"name": name}, "op": "not_since_days", "days": days},
        st.sampled_from(["download", "open"]),
        st.sampled_from(DAYS),
    ),
)
leaf = st.one_of(
    text_condition,
    number_condition,
    date_condition,
    trait_condition,
    event_condition,
    st.just({"consent": "newsletter"}),
    st.just({"source": "crm"}),
    st.just({"channel": "web_form"}),
    st.just({"segment": "VIP"}),  # replaced by the static list's id
)
rules_strategy = st.recursive(
    leaf,
    lambda children: st.one_of(
        st.builds(lambda xs: {"all": xs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda xs: {"any": xs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda x: {"not": x}, children),
    ),
    max_leaves=6,
)

profile_strategy = st.fixed_dictionaries(
    {
        "country": st.sampled_from(["", "FR", "DE", "fr", "é"]),
        "job_title": st.sampled_from(TEXTS),
        "first_name": st.sampled_from(TEXTS),
        "city": st.sampled_from(TEXTS),
        "lifecycle_stage": st.sampled_from(["lead", "customer"]),
        "status": st.sampled_from(["active", "active", "restricted"]),
        "quality_score": st.sampled_from([None, 0, 10, 50, 99]),
        "date_of_birth": st.sampled_from([None, *DATES, date(2000, 2, 29)]),
        "last_seen_days": st.sampled_from([None, 0, 0.5, 3, 200, 400]),
        "traits": st.dictionaries(st.sampled_from(TRAIT_KEYS), st.sampled_from(TRAIT_VALUES)),
        "events": st.lists(
            st.tuples(
                st.sampled_from(["download", "open"]),
                st.sampled_from([0.2, 1, 5, 20, 40]),
                st.dictionaries(
                    st.sampled_from(["format", "size"]), st.sampled_from(["pdf", "gold", 3, 0])
                ),
                st.booleans(),
            ),
            max_size=4,
        ),
        "consent": st.lists(st.booleans(), max_size=2),
        "vip": st.booleans(),
        "crm_identity": st.booleans(),
    }
)


def _substitute(rule: Any, vip_id: int) -> Any:
    if isinstance(rule, dict):
        if rule.get("segment") == "VIP":
            return {"segment": vip_id}
        return {k: _substitute(v, vip_id) for k, v in rule.items()}
    if isinstance(rule, list):
        return [_substitute(item, vip_id) for item in rule]
    return rule


def _make_world(people: list[dict[str, Any]], sources: dict[str, Any], now: datetime) -> int:
    from consent.models import Purpose
    from consent.services import consent_record

    newsletter = Purpose.objects.get(code="newsletter")
    vip = Segment.objects.create(name="VIP", kind="static")
    for n, spec in enumerate(people):
        fields = {k: spec[k] for k in ("country", "job_title", "first_name", "city")}
        seen = spec["last_seen_days"]
        profile = Profile.objects.create(
            **fields,
            lifecycle_stage=spec["lifecycle_stage"],
            status=spec["status"],
            quality_score=spec["quality_score"],
            date_of_birth=spec["date_of_birth"],
            last_seen_at=None if seen is None else now - timedelta(days=seen),
            traits=spec["traits"],
        )
        for m, (name, days_ago, properties, from_crm) in enumerate(spec["events"]):
            Event.objects.create(
                profile=profile,
                source=sources["crm" if from_crm else "web"],
                type="track",
                name=name,
                properties=properties,
                message_id=f"p{n}-{m}",
                occurred_at=now - timedelta(days=days_ago),
                received_at=now,
            )
        for granted in spec["consent"]:
            consent_record(
                profile_id=profile.pk,
                purpose=newsletter,
                status="granted" if granted else "withdrawn",
                method="admin",
                proof={"note": "property test"},
            )
        if spec["vip"]:
            Membership.objects.create(segment=vip, profile=profile, entered_at=now)
        if spec["crm_identity"]:
            Identity.objects.create(
                profile=profile, kind="user_id", value=f"u{n}", source=sources["crm"]
            )
    return vip.pk


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(people=st.lists(profile_strategy, min_size=1, max_size=6), rule=rules_strategy)
def test_compiled_sql_agrees_with_the_reference_evaluator(
    people: list[dict[str, Any]], rule: Any, purposes: Any, make_source: Any
) -> None:
    with transaction.atomic():
        sources = {
            "web": make_source("Web", kind="web_form")[0],
            "crm": make_source("CRM", kind="crm", slug="crm")[0],
        }
        now = timezone.now() + timedelta(hours=1, microseconds=7)
        vip_id = _make_world(people, sources, now)
        concrete = _substitute(rule, vip_id)

        by_sql = set(
            Profile.objects.filter(compile_rule(concrete, now=now)).values_list("pk", flat=True)
        )
        by_python = {
            profile.pk
            for profile in Profile.objects.all()
            if evaluate_rule(concrete, profile=profile, now=now)
        }

        # The incremental refresh's SELECT, compiled at `now` then reused a moment later.
        segment = Segment.objects.create(name="Property", kind="dynamic", rule=concrete)
        ids = list(Profile.objects.values_list("pk", flat=True))
        later = now + timedelta(seconds=5)
        _should_and_current(segments=[segment], ids=ids, now=now)
        entering, leaving = _should_and_current(segments=[segment], ids=ids, now=later)[segment.pk]
        by_python_later = {
            profile.pk
            for profile in Profile.objects.filter(status="active")
            if evaluate_rule(concrete, profile=profile, now=later)
        }
        # PostgreSQL: the same SELECT prepared with typed parameters inside the one-statement
        # refresh (writes included), also reused 5 s later.
        one_statement = _one_statement_members(segment, ids, now, later)

        transaction.set_rollback(True)
    assert by_sql == by_python, concrete
    assert (set(entering), leaving) == (by_python_later, []), concrete
    if one_statement is not None:
        assert one_statement == by_python_later, concrete


def _one_statement_members(
    segment: Segment, ids: list[int], now: datetime, later: datetime
) -> set[int] | None:
    if connection.vendor != "postgresql":
        return None
    system_source_get(slug=SYSTEM_SOURCE_SLUG, name=SYSTEM_SOURCE_NAME)
    active = tuple(Segment.objects.filter(is_active=True).order_by("pk"))
    statement = _statement(segments=active, now=now)
    if statement is None:  # not reusable: the refresh goes statement by statement
        return None
    # Every other segment is a static list with no inactive members: only `segment` moves.
    Membership.objects.exclude(profile__status="active").delete()
    changes = refresh_one_statement(
        assumed=Assumed(active),
        decision_sql=statement.sql,
        decision_params=statement.bind(later),
        ids=ids,
        now=later,
        source_slug=SYSTEM_SOURCE_SLUG,
        asynchronous_commit=False,
    )
    members = set(
        Membership.objects.filter(segment=segment, exited_at=None).values_list(
            "profile_id", flat=True
        )
    )
    assert changes == ({segment.pk: (len(members), 0)} if members else {})
    assert Event.objects.filter(name="Segment Entered").count() == len(members)
    return members
