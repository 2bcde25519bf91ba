"""Who may be contacted for a purpose: one composable query over the ledger."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from consent.models import ConsentRecord, Purpose
from consent.selectors import contactable_profile_ids
from profiles.models import Profile
from tests.consent.helpers import decide

pytestmark = pytest.mark.django_db


def test_only_active_profiles_with_a_grant_in_force_are_contactable(
    make_profile: Any, newsletter: Purpose, confirmed_news: Purpose, offers: Purpose
) -> None:
    granted = make_profile("granted@example.org")
    decide(granted, newsletter)
    withdrawn = make_profile("withdrawn@example.org")
    decide(withdrawn, newsletter)
    decide(withdrawn, newsletter, "withdrawn")
    expired = make_profile("expired@example.org")
    record, _ = decide(expired, newsletter, expires_at=timezone.now() + timedelta(days=1))
    ConsentRecord.objects.filter(pk=record.pk).update(
        recorded_at=timezone.now() - timedelta(days=30),
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    restricted = make_profile("restricted@example.org")
    decide(restricted, newsletter)
    Profile.objects.filter(pk=restricted.pk).update(status=Profile.Status.RESTRICTED)
    other_purpose = make_profile("offers@example.org")
    decide(other_purpose, offers)
    make_profile("never@example.org")

    ids = set(contactable_profile_ids(purpose=newsletter))

    assert ids == {granted.pk}


def test_a_pending_double_opt_in_is_not_contactable(
    ada: Profile, confirmed_news: Purpose, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        record, _ = decide(ada, confirmed_news, email="ada@example.org")

    assert record.status == "pending_confirmation"
    assert list(contactable_profile_ids(purpose=confirmed_news)) == []


def test_merged_and_erased_profiles_are_not_contactable(
    make_profile: Any, newsletter: Purpose
) -> None:
    survivor = make_profile("survivor@example.org")
    absorbed = make_profile("absorbed@example.org")
    erased = make_profile("erased@example.org")
    for profile in (survivor, absorbed, erased):
        decide(profile, newsletter)
    Profile.objects.filter(pk=absorbed.pk).update(
        status=Profile.Status.MERGED, merged_into=survivor
    )
    Profile.objects.filter(pk=erased.pk).update(status=Profile.Status.ERASED)

    assert list(contactable_profile_ids(purpose=newsletter)) == [survivor.pk]


def test_the_ids_compose_inside_another_query_as_one_statement(
    make_profile: Any, newsletter: Purpose, django_assert_num_queries: Any
) -> None:
    for email in ("a@example.org", "b@example.org", "c@example.org"):
        decide(make_profile(email, country="FR" if email != "b@example.org" else "GB"), newsletter)
    decide(Profile.objects.get(email="c@example.org"), newsletter, "withdrawn")

    with django_assert_num_queries(1):
        emails = list(
            Profile.objects.filter(
                pk__in=contactable_profile_ids(purpose=newsletter), country="FR"
            ).values_list("email", flat=True)
        )

    assert emails == ["a@example.org"]


def test_at_a_past_moment_the_ledger_is_read_as_it_stood(ada: Profile, newsletter: Purpose) -> None:
    decide(ada, newsletter)
    between = timezone.now()
    withdrawn, _ = decide(ada, newsletter, "withdrawn")
    ConsentRecord.objects.filter(pk=withdrawn.pk).update(recorded_at=between + timedelta(seconds=1))

    assert list(contactable_profile_ids(purpose=newsletter, at=between)) == [ada.pk]
    assert list(contactable_profile_ids(purpose=newsletter)) == []
