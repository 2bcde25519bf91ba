"""Data quality at ingestion: invalid values become issues, job functions, quality scores."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from profiles.models import DataQualityIssue, Event, Profile, QualityWeight
from profiles.services import Message, ingest_messages
from profiles.services.quality.config import DEFAULT_QUALITY_WEIGHTS, quality_config_forget
from profiles.services.quality.score import profiles_score, quality_score

pytestmark = pytest.mark.django_db


def identify(user_id: str, at: str = "2026-05-01T10:00:00Z", **traits: Any) -> Message:
    return Message(type="identify", user_id=user_id, traits=traits, timestamp=at)


def issues(profile: Profile) -> list[tuple[Any, ...]]:
    return list(
        profile.quality_issues.order_by("field", "code").values_list(
            "field", "code", "severity", "message", "suggestion", "value", "resolved_at"
        )
    )


def test_invalid_values_are_kept_out_of_the_profile_and_recorded_as_issues(web_form: Any) -> None:
    result = ingest_messages(
        source=web_form,
        messages=[
            identify(
                "u-1",
                email="ada@gmial.com",
                phone="12",
                country="Atlantis",
                birthday="31/31/1990",
                postcode="7500",
                firstName="Ada",
            )
        ],
    )

    profile = Profile.objects.get()
    assert [r.status for r in result.results] == ["ok"]
    assert (profile.email, profile.phone, profile.country, profile.postcode) == (
        "ada@gmial.com",
        "",
        "",
        "7500",
    )
    assert profile.date_of_birth is None
    assert issues(profile) == [
        (
            "country",
            "invalid_country",
            "error",
            "invalid country: expected an ISO 3166-1 code or a country name",
            "",
            "Atlantis",
            None,
        ),
        ("date_of_birth", "invalid_date", "error", "invalid date", "", "31/31/1990", None),
        (
            "email",
            "email_domain_typo",
            "warning",
            "looks like a typo; the value is kept as received",
            "ada@gmail.com",
            "ada@gmial.com",
            None,
        ),
        (
            "phone",
            "invalid_phone",
            "error",
            "invalid phone: not a valid number",
            "",
            "12",
            None,
        ),
    ]
    assert set(DataQualityIssue.objects.values_list("source_id", flat=True)) == {web_form.pk}


def test_a_postcode_is_checked_against_the_messages_country(web_form: Any) -> None:
    ingest_messages(
        source=web_form,
        messages=[
            identify("u-1", country="France", postcode="7500"),
            identify("u-2", country="United Kingdom", postcode="sw1a1aa"),
        ],
    )

    first, second = Profile.objects.order_by("pk")
    assert (first.country, first.postcode) == ("FR", "")
    assert [row[:3] for row in issues(first)] == [("postcode", "invalid_postcode", "error")]
    assert (second.country, second.postcode, issues(second)) == ("GB", "SW1A 1AA", [])


def test_a_message_whose_only_identifier_is_invalid_is_refused_and_nothing_written(
    web_form: Any,
) -> None:
    result = ingest_messages(
        source=web_form, messages=[Message(type="identify", traits={"email": "nope"})]
    )

    assert list(result.results[0].errors) == ["traits.email", "userId"]
    assert (Profile.objects.count(), DataQualityIssue.objects.count()) == (0, 0)


def test_a_source_repeating_a_mistake_refreshes_one_issue_and_reopens_it(web_form: Any) -> None:
    ingest_messages(source=web_form, messages=[identify("u-1", "2026-05-01T10:00:00Z", phone="1")])
    DataQualityIssue.objects.update(resolved_at=datetime(2026, 5, 2, tzinfo=UTC))

    ingest_messages(
        source=web_form,
        messages=[
            identify("u-1", "2026-05-03T10:00:00Z", phone="22"),
            identify("u-1", "2026-05-04T10:00:00Z", phone="333"),
        ],
    )

    issue = DataQualityIssue.objects.get()
    assert (issue.value, issue.resolved_at) == ("333", None)
    assert issue.detected_at == datetime(2026, 5, 4, 10, tzinfo=UTC)


def test_the_job_function_follows_the_job_title_through_the_mapping(web_form: Any) -> None:
    ingest_messages(
        source=web_form,
        messages=[
            identify("u-1", title="Head of Marketing"),
            identify("u-2", jobTitle="Full-stack developer"),
            identify("u-3", title="Astronaut"),
        ],
    )

    assert list(Profile.objects.order_by("pk").values_list("job_title", "job_function")) == [
        ("Head of Marketing", "marketing"),
        ("Full-stack developer", "it"),
        ("Astronaut", "other"),
    ]


def test_a_new_title_changes_the_function_and_the_audit_says_so(web_form: Any) -> None:
    ingest_messages(
        source=web_form, messages=[identify("u-1", "2026-05-01T10:00:00Z", title="CFO")]
    )
    ingest_messages(
        source=web_form, messages=[identify("u-1", "2026-05-02T10:00:00Z", title="Sales rep")]
    )

    profile = Profile.objects.get()
    assert (profile.job_title, profile.job_function) == ("Sales rep", "sales")
    assert profile.audit.order_by("-pk").values_list("fields", flat=True)[0] == [
        "job_function",
        "job_title",
    ]


# --- quality score ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("traits", "score"),
    [
        # email 20 + names 10 + 10 + validity 20 (of 100)
        ({"email": "ada@example.org", "firstName": "Ada", "lastName": "Lovelace"}, 60),
        # a typo is a warning: half the validity weight
        ({"email": "ada@gmial.com", "firstName": "Ada", "lastName": "Lovelace"}, 50),
        # an invalid phone is an error: no validity points
        ({"email": "ada@example.org", "firstName": "Ada", "lastName": "L", "phone": "1"}, 40),
        ({"firstName": "Ada"}, 30),
    ],
)
def test_the_score_is_computed_on_ingestion(
    web_form: Any, traits: dict[str, str], score: int
) -> None:
    ingest_messages(source=web_form, messages=[identify("u-1", **traits)])

    assert Profile.objects.get().quality_score == score


def test_events_that_change_no_field_leave_the_score_alone(web_form: Any) -> None:
    ingest_messages(source=web_form, messages=[identify("u-1", email="ada@example.org")])
    Profile.objects.update(quality_score=None)

    ingest_messages(source=web_form, messages=[Message(type="page", user_id="u-1", name="Home")])

    assert Event.objects.count() == 2
    assert Profile.objects.get().quality_score is None


def test_the_sql_score_matches_the_python_reference_under_custom_weights(web_form: Any) -> None:
    QualityWeight.objects.filter(field="email").update(weight=50)
    QualityWeight.objects.create(field="date_of_birth", weight=7)
    quality_config_forget()
    ingest_messages(
        source=web_form,
        messages=[
            identify("u-1", email="a@gmial.com", birthday="1990-12-10", city="Paris"),
            identify("u-2", phone="+33612345678", country="Atlantis"),
            identify("u-3", title="CEO"),
        ],
    )
    weights = dict(QualityWeight.objects.values_list("field", "weight"))
    expected = {}
    for profile in Profile.objects.order_by("pk"):
        errors = profile.quality_issues.filter(severity="error").count()
        warnings = profile.quality_issues.filter(severity="warning").count()
        values = {name: getattr(profile, name, None) for name in weights}
        expected[profile.pk] = quality_score(values, weights, errors=errors, warnings=warnings)

    Profile.objects.update(quality_score=None)
    profiles_score(profile_ids=list(expected), weights=weights)

    assert dict(Profile.objects.values_list("pk", "quality_score")) == expected
    # of 137: email 50 + birth 7 + city 5 + half validity 10; phone 10; title 5 + validity 20
    assert list(expected.values()) == [52, 7, 18]


def test_scores_given_in_the_batch_are_those_the_sql_gives(web_form: Any) -> None:
    # New profiles are scored with their fields; the others by the SQL, which reads issues.
    ingest_messages(source=web_form, messages=[identify("u-0", email="old@example.org")])
    ingest_messages(
        source=web_form,
        messages=[
            identify("u-0", phone="1"),  # an existing profile with a new error
            identify("u-1", email="a@gmial.com", birthday="1990-12-10"),  # a warning
            identify("u-2", phone="+33612345678", country="Atlantis"),  # an error
            identify("u-3", title="CEO"),
            identify("u-3", email="ceo@example.org"),  # a second message, same new profile
        ],
    )
    given = dict(Profile.objects.values_list("pk", "quality_score"))

    Profile.objects.update(quality_score=None)
    profiles_score(
        profile_ids=list(given), weights=dict(QualityWeight.objects.values_list("field", "weight"))
    )

    assert dict(Profile.objects.values_list("pk", "quality_score")) == given
    assert sorted(given.values()) == [10, 20, 30, 45]


def test_without_weights_new_profiles_get_no_score(web_form: Any) -> None:
    QualityWeight.objects.update(weight=0)
    quality_config_forget()

    ingest_messages(source=web_form, messages=[identify("u-1", email="ada@example.org")])

    assert Profile.objects.get().quality_score is None


def test_no_weights_means_no_score() -> None:
    assert (
        quality_score({"email": "a@b.c"}, {"email": 0, "validity": 0}, errors=0, warnings=0) is None
    )
    assert quality_score({}, DEFAULT_QUALITY_WEIGHTS, errors=0, warnings=0) == 20


def test_issues_of_an_anonymous_visitor_follow_them_when_they_identify(web_form: Any) -> None:
    ingest_messages(
        source=web_form,
        messages=[Message(type="identify", anonymous_id="anon-1", traits={"phone": "1"})],
    )
    ingest_messages(
        source=web_form,
        messages=[Message(type="identify", user_id="u-1", traits={"country": "Narnia"})],
    )

    ingest_messages(
        source=web_form, messages=[Message(type="identify", user_id="u-1", anonymous_id="anon-1")]
    )

    survivor = Profile.objects.get(status="active")
    assert [row[:2] for row in issues(survivor)] == [
        ("country", "invalid_country"),
        ("phone", "invalid_phone"),
    ]
