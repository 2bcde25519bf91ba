"""Merge and undo: exact moves, exact undo, and every refused case changing nothing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from consent.models import ConsentRecord
from consent.services import consent_record
from profiles.errors import (
    MergeAlreadyUndone,
    MergeIdentityLimit,
    MergeIntoTombstone,
    MergeNotFound,
    ProfileNotFound,
    SelfMerge,
    SurvivorMergedSince,
)
from profiles.hooks import _PARTICIPANTS, MergeParticipant, merge_participant_register
from profiles.models import (
    DataQualityIssue,
    Event,
    FieldProvenance,
    Identity,
    Profile,
    ProfileAudit,
    ProfileMerge,
)
from profiles.services import Message, ingest_messages, profile_merge, profile_merge_undo

pytestmark = pytest.mark.django_db


def person(source: Any, message_id: str, timestamp: str, **kwargs: Any) -> int:
    """Ingest one identify and return the profile it landed on."""
    result = ingest_messages(
        source=source,
        messages=[Message(type="identify", message_id=message_id, timestamp=timestamp, **kwargs)],
    )
    return result.results[0].profile_id


def state() -> dict[str, Any]:
    """Everything a merge may touch, to compare before and after."""
    return {
        "profiles": list(
            Profile.objects.order_by("pk").values(
                "pk",
                "status",
                "merged_into",
                "email",
                "phone",
                "first_name",
                "last_name",
                "company",
                "traits",
                "lifecycle_stage",
                "first_seen_at",
                "last_seen_at",
            )
        ),
        "identities": list(Identity.objects.order_by("pk").values_list("pk", "profile_id")),
        "events": list(Event.objects.order_by("pk").values_list("pk", "profile_id")),
        "provenance": list(
            FieldProvenance.objects.order_by("pk").values_list(
                "pk", "profile_id", "field", "source_id", "value", "observed_at"
            )
        ),
        "consent": list(
            ConsentRecord.objects.order_by("pk").values_list("pk", "profile_id", "status", "proof")
        ),
        "merges": list(ProfileMerge.objects.order_by("pk").values_list("pk", "undone_at")),
        "audits": ProfileAudit.objects.count(),
    }


@pytest.fixture
def pair(web_form: Any, crm: Any, purposes: dict[str, Any]) -> tuple[int, int]:
    """Ada from the CRM (user id, older name) and Ada from a web form (email, phone, newer)."""
    survivor = person(
        crm,
        "c1",
        "2026-10-01T09:00:00Z",
        user_id="crm-7",
        traits={"firstName": "Ada", "lastName": "Lovelace", "company": "Analytical", "tier": 1},
    )
    person(web_form, "w0", "2026-10-02T09:00:00Z", anonymous_id="anon-1", traits={})
    absorbed = person(
        web_form,
        "w1",
        "2026-10-03T09:00:00Z",
        anonymous_id="anon-1",
        traits={
            "email": "ada@lovelace.org",
            "phone": "06 12 34 56 78",
            "firstName": "Augusta",
            "company": "Engines Ltd",
            "tier": 2,
            "colour": "green",
        },
    )
    consent_record(
        profile_id=absorbed,
        purpose=purposes["newsletter"],
        status="granted",
        method="api",
        proof={"note": "asked by phone"},
    )
    return survivor, absorbed


def test_a_merge_moves_everything_and_recomputes_the_survivor(
    pair: tuple[int, int], staff_user: Any, crm: Any
) -> None:
    survivor_id, absorbed_id = pair
    identities = set(Identity.objects.filter(profile_id=absorbed_id).values_list("pk", flat=True))
    events = set(Event.objects.filter(profile_id=absorbed_id).values_list("pk", flat=True))
    records = set(ConsentRecord.objects.filter(profile_id=absorbed_id).values_list("pk", flat=True))

    merge = profile_merge(
        survivor_id=survivor_id, absorbed_id=absorbed_id, actor=staff_user, reason="same person"
    )

    survivor = Profile.objects.get(pk=survivor_id)
    absorbed = Profile.objects.get(pk=absorbed_id)
    assert (absorbed.status, absorbed.merged_into_id) == ("merged", survivor_id)
    assert set(Identity.objects.filter(profile_id=survivor_id).values_list("kind", "value")) == {
        ("user_id", "crm-7"),
        ("anonymous_id", "anon-1"),
        ("email", "ada@lovelace.org"),
        ("phone", "+33612345678"),
    }
    assert Identity.objects.filter(profile_id=absorbed_id).count() == 0
    assert Event.objects.filter(profile_id=survivor_id).count() == 3
    assert ConsentRecord.objects.filter(profile_id=survivor_id).count() == 1
    # The CRM (trust 90) keeps the name and company; the form adds email and phone.
    assert (survivor.first_name, survivor.last_name, survivor.company) == (
        "Ada",
        "Lovelace",
        "Analytical",
    )
    assert (survivor.email, survivor.phone) == ("ada@lovelace.org", "+33612345678")
    assert survivor.traits == {"tier": 1, "colour": "green"}
    assert survivor.first_seen_at.isoformat() == "2026-10-01T09:00:00+00:00"
    assert survivor.last_seen_at.isoformat() == "2026-10-03T09:00:00+00:00"
    assert FieldProvenance.objects.filter(profile_id=absorbed_id).count() == 0
    assert set(merge.snapshot["identities"]) == identities
    assert set(merge.snapshot["events"]) == events
    assert set(merge.snapshot["consent_records"]) == records
    assert (merge.actor, merge.reason, merge.undone_at) == (staff_user, "same person", None)
    assert list(
        ProfileAudit.objects.filter(action__startswith="merged").values_list("profile_id", "action")
    ) == [(survivor_id, "merged"), (absorbed_id, "merged_into")]


def test_undo_restores_both_profiles_exactly(pair: tuple[int, int], staff_user: Any) -> None:
    survivor_id, absorbed_id = pair
    before = state()
    merge = profile_merge(survivor_id=survivor_id, absorbed_id=absorbed_id, rule="email-exact")

    undone = profile_merge_undo(merge_id=merge.pk, actor=staff_user)

    after = state()
    assert undone.undone_by == staff_user
    assert undone.undone_at is not None
    for name in ("identities", "events", "provenance", "consent"):
        assert after[name] == before[name], name
    assert [
        {key: value for key, value in row.items() if key != "updated_at"}
        for row in after["profiles"]
    ] == before["profiles"]
    assert after["audits"] == before["audits"] + 4


def test_a_newer_value_of_the_same_source_does_not_replace_the_kept_one(
    web_form: Any,
) -> None:
    first = person(web_form, "a", "2026-10-01T09:00:00Z", user_id="u1", traits={"city": "Paris"})
    second = person(
        web_form, "b", "2026-10-05T09:00:00Z", traits={"email": "x@y.org", "city": "Lyon"}
    )
    before = state()

    merge = profile_merge(survivor_id=first, absorbed_id=second)

    assert Profile.objects.get(pk=first).city == "Paris"
    assert FieldProvenance.objects.get(profile_id=first, field="city").value == "Paris"
    # The value that would have taken the field stays on the tombstone; the email moves.
    assert FieldProvenance.objects.get(profile_id=second, field="city").value == "Lyon"
    assert FieldProvenance.objects.get(profile_id=first, field="email").value == "x@y.org"
    profile_merge_undo(merge_id=merge.pk)
    assert state()["provenance"] == before["provenance"]
    assert Profile.objects.get(pk=first).city == "Paris"


def test_a_newer_value_of_the_same_source_fills_what_the_kept_one_lacks(
    web_form: Any,
) -> None:
    first = person(web_form, "a", "2026-10-01T09:00:00Z", user_id="u1", traits={"city": ""})
    second = person(
        web_form, "b", "2026-10-05T09:00:00Z", traits={"email": "x@y.org", "city": "Lyon"}
    )

    profile_merge(survivor_id=first, absorbed_id=second)

    assert Profile.objects.get(pk=first).city == "Lyon"


def test_quality_issues_follow_the_merge_and_go_back_on_undo(web_form: Any) -> None:
    first = person(web_form, "a", "2026-10-01T09:00:00Z", user_id="u1", traits={"country": "ZZ"})
    second = person(
        web_form,
        "b",
        "2026-10-05T09:00:00Z",
        traits={"email": "grace@gmial.com", "country": "Atlantis"},
    )
    issues = dict(DataQualityIssue.objects.values_list("pk", "profile_id"))
    codes = {
        profile_id: sorted(
            DataQualityIssue.objects.filter(profile_id=profile_id).values_list("field", "code")
        )
        for profile_id in (first, second)
    }
    assert codes == {
        first: [("country", "invalid_country")],
        second: [("country", "invalid_country"), ("email", "email_domain_typo")],
    }

    merge = profile_merge(survivor_id=first, absorbed_id=second)

    # The survivor already has a country issue of that source: the absorbed one stays behind.
    assert sorted(
        DataQualityIssue.objects.filter(profile_id=first).values_list("field", "code")
    ) == [("country", "invalid_country"), ("email", "email_domain_typo")]
    assert DataQualityIssue.objects.filter(profile_id=second).count() == 1
    profile_merge_undo(merge_id=merge.pk)
    assert dict(DataQualityIssue.objects.values_list("pk", "profile_id")) == issues


def test_events_that_arrive_after_the_merge_stay_on_the_survivor_after_undo(
    pair: tuple[int, int], web_form: Any
) -> None:
    survivor_id, absorbed_id = pair
    merge = profile_merge(survivor_id=survivor_id, absorbed_id=absorbed_id)
    late = person(web_form, "w2", "2026-10-09T09:00:00Z", anonymous_id="anon-1", traits={})
    assert late == survivor_id

    profile_merge_undo(merge_id=merge.pk)

    assert Event.objects.get(message_id="w2").profile_id == survivor_id
    assert set(
        Event.objects.filter(profile_id=absorbed_id).values_list("message_id", flat=True)
    ) == {
        "w0",
        "w1",
    }
    # Its identifiers are back on their owner: the next message lands there again.
    assert person(web_form, "w3", "2026-10-10T09:00:00Z", anonymous_id="anon-1") == absorbed_id


def test_a_tombstone_forwards_ingestion_to_its_survivor(
    pair: tuple[int, int], web_form: Any
) -> None:
    survivor_id, absorbed_id = pair
    profile_merge(survivor_id=survivor_id, absorbed_id=absorbed_id)
    # An identifier left pointing at the tombstone (written by an older version, say).
    Identity.objects.create(profile_id=absorbed_id, kind="email", value="old@lovelace.org")

    landed = person(web_form, "w9", "2026-10-11T09:00:00Z", traits={"email": "old@lovelace.org"})

    assert landed == survivor_id


def test_a_participant_moves_and_restores_its_rows(pair: tuple[int, int]) -> None:
    survivor_id, absorbed_id = pair
    calls: list[tuple[str, int, int, Mapping[str, Any] | None]] = []

    def move(*, survivor_id: int, absorbed_id: int) -> Mapping[str, Any]:
        calls.append(("move", survivor_id, absorbed_id, None))
        return {"ids": [41, 42]}

    def restore(*, survivor_id: int, absorbed_id: int, snapshot: Mapping[str, Any]) -> None:
        calls.append(("restore", survivor_id, absorbed_id, snapshot))

    merge_participant_register(MergeParticipant(app="zz_test", move=move, restore=restore))
    try:
        merge = profile_merge(survivor_id=survivor_id, absorbed_id=absorbed_id)
        profile_merge_undo(merge_id=merge.pk)
    finally:
        _PARTICIPANTS.pop("zz_test")

    assert merge.snapshot["participants"]["zz_test"] == {"ids": [41, 42]}
    assert calls == [
        ("move", survivor_id, absorbed_id, None),
        ("restore", survivor_id, absorbed_id, {"ids": [41, 42]}),
    ]


# Bad input: a clear error, and nothing changed.


def test_a_profile_cannot_merge_into_itself(pair: tuple[int, int]) -> None:
    before = state()
    with pytest.raises(SelfMerge) as caught:
        profile_merge(survivor_id=pair[0], absorbed_id=pair[0])
    assert (caught.value.status, caught.value.code) == (400, "self_merge")
    assert state() == before


@pytest.mark.parametrize("role", ["survivor", "absorbed"])
def test_a_tombstone_takes_part_in_no_merge(
    pair: tuple[int, int], make_source: Any, role: str
) -> None:
    survivor_id, absorbed_id = pair
    source, _ = make_source("Shop")
    third = person(source, "s1", "2026-10-04T09:00:00Z", traits={"email": "grace@hopper.org"})
    profile_merge(survivor_id=survivor_id, absorbed_id=absorbed_id)
    before = state()

    survivor, absorbed = (absorbed_id, third) if role == "survivor" else (third, absorbed_id)

    with pytest.raises(MergeIntoTombstone) as caught:
        profile_merge(survivor_id=survivor, absorbed_id=absorbed)

    assert (caught.value.status, caught.value.code) == (409, "merged_profile")
    assert f"merged into #{survivor_id}" in str(caught.value)
    assert state() == before


def test_two_user_ids_never_fuse(pair: tuple[int, int], make_source: Any) -> None:
    source, _ = make_source("Shop")
    other = person(source, "s1", "2026-10-04T09:00:00Z", user_id="shop-1")
    before = state()
    with pytest.raises(MergeIdentityLimit) as caught:
        profile_merge(survivor_id=pair[0], absorbed_id=other)
    assert (caught.value.status, caught.value.code) == (409, "identity_limit")
    assert state() == before


def test_a_missing_profile_is_a_404(pair: tuple[int, int]) -> None:
    before = state()
    with pytest.raises(ProfileNotFound) as caught:
        profile_merge(survivor_id=pair[0], absorbed_id=999_999)
    assert caught.value.status == 404
    assert state() == before


def test_undoing_twice_is_refused(pair: tuple[int, int]) -> None:
    merge = profile_merge(survivor_id=pair[0], absorbed_id=pair[1])
    profile_merge_undo(merge_id=merge.pk)
    before = state()
    with pytest.raises(MergeAlreadyUndone) as caught:
        profile_merge_undo(merge_id=merge.pk)
    assert (caught.value.status, caught.value.code) == (409, "already_undone")
    assert state() == before


def test_undo_is_refused_when_the_survivor_was_merged_since(
    pair: tuple[int, int], make_source: Any
) -> None:
    survivor_id, absorbed_id = pair
    source, _ = make_source("Shop")
    third = person(source, "s1", "2026-10-04T09:00:00Z", traits={"email": "grace@hopper.org"})
    first = profile_merge(survivor_id=survivor_id, absorbed_id=absorbed_id)
    profile_merge(survivor_id=third, absorbed_id=survivor_id)
    before = state()

    with pytest.raises(SurvivorMergedSince) as caught:
        profile_merge_undo(merge_id=first.pk)

    assert (caught.value.status, caught.value.code) == (409, "survivor_merged_since")
    assert f"merged into #{third}" in str(caught.value)
    assert state() == before


def test_undoing_an_unknown_merge_is_a_404(db: None) -> None:
    with pytest.raises(MergeNotFound) as caught:
        profile_merge_undo(merge_id=12345)
    assert caught.value.status == 404
