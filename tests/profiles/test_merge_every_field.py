"""Merges of profiles with a job title, through every path; merging any values never fails."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.models import ConsentRecord
from profiles.fields import PROFILE_FIELDS
from profiles.models import (
    DataQualityIssue,
    DuplicateCandidate,
    Event,
    FieldProvenance,
    Identity,
    IdentityConflict,
    Profile,
    ProfileMerge,
)
from profiles.services import Message, ingest_messages, profile_merge, profile_merge_undo
from profiles.services.conflicts import identity_conflict_merge
from profiles.services.duplicates import (
    duplicate_decide,
    duplicate_settings_update,
    duplicates_scan,
)

pytestmark = pytest.mark.django_db

ADA = {
    "firstName": "Ada",
    "lastName": "Lovelace",
    "title": "Directrice marketing",
    "postcode": "75008",
    "city": "Paris",
    "birthday": "1985-12-10",
}


def person(source: Any, message_id: str, external_id: str = "", **traits: Any) -> int:
    result = ingest_messages(
        source=source,
        messages=[
            Message(type="identify", message_id=message_id, external_id=external_id, traits=traits)
        ],
    )
    assert result.results[0].status == "ok", result.results[0].errors
    return result.results[0].profile_id


@pytest.fixture
def titled(crm: Any) -> tuple[int, int]:
    """Ada twice in the CRM, under two contact ids, each with a job title."""
    return (
        person(crm, "a", "c-1", **ADA),
        person(crm, "b", "c-2", **{**ADA, "firstName": "Adah", "title": "Head of marketing"}),
    )


@pytest.fixture
def admin_client(client: Any) -> Any:
    user = get_user_model().objects.create_superuser("root", "root@lovelace.org", "pw-12345678")
    client.force_login(user)
    return client


def merged(survivor: int, absorbed: int) -> Profile:
    """The survivor, after checking the absorbed is its tombstone."""
    assert Profile.objects.get(pk=absorbed).merged_into_id == survivor
    return Profile.objects.get(pk=survivor)


def test_the_service_merges_profiles_with_job_titles(titled: tuple[int, int]) -> None:
    ada, twin = titled

    merge = profile_merge(survivor_id=ada, absorbed_id=twin)

    survivor = merged(ada, twin)
    # Same source, equally trusted: the kept profile's title stays, and its function with it.
    assert (survivor.job_title, survivor.job_function) == ("Directrice marketing", "marketing")
    profile_merge_undo(merge_id=merge.pk)
    assert Profile.objects.get(pk=twin).job_title == "Head of marketing"


def test_the_api_merges_profiles_with_job_titles(api_client: Any, titled: tuple[int, int]) -> None:
    ada, twin = titled

    response = api_client.post(f"/api/profiles/{twin}/merge/", {"absorbed_id": ada}, format="json")

    assert response.status_code == 201, response.json()
    assert merged(twin, ada).job_function == "marketing"


def test_the_admin_action_merges_profiles_with_job_titles(
    admin_client: Any, titled: tuple[int, int]
) -> None:
    ada, twin = titled

    response = admin_client.post(
        "/admin/profiles/profile/",
        {
            "action": "merge_selected",
            "_selected_action": [ada, twin],
            "confirm": "yes",
            "survivor": ada,
            "reason": "same",
        },
    )

    assert response.status_code == 302
    assert merged(ada, twin).job_title == "Directrice marketing"


def test_the_duplicate_queue_merges_profiles_with_job_titles(titled: tuple[int, int]) -> None:
    ada, twin = titled
    duplicates_scan()

    duplicate_decide(
        candidate_id=DuplicateCandidate.objects.get().pk, decision="merge", survivor_id=ada
    )

    assert merged(ada, twin).job_function == "marketing"


def test_an_identity_conflict_merges_profiles_with_job_titles(web_form: Any) -> None:
    ada = person(web_form, "a", email="ada@lovelace.org", phone="+33140205050", title="CEO")
    other = person(
        web_form, "b", email="ada.l@lovelace.org", phone="+33140205050", title="Comptable"
    )

    identity_conflict_merge(conflict_id=IdentityConflict.objects.get().pk)

    assert merged(ada, other).job_title == "CEO"


def test_auto_merge_merges_profiles_with_job_titles(titled: tuple[int, int]) -> None:
    ada, twin = titled
    duplicate_settings_update(auto_merge_enabled=True, auto_merge_threshold=0.9)

    counts = duplicates_scan()

    assert counts.auto_merged == 1
    assert merged(ada, twin).job_title == "Directrice marketing"
    assert ProfileMerge.objects.get().rule == "duplicates:auto"


# --- any values -----------------------------------------------------------------------------

_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=12,
)
_MOMENT = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)


def _sized(length: int) -> st.SearchStrategy[str]:
    return _TEXT.map(lambda value: value[:length])


_VALUES: dict[str, st.SearchStrategy[Any]] = {
    **{name: _sized(20) for name in PROFILE_FIELDS},
    "email": st.one_of(st.just(""), _sized(10).map(lambda local: f"{local}@x.fr")),
    "phone": st.one_of(st.just(""), st.from_regex(r"\+[0-9]{6,15}", fullmatch=True)),
    "country": st.sampled_from(["", "FR", "BE", "GB"]),
    "date_of_birth": st.one_of(st.none(), st.dates(date(1900, 1, 1), date(2020, 1, 1))),
    "job_function": st.sampled_from(["", "marketing", "sales", "finance", "other"]),
    "traits": st.dictionaries(st.sampled_from(["a", "b", "tier"]), _sized(5), max_size=3),
    "lifecycle_stage": st.sampled_from(Profile.Lifecycle.values),
    "first_seen_at": st.one_of(st.none(), _MOMENT),
    "last_seen_at": st.one_of(st.none(), _MOMENT),
}
_PROFILE = st.fixed_dictionaries(_VALUES)
# What sources said of each field (survivorship reads it), as ingestion stores it: values
# a field accepts, a date of birth as ISO text.
_SAID = {
    **_VALUES,
    "date_of_birth": st.dates(date(1900, 1, 1), date(2020, 1, 1)).map(date.isoformat),
}
_PROVENANCE = st.lists(
    st.sampled_from(PROFILE_FIELDS).flatmap(
        lambda field: st.tuples(st.just(field), _SAID[field], _MOMENT)
    ),
    max_size=6,
    unique_by=lambda said: said[0],
)


def everything() -> dict[str, Any]:
    """Every row a merge may touch, but the audit trail and the log a merge adds to."""
    return {
        "profiles": list(Profile.objects.order_by("pk").values()),
        "identities": list(Identity.objects.order_by("pk").values()),
        "events": list(Event.objects.order_by("pk").values()),
        "provenance": list(FieldProvenance.objects.order_by("pk").values()),
        "consent": list(ConsentRecord.objects.order_by("pk").values()),
        "issues": list(DataQualityIssue.objects.order_by("pk").values()),
    }


def _strip(rows: dict[str, Any]) -> dict[str, Any]:
    for row in rows["profiles"]:
        row.pop("updated_at", None)
    return rows


# The sources are only read; each example rolls back the rows it wrote.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40)
@given(
    first=_PROFILE,
    second=_PROFILE,
    said_first=_PROVENANCE,
    said_second=_PROVENANCE,
)
def test_merging_any_two_profiles_never_raises_and_undo_restores_every_table(
    crm: Any,
    web_form: Any,
    first: dict[str, Any],
    second: dict[str, Any],
    said_first: list[tuple[str, str, datetime]],
    said_second: list[tuple[str, str, datetime]],
) -> None:
    with transaction.atomic():
        ids = []
        for number, (values, said) in enumerate([(first, said_first), (second, said_second)]):
            profile = Profile.objects.create(**values)
            ids.append(profile.pk)
            Identity.objects.create(
                profile=profile, kind="external_id", namespace=str(crm.pk), value=f"c-{number}"
            )
            Event.objects.create(
                profile=profile,
                source=crm,
                type="identify",
                message_id=f"m-{number}",
                occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
                received_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
            FieldProvenance.objects.bulk_create(
                FieldProvenance(
                    profile=profile,
                    field=field,
                    source=web_form if number else crm,
                    value=value,
                    observed_at=moment,
                )
                for field, value, moment in said
            )
        before = _strip(everything())

        merge = profile_merge(survivor_id=ids[0], absorbed_id=ids[1])
        assert Profile.objects.get(pk=ids[1]).merged_into_id == ids[0]
        profile_merge_undo(merge_id=merge.pk)

        assert _strip(everything()) == before
        transaction.set_rollback(True)
