"""What a merge keeps, field by field: the survivorship rules, the steward's choice, the preview."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profiles.fields import PROFILE_FIELDS
from profiles.models import FieldProvenance, Identity, Profile, ProfileMerge, SurvivorshipRule
from profiles.person_data import profiles_rectify
from profiles.services import Message, ingest_messages, profile_merge, profile_merge_undo
from profiles.services.ingest.pipeline import profile_field_winners
from profiles.services.merge import merge_preview
from profiles.services.merge_plan import MERGED_FIELDS, merge_rows
from profiles.services.quality.maintenance import maintenance_run_batch
from profiles.services.quality.rules import quality_rule_save
from profiles.services.quality.survivorship import RECENCY_THEN_TRUST

pytestmark = pytest.mark.django_db


def person(source: Any, message_id: str, timestamp: str, **traits: Any) -> int:
    result = ingest_messages(
        source=source,
        messages=[
            Message(type="identify", message_id=message_id, timestamp=timestamp, traits=traits)
        ],
    )
    assert result.results[0].status == "ok", result.results[0].errors
    return result.results[0].profile_id


@pytest.fixture
def amelie(make_source: Any) -> tuple[int, int]:
    """Amélie from a CRM export, then a newer web sign-up: two sources at the default rank."""
    crm, _ = make_source("CRM export", kind="crm")
    web, _ = make_source("Website sign-up", kind="web_form", default_phone_region="FR")
    kept = person(
        crm,
        "c1",
        "2026-10-01T09:00:00Z",
        email="amelie.durand@durand-conseil.fr",
        firstName="Amélie",
        lastName="Durand",
        city="Lyon",
    )
    other = person(
        web,
        "w1",
        "2026-11-20T09:00:00Z",
        email="a.durand@gmail.com",
        firstName="Amelie",
        lastName="Durand",
        phone="06 12 34 56 78",
    )
    return kept, other


def values(pk: int) -> tuple[Any, ...]:
    profile = Profile.objects.get(pk=pk)
    return (profile.first_name, profile.email, profile.phone, profile.city)


def test_the_kept_profiles_values_stay_against_newer_ones_of_an_equally_trusted_source(
    amelie: tuple[int, int],
) -> None:
    kept, other = amelie

    profile_merge(survivor_id=kept, absorbed_id=other)

    # First name and email stay; the phone the kept profile lacked is filled in.
    assert values(kept) == (
        "Amélie",
        "amelie.durand@durand-conseil.fr",
        "+33612345678",
        "Lyon",
    )
    # The other email is still an identifier of the person.
    assert Identity.objects.filter(profile_id=kept, kind="email").count() == 2


def test_survivorship_recomputed_later_reaches_the_merges_values(amelie: tuple[int, int]) -> None:
    kept, other = amelie
    profile_merge(survivor_id=kept, absorbed_id=other)
    merged = values(kept)

    run = quality_rule_save(rule=SurvivorshipRule(field="company", strategy=RECENCY_THEN_TRUST))
    maintenance_run_batch(run_id=run.pk)

    assert values(kept) == merged


def test_undo_gives_each_profile_its_values_and_provenance_back(amelie: tuple[int, int]) -> None:
    kept, other = amelie
    before = (values(kept), values(other), list(FieldProvenance.objects.order_by("pk").values()))

    merge = profile_merge(survivor_id=kept, absorbed_id=other)
    profile_merge_undo(merge_id=merge.pk)

    after = (values(kept), values(other), list(FieldProvenance.objects.order_by("pk").values()))
    assert after == before


def test_a_more_trusted_source_of_the_other_profile_wins(web_form: Any, crm: Any) -> None:
    kept = person(web_form, "w1", "2026-11-01T09:00:00Z", email="ada@x.fr", firstName="Ada")
    other = person(crm, "c1", "2026-10-01T09:00:00Z", email="ada@y.fr", firstName="Augusta")

    profile_merge(survivor_id=kept, absorbed_id=other)

    assert Profile.objects.get(pk=kept).first_name == "Augusta"
    assert Profile.objects.get(pk=kept).email == "ada@y.fr"


def test_a_field_whose_rule_puts_recency_first_takes_the_newer_value(
    amelie: tuple[int, int],
) -> None:
    kept, other = amelie
    quality_rule_save(rule=SurvivorshipRule(field="email", strategy=RECENCY_THEN_TRUST))

    profile_merge(survivor_id=kept, absorbed_id=other)

    assert values(kept)[:2] == ("Amélie", "a.durand@gmail.com")


def test_a_stewards_correction_of_the_kept_profile_stays(web_form: Any, crm: Any) -> None:
    kept = person(web_form, "w1", "2026-10-01T09:00:00Z", email="ada@x.fr", firstName="Adda")
    other = person(crm, "c1", "2026-10-01T09:00:00Z", email="ada@y.fr", firstName="Augusta")
    profiles_rectify([kept], {"first_name": "Ada"}, actor=None)

    profile_merge(survivor_id=kept, absorbed_id=other)

    assert Profile.objects.get(pk=kept).first_name == "Ada"


def test_the_preview_lists_each_field_both_values_and_the_one_kept(
    amelie: tuple[int, int],
) -> None:
    kept, other = amelie

    plan = merge_preview(survivor_id=kept, absorbed_id=other)

    rows = {row.field: (row.kept, row.other, row.result, row.winner) for row in plan.fields}
    assert rows["first_name"] == ("Amélie", "Amelie", "Amélie", "kept")
    assert rows["email"] == (
        "amelie.durand@durand-conseil.fr",
        "a.durand@gmail.com",
        "amelie.durand@durand-conseil.fr",
        "kept",
    )
    assert rows["phone"] == ("", "+33612345678", "+33612345678", "other")
    assert rows["last_name"] == ("Durand", "Durand", "Durand", "same")
    assert rows["city"] == ("Lyon", "", "Lyon", "kept")
    reasons = {row.field: row.why for row in plan.fields}
    assert reasons["email"] == "sources equally trusted: the kept profile's value stays"
    assert ProfileMerge.objects.count() == 0
    assert Profile.objects.get(pk=other).status == "active"


# --- any values: the preview is what the merge does ------------------------------------------

_MOMENT = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)
_SAID = {
    **{name: st.sampled_from(["", "a", "b"]) for name in PROFILE_FIELDS},
    "email": st.sampled_from(["", "a@x.fr", "b@x.fr"]),
    "country": st.sampled_from(["", "FR", "BE"]),
    "job_title": st.sampled_from(["", "CEO", "Comptable"]),
    "date_of_birth": st.sampled_from([date(1980, 1, 1), date(1990, 2, 2)]).map(date.isoformat),
}
_PROVENANCE = st.lists(
    st.tuples(
        st.sampled_from(["first_name", "email", "city", "job_title", "date_of_birth"]).flatmap(
            lambda field: st.tuples(st.just(field), _SAID[field])
        ),
        _MOMENT,
        st.integers(0, 2),
    ),
    max_size=8,
    unique_by=lambda said: (said[0][0], said[2]),
)
_OWN = st.fixed_dictionaries(
    {
        "first_name": st.sampled_from(["", "a", "c"]),
        "email": st.sampled_from(["", "a@x.fr", "c@x.fr"]),
        "city": st.sampled_from(["", "a", "c"]),
    }
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40)
@given(
    own=st.tuples(_OWN, _OWN),
    said=st.tuples(_PROVENANCE, _PROVENANCE),
    ranks=st.tuples(st.integers(0, 100), st.integers(0, 100), st.integers(0, 100)),
)
def test_the_merge_keeps_exactly_what_its_preview_showed(
    make_source: Any,
    own: tuple[dict[str, str], dict[str, str]],
    said: tuple[list[Any], list[Any]],
    ranks: tuple[int, int, int],
) -> None:
    with transaction.atomic():
        sources = [make_source(f"s{n}", trust_rank=rank)[0] for n, rank in enumerate(ranks)]
        ids = []
        for values_, rows in zip(own, said, strict=True):
            profile = Profile.objects.create(**values_)
            ids.append(profile.pk)
            FieldProvenance.objects.bulk_create(
                FieldProvenance(
                    profile=profile, field=field, source=sources[n], value=value, observed_at=at
                )
                for (field, value), at, n in rows
            )

        plan = merge_preview(survivor_id=ids[0], absorbed_id=ids[1])
        profile_merge(survivor_id=ids[0], absorbed_id=ids[1])

        survivor = Profile.objects.get(pk=ids[0])
        assert {name: getattr(survivor, name) for name in MERGED_FIELDS} == plan.state
        shown = {row.field: row.result for row in plan.fields}
        assert shown["first_name"] == survivor.first_name
        assert shown["email"] == survivor.email
        # Survivorship recomputed from the survivor's provenance finds the same values.
        rows = merge_rows([ids[0]])[ids[0]]
        for name, winner in profile_field_winners(rows).get(ids[0], {}).items():
            assert str(getattr(survivor, name)) == winner, name
        transaction.set_rollback(True)
