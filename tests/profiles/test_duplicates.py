"""Probable duplicates: blocking, scores, thresholds, decisions, incremental scans, auto-merge."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from profiles.errors import ProfilesError
from profiles.models import DuplicateCandidate, DuplicateScan, MatchKey, Profile, ProfileMerge
from profiles.services import Message, ingest_messages
from profiles.services.duplicates import (
    CandidateDecided,
    duplicate_decide,
    duplicate_settings_update,
    duplicates_full_scan_batch,
    duplicates_full_scan_start,
    duplicates_scan,
)
from profiles.services.duplicates.matching import keys_for, pair_score, record_from
from profiles.services.duplicates.store import STRONG_BLOCK

pytestmark = pytest.mark.django_db

ADA = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "address_line": "12 St James's Square",
    "postcode": "SW1Y 4JH",
    "city": "London",
    "date_of_birth": "1915-12-10",
}


_SENT = iter(range(1_000_000))


def person(source: Any, external_id: str, **traits: Any) -> int:
    """Ingest one person (an import-like row) and return the profile it landed on."""
    result = ingest_messages(
        source=source,
        messages=[
            Message(
                type="identify",
                message_id=f"m-{next(_SENT)}",
                external_id=external_id,
                traits=traits,
            )
        ],
    )
    assert result.results[0].status == "ok", result.results[0].errors
    return result.results[0].profile_id


def record(pk: int = 1, **fields: Any) -> Any:
    return record_from({"id": pk, **fields})


def pairs() -> set[tuple[int, int]]:
    return set(DuplicateCandidate.objects.values_list("profile_low_id", "profile_high_id"))


# --- pure matching -------------------------------------------------------------------


def test_blocking_puts_a_typo_and_swapped_names_in_a_shared_block() -> None:
    original = keys_for(record(1, **ADA))
    typo = keys_for(record(2, **{**ADA, "last_name": "Lovelacee", "postcode": ""}))
    swapped = keys_for(record(3, **{**ADA, "first_name": "Lovelace", "last_name": "Ada"}))

    assert original & typo
    assert ("name", "A300|L142") in original & swapped


def test_a_profile_without_matching_fields_has_no_keys() -> None:
    assert keys_for(record(1, email="", first_name="", company="Acme")) == set()


def test_the_same_person_with_a_typo_scores_high_and_a_namesake_low() -> None:
    same, features = pair_score(
        record(1, **ADA), record(2, **{**ADA, "last_name": "Lovelac", "city": ""})
    )
    namesake, _ = pair_score(
        record(1, **ADA),
        record(
            2,
            first_name="Ada",
            last_name="Lovelace",
            postcode="75001",
            city="Paris",
            date_of_birth="1990-01-01",
            address_line="1 rue de Rivoli",
        ),
    )

    assert same > 0.99
    assert features["city"] == -1.0
    assert features["date_of_birth"] == 1.0
    assert namesake < 0.01


def test_a_shared_email_is_strong_evidence_and_a_name_alone_is_not() -> None:
    by_email, _ = pair_score(
        record(1, first_name="Ada", email="ada@example.org"),
        record(2, first_name="Ada", email="ada@example.org"),
    )
    by_name, _ = pair_score(
        record(1, first_name="Ada", last_name="Lovelace"),
        record(2, first_name="Ada", last_name="Lovelace"),
    )

    assert by_email > 0.5
    assert by_name < 0.5


def test_day_and_month_swapped_counts_as_a_near_match() -> None:
    _, features = pair_score(
        record(1, date_of_birth=date(1915, 12, 10)), record(2, date_of_birth=date(1915, 10, 12))
    )

    assert features["date_of_birth"] == 0.8


@given(
    st.fixed_dictionaries(
        {name: st.text(max_size=12) for name in ("first_name", "last_name", "city", "postcode")}
    ),
    st.fixed_dictionaries(
        {name: st.text(max_size=12) for name in ("first_name", "last_name", "city", "postcode")}
    ),
)
def test_scores_are_symmetric_and_between_0_and_1(a: dict[str, str], b: dict[str, str]) -> None:
    ab, _ = pair_score(record(1, **a), record(2, **b))
    ba, _ = pair_score(record(2, **b), record(1, **a))

    assert 0 <= ab <= 1
    assert ab == pytest.approx(ba)


# --- scans -----------------------------------------------------------------------------


def test_the_incremental_scan_finds_the_pair_after_ingestion(crm: Any) -> None:
    ada = person(crm, "c-1", **ADA)
    twin = person(crm, "c-2", **{**ADA, "last_name": "Lovelac"})
    person(crm, "c-3", first_name="Grace", last_name="Hopper", postcode="10001")

    counts = duplicates_scan()

    assert pairs() == {(ada, twin)}
    candidate = DuplicateCandidate.objects.get()
    assert candidate.status == "open"
    assert candidate.score > 0.99
    assert candidate.features["last_name"] > 0.9
    assert (counts.profiles_scanned, counts.candidates_found) == (3, 1)
    assert DuplicateScan.objects.get(kind="cursor").holes == []


def test_a_second_scan_reads_only_what_changed_since(crm: Any) -> None:
    person(crm, "c-1", **ADA)
    duplicates_scan()
    twin = person(crm, "c-2", **{**ADA, "first_name": "Adah"})

    counts = duplicates_scan()

    assert counts.profiles_scanned == 1
    assert {high for _, high in pairs()} == {twin}
    assert duplicates_scan().profiles_scanned == 0


def test_a_change_to_other_fields_only_does_not_rescan(crm: Any) -> None:
    ada = person(crm, "c-1", **ADA)
    duplicates_scan()
    ingest_messages(
        source=crm,
        messages=[
            Message(
                type="identify",
                message_id="language-1",
                external_id="c-1",
                traits={"language": "en"},
            )
        ],
    )

    assert duplicates_scan().profiles_scanned == 0
    assert MatchKey.objects.filter(profile_id=ada).count() == len(
        keys_for(record_from(Profile.objects.filter(pk=ada).values().get()))
    )


def test_a_pair_below_the_review_threshold_is_not_queued(crm: Any) -> None:
    person(crm, "c-1", **ADA)
    person(
        crm,
        "c-2",
        first_name="Ada",
        last_name="Lovelace",
        postcode="SW1Y 4JH",
        date_of_birth="1990-01-01",
        city="Leeds",
        address_line="3 Mill Lane",
    )

    counts = duplicates_scan()

    assert counts.pairs_compared == 1
    assert pairs() == set()


def test_raising_the_review_threshold_drops_open_pairs_on_rescan(crm: Any) -> None:
    ada = person(crm, "c-1", **ADA)
    twin = person(crm, "c-2", **{**ADA, "postcode": "", "date_of_birth": "", "city": ""})
    duplicates_scan()
    score = DuplicateCandidate.objects.get().score
    duplicate_settings_update(review_threshold=min(1.0, score + 0.001), auto_merge_threshold=1.0)

    duplicates_scan(profile_ids=[ada, twin])

    assert 0.5 <= score < 0.999
    assert pairs() == set()


def test_not_the_same_person_is_remembered_and_never_comes_back(crm: Any, staff_user: Any) -> None:
    ada = person(crm, "c-1", **ADA)
    twin = person(crm, "c-2", **{**ADA, "first_name": "Adah"})
    duplicates_scan()
    candidate = DuplicateCandidate.objects.get()

    duplicate_decide(candidate_id=candidate.pk, decision="not_same_person", actor=staff_user)
    person(crm, "c-2", **{**ADA, "first_name": "Ada"})  # now even closer
    duplicates_scan()
    duplicates_full_scan_batch(scan_id=duplicates_full_scan_start().pk)

    candidate.refresh_from_db()
    assert (candidate.status, candidate.decided_by) == ("not_same_person", staff_user)
    assert pairs() == {(ada, twin)}
    assert DuplicateCandidate.objects.filter(status="open").count() == 0


def test_not_the_same_person_holds_for_a_profile_merged_into_either_side(crm: Any) -> None:
    ada = person(crm, "c-1", **ADA)
    twin = person(crm, "c-2", **{**ADA, "first_name": "Adah"})
    third = person(crm, "c-3", **{**ADA, "last_name": "Lovelac"})
    duplicates_scan()
    candidate = DuplicateCandidate.objects.get(profile_low=ada, profile_high=twin)
    duplicate_decide(candidate_id=candidate.pk, decision="not_same_person")
    # The steward merges twin into third: the survivor is still "not Ada".
    from profiles.services import profile_merge

    profile_merge(survivor_id=third, absorbed_id=twin)
    DuplicateCandidate.objects.filter(status="open").delete()

    duplicates_scan()

    assert not DuplicateCandidate.objects.filter(status="open").exists()


def test_merged_and_erased_profiles_never_appear_as_candidates(crm: Any) -> None:
    ada = person(crm, "c-1", **ADA)
    twin = person(crm, "c-2", **{**ADA, "first_name": "Adah"})
    gone = person(crm, "c-3", **{**ADA, "last_name": "Lovelac"})
    Profile.objects.filter(pk=gone).update(status=Profile.Status.ERASED)

    duplicates_scan(profile_ids=[ada, twin, gone])

    assert pairs() == {(ada, twin)}
    assert not MatchKey.objects.filter(profile_id=gone).exists()


def test_the_full_scan_compares_every_pair_once_and_reports_progress(crm: Any) -> None:
    ada = person(crm, "c-1", **ADA)
    twin = person(crm, "c-2", **{**ADA, "first_name": "Adah"})
    other = person(crm, "c-3", **{**ADA, "last_name": "Lovelac"})

    scan = duplicates_full_scan_start()
    first = duplicates_full_scan_batch(scan_id=scan.pk, batch=2)
    second = duplicates_full_scan_batch(scan_id=scan.pk, batch=2)
    scan.refresh_from_db()

    assert pairs() == {(ada, twin), (ada, other), (twin, other)}
    assert (first.has_more, second.has_more) == (True, False)
    assert (scan.status, scan.profiles_scanned, scan.total, scan.pairs_compared) == (
        "done",
        3,
        3,
        3,
    )
    assert scan.progress_percent == 100


def test_a_block_larger_than_the_limit_is_not_compared(crm: Any) -> None:
    for n in range(4):
        person(crm, f"c-{n}", first_name="Ada", last_name="Lovelace", date_of_birth="1915-12-10")
    duplicate_settings_update(max_block_size=3)

    counts = duplicates_scan()

    assert counts.pairs_compared == 0


def test_a_block_at_the_limit_is_compared_in_full(crm: Any) -> None:
    for n in range(3):
        person(crm, f"c-{n}", first_name="Ada", last_name="Lovelace", date_of_birth="1915-12-10")
    duplicate_settings_update(max_block_size=3)

    counts = duplicates_scan()

    assert counts.pairs_compared == 3


def test_a_block_over_the_strong_size_is_not_evidence_on_its_own(crm: Any) -> None:
    # Namesakes with nothing else recorded share one key, "name". Up to STRONG_BLOCK of
    # them are all compared; one more and the block is as broad as a birthday.
    for n in range(STRONG_BLOCK):
        person(crm, f"c-{n}", first_name="John", last_name="Smith")
    small = duplicates_scan()
    person(crm, "c-last", first_name="John", last_name="Smith")

    big = duplicates_scan()

    assert small.pairs_compared == STRONG_BLOCK * (STRONG_BLOCK - 1) // 2
    assert big.pairs_compared == 0


def test_a_pair_sharing_one_broad_key_only_is_not_scored(crm: Any) -> None:
    # Same first name and postcode, nothing else in common: one "first_pc" block.
    person(crm, "c-1", first_name="Ada", last_name="Lovelace", postcode="75011")
    person(crm, "c-2", first_name="Ada", last_name="Byron", postcode="75011")
    alone = duplicates_scan()
    # Two more on the same street as well: only they share a second key.
    street = {"postcode": "75011", "address_line": "12 rue Oberkampf"}
    person(crm, "c-3", first_name="Ada", last_name="Stone", **street)
    person(crm, "c-4", first_name="Ada", last_name="Moore", **street)

    both = duplicates_scan()

    assert alone.pairs_compared == 0
    assert both.pairs_compared == 1


# --- holes: audit ids are not commit-ordered --------------------------------------------


def test_an_audit_row_committed_late_is_still_read(crm: Any) -> None:
    from profiles.models import ProfileAudit

    ada = person(crm, "c-1", **ADA)
    late = person(crm, "c-2", **{**ADA, "first_name": "Adah"})
    late_rows = list(ProfileAudit.objects.filter(profile_id=late).values())
    ProfileAudit.objects.filter(profile_id=late).delete()  # "not committed yet"
    person(crm, "c-3", first_name="Grace", last_name="Hopper")
    duplicates_scan()
    hole = DuplicateScan.objects.get(kind="cursor").holes
    ProfileAudit.objects.bulk_create([ProfileAudit(**row) for row in late_rows])  # commits

    counts = duplicates_scan()

    assert [(low, high) for low, high, _ in hole] == [(row["id"], row["id"]) for row in late_rows]
    assert counts.profiles_scanned == 1
    assert pairs() == {(ada, late)}
    assert DuplicateScan.objects.get(kind="cursor").holes == []


# --- decisions and auto-merge -------------------------------------------------------------


def test_merge_decision_merges_into_the_chosen_survivor(crm: Any, staff_user: Any) -> None:
    ada = person(crm, "c-1", **ADA)
    twin = person(crm, "c-2", **{**ADA, "first_name": "Adah"})
    duplicates_scan()
    candidate = DuplicateCandidate.objects.get()

    duplicate_decide(
        candidate_id=candidate.pk, decision="merge", actor=staff_user, survivor_id=twin
    )

    candidate.refresh_from_db()
    merge = ProfileMerge.objects.get()
    assert (merge.survivor_id, merge.absorbed_id, merge.rule) == (twin, ada, "duplicates:steward")
    assert merge.score == pytest.approx(candidate.score)
    assert (candidate.status, candidate.decided_by) == ("merged", staff_user)
    assert Profile.objects.get(pk=ada).status == "merged"


def test_a_decided_pair_cannot_be_decided_again(crm: Any) -> None:
    person(crm, "c-1", **ADA)
    person(crm, "c-2", **{**ADA, "first_name": "Adah"})
    duplicates_scan()
    candidate = DuplicateCandidate.objects.get()
    duplicate_decide(candidate_id=candidate.pk, decision="not_same_person")

    with pytest.raises(CandidateDecided) as error:
        duplicate_decide(candidate_id=candidate.pk, decision="merge")

    assert error.value.status == 409
    assert not ProfileMerge.objects.exists()


def test_bad_decisions_are_refused_with_field_messages_and_change_nothing(crm: Any) -> None:
    ada = person(crm, "c-1", **ADA)
    person(crm, "c-2", **{**ADA, "first_name": "Adah"})
    duplicates_scan()
    candidate = DuplicateCandidate.objects.get()

    with pytest.raises(ProfilesError) as unknown:
        duplicate_decide(candidate_id=candidate.pk, decision="maybe")
    with pytest.raises(ProfilesError) as outsider:
        duplicate_decide(candidate_id=candidate.pk, decision="merge", survivor_id=ada + 99)

    assert list(unknown.value.fields) == ["decision"]
    assert list(outsider.value.fields) == ["survivor_id"]
    assert DuplicateCandidate.objects.get().status == "open"
    assert not ProfileMerge.objects.exists()


def test_settings_must_keep_thresholds_ordered() -> None:
    with pytest.raises(ProfilesError) as error:
        duplicate_settings_update(review_threshold=0.9, auto_merge_threshold=0.8)

    assert list(error.value.fields) == ["auto_merge_threshold"]


def test_pairs_above_the_auto_threshold_stay_queued_while_auto_merge_is_off(crm: Any) -> None:
    person(crm, "c-1", **ADA)
    person(crm, "c-2", **{**ADA, "first_name": "Adah"})

    counts = duplicates_scan()

    assert counts.auto_merged == 0
    assert DuplicateCandidate.objects.get().score > 0.99
    assert DuplicateCandidate.objects.get().status == "open"
    assert not ProfileMerge.objects.exists()


def test_auto_merge_merges_only_above_its_threshold_when_enabled(crm: Any) -> None:
    ada = person(crm, "c-1", **ADA)
    twin = person(crm, "c-2", **{**ADA, "first_name": "Adah"})
    maybe = person(
        crm, "c-3", first_name="Ada", last_name="Lovelace", city="London", email="ada@example.org"
    )
    duplicate_settings_update(auto_merge_enabled=True, auto_merge_threshold=0.99)

    counts = duplicates_scan()

    merge = ProfileMerge.objects.get()
    assert counts.auto_merged == 1
    assert (merge.survivor_id, merge.absorbed_id, merge.rule) == (ada, twin, "duplicates:auto")
    assert DuplicateCandidate.objects.get(profile_high=twin).status == "auto_merged"
    assert Profile.objects.get(pk=twin).status == "merged"
    open_pairs = DuplicateCandidate.objects.filter(status="open")
    assert (ada, maybe) in {(c.profile_low_id, c.profile_high_id) for c in open_pairs}
    assert all(c.score < 0.99 for c in open_pairs)
