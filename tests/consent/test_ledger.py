"""The ledger: append-only decisions, state derived from it, wordings kept on proofs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from consent.errors import (
    InvalidDecision,
    InvalidWording,
    ProfileNotFound,
    ProfileUnavailable,
    PurposeWithoutWording,
)
from consent.models import ConsentRecord, Purpose, PurposeVersion
from consent.selectors import consent_current, consent_state_for_profile
from consent.services import purpose_wording_add
from profiles.models import Profile
from tests.consent.helpers import NEWSLETTER_TEXT, decide

pytestmark = pytest.mark.django_db


def test_repeating_a_decision_adds_no_record(ada: Profile, newsletter: Purpose) -> None:
    first, first_created = decide(ada, newsletter)

    again, again_created = decide(ada, newsletter)

    assert (first_created, again_created) == (True, False)
    assert again.pk == first.pk
    assert ConsentRecord.objects.filter(profile=ada).count() == 1


def test_a_changed_decision_is_appended_and_nothing_is_overwritten(
    ada: Profile, newsletter: Purpose
) -> None:
    granted, _ = decide(ada, newsletter, "granted")

    withdrawn, created = decide(ada, newsletter, "withdrawn")

    assert created is True
    assert list(
        ConsentRecord.objects.filter(profile=ada).order_by("id").values_list("status", flat=True)
    ) == ["granted", "withdrawn"]
    granted.refresh_from_db()
    assert granted.status == "granted"
    assert consent_current(profile_id=ada.pk, purpose=newsletter) == withdrawn


def test_the_current_state_is_the_latest_record_of_each_purpose(
    ada: Profile, newsletter: Purpose, offers: Purpose, make_purpose: Any
) -> None:
    make_purpose("surveys", name="Surveys")
    decide(ada, newsletter, "granted")
    decide(ada, offers, "granted")
    decide(ada, offers, "withdrawn")

    states = consent_state_for_profile(profile_id=ada.pk)

    assert [(s.purpose.code, s.status, s.in_force) for s in states] == [
        ("newsletter", "granted", True),
        ("partner-offers", "withdrawn", False),
        ("surveys", None, False),
    ]


def test_a_form_decision_keeps_the_wording_the_person_saw(
    ada: Profile, make_profile: Any, newsletter: Purpose
) -> None:
    before, _ = decide(ada, newsletter, method="form", proof={"form": "signup"})

    purpose_wording_add(purpose=newsletter, text="Our newsletter, now every week.")
    alan = make_profile("alan@example.org")
    after, _ = decide(alan, newsletter, method="form", proof={"form": "signup"})

    before.refresh_from_db()
    assert (before.wording.version, before.wording.text) == (1, NEWSLETTER_TEXT)
    assert (after.wording.version, after.wording.text) == (2, "Our newsletter, now every week.")


def test_a_grant_on_a_new_wording_is_a_new_record(ada: Profile, newsletter: Purpose) -> None:
    decide(ada, newsletter, method="form", proof={"form": "signup"})
    purpose_wording_add(purpose=newsletter, text="Our newsletter, now every week.")

    record, created = decide(ada, newsletter, method="form", proof={"form": "signup"})

    assert created is True
    assert record.wording.version == 2
    assert ConsentRecord.objects.filter(profile=ada).count() == 2


def test_the_same_wording_again_is_not_a_new_version(newsletter: Purpose) -> None:
    wording = purpose_wording_add(purpose=newsletter, text=f"  {NEWSLETTER_TEXT}\n")

    assert wording.version == 1
    assert PurposeVersion.objects.filter(purpose=newsletter).count() == 1


def test_a_purpose_without_wording_is_refused_for_forms(ada: Profile, make_purpose: Any) -> None:
    silent = make_purpose("silent", text=None)

    with pytest.raises(PurposeWithoutWording, match="'silent' has no wording") as raised:
        decide(ada, silent, method="form", proof={"form": "signup"})

    assert raised.value.status == 400
    assert list(raised.value.fields) == ["purpose"]
    assert ConsentRecord.objects.count() == 0


def test_a_purpose_without_wording_may_be_recorded_from_an_import(
    ada: Profile, make_purpose: Any
) -> None:
    silent = make_purpose("silent", text=None)

    record, _ = decide(ada, silent, method="import", proof={"file": "crm.csv", "row": 4})

    assert (record.status, record.wording) == ("granted", None)


def test_a_wording_of_another_purpose_is_refused(
    ada: Profile, newsletter: Purpose, offers: Purpose
) -> None:
    with pytest.raises(InvalidWording):
        decide(ada, newsletter, method="form", wording=offers.versions.get(), proof={"f": 1})

    assert ConsentRecord.objects.count() == 0


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"proof": {}}, "proof"),
        ({"proof": {"note": "a" * 9000}}, "proof"),
        ({"proof": {"note": "nul\x00"}}, "proof"),
        ({"status": "pending_confirmation"}, "status"),
        ({"status": "maybe"}, "status"),
        ({"method": "double_opt_in"}, "method"),
        ({"source_id": 999_999}, "source"),
        ({"status": "withdrawn", "expires_at": timezone.now() + timedelta(days=1)}, "expires_at"),
        ({"expires_at": timezone.now() - timedelta(seconds=1)}, "expires_at"),
    ],
)
def test_an_invalid_decision_is_refused_and_nothing_is_written(
    ada: Profile, newsletter: Purpose, options: dict[str, Any], field: str
) -> None:
    options.setdefault("status", "granted")
    status = options.pop("status")

    with pytest.raises(InvalidDecision) as raised:
        decide(ada, newsletter, status, **options)

    assert list(raised.value.fields) == [field]
    assert ConsentRecord.objects.count() == 0


def test_an_unknown_profile_is_a_404(newsletter: Purpose) -> None:
    with pytest.raises(ProfileNotFound) as raised:
        decide(Profile(pk=424242), newsletter)

    assert raised.value.status == 404
    assert ConsentRecord.objects.count() == 0


def test_an_erased_profile_takes_no_decision(make_profile: Any, newsletter: Purpose) -> None:
    erased = make_profile("", status=Profile.Status.ERASED)

    with pytest.raises(ProfileUnavailable):
        decide(erased, newsletter)

    assert ConsentRecord.objects.count() == 0


def test_a_decision_about_a_merged_profile_goes_to_the_survivor(
    ada: Profile, make_profile: Any, newsletter: Purpose
) -> None:
    tombstone = make_profile("", status=Profile.Status.MERGED, merged_into=ada)

    record, _ = decide(tombstone, newsletter)

    assert record.profile_id == ada.pk


def test_an_expired_grant_is_renewed_by_the_same_decision(
    ada: Profile, newsletter: Purpose
) -> None:
    old, _ = decide(ada, newsletter, expires_at=timezone.now() + timedelta(days=1))
    ConsentRecord.objects.filter(pk=old.pk).update(
        recorded_at=timezone.now() - timedelta(days=400),
        expires_at=timezone.now() - timedelta(days=1),
    )

    renewed, created = decide(ada, newsletter)

    assert created is True
    assert (renewed.status, renewed.expires_at) == ("granted", None)


def test_the_database_refuses_an_unknown_status_and_a_form_record_without_wording(
    ada: Profile, newsletter: Purpose
) -> None:
    fields = {"profile": ada, "purpose": newsletter, "recorded_at": timezone.now()}

    with pytest.raises(IntegrityError), transaction.atomic():
        ConsentRecord.objects.create(status="maybe", method="api", **fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        ConsentRecord.objects.create(status="granted", method="form", **fields)

    assert ConsentRecord.objects.count() == 0


def test_an_inactive_purpose_is_listed_only_for_people_who_decided_on_it(
    ada: Profile, make_profile: Any, make_purpose: Any
) -> None:
    retired = make_purpose("retired", name="Retired", is_active=False)
    decide(ada, retired)

    mine = consent_state_for_profile(profile_id=ada.pk)
    theirs = consent_state_for_profile(profile_id=make_profile("alan@example.org").pk)

    assert [(s.purpose.code, s.status) for s in mine] == [("retired", "granted")]
    assert theirs == []
