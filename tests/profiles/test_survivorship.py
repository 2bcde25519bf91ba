"""Survivorship: per field, which source's value wins; recomputed from provenance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from hypothesis import given
from hypothesis import strategies as st

from profiles.models import Profile, SurvivorshipRule
from profiles.selectors import profile_provenance
from profiles.services import Message, ingest_messages
from profiles.services.quality.maintenance import maintenance_run_batch
from profiles.services.quality.rules import quality_rule_save
from profiles.services.quality.survivorship import (
    RECENCY_THEN_TRUST,
    TRUST_THEN_RECENCY,
    survivorship_winners,
)


@dataclass
class Row:
    profile_id: int
    field: str
    value: str
    observed_at: datetime
    trust_rank: int


def at(day: int) -> datetime:
    return datetime(2026, 5, day, tzinfo=UTC)


ROWS = [
    Row(1, "city", "Paris", at(1), 90),  # trusted, old
    Row(1, "city", "Lyon", at(3), 40),  # recent, less trusted
    Row(1, "city", "", at(5), 95),  # empty: never wins
    Row(1, "company", "Acme", at(2), 40),
]


def winners(strategies: dict[str, str]) -> dict[str, str]:
    return {name: row.value for name, row in survivorship_winners(ROWS, strategies)[1].items()}


def test_trust_then_recency_is_the_default() -> None:
    assert winners({}) == {"city": "Paris", "company": "Acme"}


def test_recency_then_trust_picks_the_latest_non_empty_value() -> None:
    assert winners({"city": RECENCY_THEN_TRUST}) == {"city": "Lyon", "company": "Acme"}


def test_equal_trust_falls_back_to_recency() -> None:
    rows = [Row(1, "city", "Paris", at(1), 50), Row(1, "city", "Lyon", at(2), 50)]

    assert survivorship_winners(rows, {TRUST_THEN_RECENCY: "x"})[1]["city"].value == "Lyon"


@given(
    st.lists(
        st.tuples(st.sampled_from(["", "a", "b", "c"]), st.integers(1, 28), st.integers(0, 100)),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from([TRUST_THEN_RECENCY, RECENCY_THEN_TRUST]),
)
def test_the_winner_is_never_empty_and_is_the_best_under_the_rule(
    candidates: list[tuple[str, int, int]], strategy: str
) -> None:
    rows = [Row(1, "city", value, at(day), rank) for value, day, rank in candidates]

    found = survivorship_winners(rows, {"city": strategy}).get(1, {}).get("city")

    filled = [row for row in rows if row.value]
    if not filled:
        assert found is None
        return
    assert found is not None
    assert found.value
    if strategy == TRUST_THEN_RECENCY:
        assert (found.trust_rank, found.observed_at) == max(
            (row.trust_rank, row.observed_at) for row in filled
        )
    else:
        assert (found.observed_at, found.trust_rank) == max(
            (row.observed_at, row.trust_rank) for row in filled
        )


# --- through ingestion and the 360° page --------------------------------------------------


def ingest_two_sources(web_form: Any, crm: Any) -> Profile:
    """The CRM (trust 90) said King in April; the web form (trust 50) said Byron in May."""
    ingest_messages(
        source=crm,
        messages=[
            Message(
                type="identify",
                user_id="u-1",
                traits={"lastName": "King", "city": "London"},
                timestamp="2026-04-01T10:00:00Z",
            )
        ],
    )
    ingest_messages(
        source=web_form,
        messages=[
            Message(
                type="identify",
                user_id="u-1",
                traits={"lastName": "Byron", "city": "Paris"},
                timestamp="2026-05-01T10:00:00Z",
            )
        ],
    )
    return Profile.objects.get()


@pytest.mark.django_db
def test_a_per_field_rule_applies_on_ingestion(web_form: Any, crm: Any) -> None:
    SurvivorshipRule.objects.create(field="city", strategy=RECENCY_THEN_TRUST)

    profile = ingest_two_sources(web_form, crm)

    assert (profile.last_name, profile.city) == ("King", "Paris")


@pytest.mark.django_db
def test_a_rule_change_recomputes_the_winners_from_provenance(web_form: Any, crm: Any) -> None:
    profile = ingest_two_sources(web_form, crm)
    assert (profile.last_name, profile.city) == ("King", "London")

    run = quality_rule_save(rule=SurvivorshipRule(field="last_name", strategy=RECENCY_THEN_TRUST))
    run = maintenance_run_batch(run_id=run.pk)

    profile.refresh_from_db()
    assert (profile.last_name, profile.city) == ("Byron", "London")
    assert run.summary == {"profiles_changed": 1, "scored": 1}
    assert profile.audit.order_by("-pk").values_list("action", "fields").first() == (
        "maintenance",
        ["last_name"],
    )


@pytest.mark.django_db
def test_the_360_view_lists_the_winner_first_then_the_alternatives(web_form: Any, crm: Any) -> None:
    SurvivorshipRule.objects.create(field="city", strategy=RECENCY_THEN_TRUST)
    profile = ingest_two_sources(web_form, crm)

    rows = {row["field"]: row for row in profile_provenance(profile=profile)}

    assert [
        (s["source"], s["value"], s["trust_rank"], s["wins"]) for s in rows["city"]["sources"]
    ] == [("Website sign-up", "Paris", 50, True), ("CRM export", "London", 90, False)]
    assert rows["city"]["rule"] == "Most recent, then highest trust rank"
    assert [(s["value"], s["wins"]) for s in rows["last_name"]["sources"]] == [
        ("King", True),
        ("Byron", False),
    ]
    assert rows["last_name"]["rule"] == "Highest trust rank, then most recent"


@pytest.mark.django_db
def test_the_360_page_shows_winners_alternatives_and_issues(
    client: Any, web_form: Any, crm: Any
) -> None:
    user = get_user_model().objects.create_superuser("root", "root@example.org", "pw-123456789")
    client.force_login(user)
    profile = ingest_two_sources(web_form, crm)
    ingest_messages(
        source=web_form, messages=[Message(type="identify", user_id="u-1", traits={"phone": "1"})]
    )

    html = client.get(f"/admin/profiles/profile/{profile.pk}/change/").content.decode()

    assert '<td class="wins">King (wins)</td>' in html
    assert '<td class="muted">Byron</td>' in html
    assert "<td>phone</td>" in html
    assert "The string supplied did not seem to be a phone number." in html
    assert "Data-quality issues (score 15)" in html  # last name 10 + city 5, an open error
