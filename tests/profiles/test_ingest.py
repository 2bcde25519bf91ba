from datetime import UTC, datetime
from typing import Any

import pytest

from profiles.models import Event, FieldProvenance, Identity, Profile, ProfileAudit
from profiles.services import Message, ingest_messages

pytestmark = pytest.mark.django_db


def identify(**kwargs: Any) -> Message:
    return Message(type="identify", **kwargs)


def test_an_identify_creates_one_profile_with_identities_provenance_and_event(
    web_form: Any,
) -> None:
    result = ingest_messages(
        source=web_form,
        messages=[
            identify(
                message_id="m1",
                user_id="u-1",
                traits={
                    "email": " Ada@Example.ORG ",
                    "phone": "06 12 34 56 78",
                    "firstName": "ADA",
                    "lastName": "lovelace",
                    "plan": "pro",
                },
                timestamp="2026-11-01T10:00:00Z",
            )
        ],
    )

    profile = Profile.objects.get()
    assert [r.status for r in result.results] == ["ok"]
    assert result.profiles_created == 1
    assert (profile.email, profile.phone, profile.first_name, profile.last_name) == (
        "ada@example.org",
        "+33612345678",
        "Ada",
        "Lovelace",
    )
    assert profile.traits == {"plan": "pro"}
    assert profile.lifecycle_stage == "lead"
    assert profile.last_seen_at == datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert set(Identity.objects.values_list("kind", "value")) == {
        ("user_id", "u-1"),
        ("email", "ada@example.org"),
        ("phone", "+33612345678"),
    }
    assert FieldProvenance.objects.filter(profile=profile, source=web_form).count() == 4
    assert Event.objects.get().message_id == "m1"
    assert list(ProfileAudit.objects.values_list("action", flat=True)) == ["created"]


def test_the_same_email_from_two_channels_lands_on_one_profile(web_form: Any, crm: Any) -> None:
    ingest_messages(source=web_form, messages=[identify(traits={"email": "bo@example.org"})])
    ingest_messages(
        source=crm, messages=[identify(traits={"email": "BO@example.org", "company": "Acme"})]
    )

    assert Profile.objects.count() == 1
    assert Profile.objects.get().company == "Acme"
    assert Event.objects.filter(profile=Profile.objects.get()).count() == 2


def test_a_replayed_message_id_is_stored_once(web_form: Any) -> None:
    message = identify(message_id="same", traits={"email": "c@example.org"})

    ingest_messages(source=web_form, messages=[message])
    second = ingest_messages(source=web_form, messages=[message, message])

    assert [r.status for r in second.results] == ["duplicate", "duplicate"]
    assert Event.objects.count() == 1


def test_a_batch_keeps_valid_messages_and_reports_invalid_ones(web_form: Any) -> None:
    result = ingest_messages(
        source=web_form,
        messages=[
            identify(traits={"email": "ok@example.org"}),
            identify(traits={"email": "not-an-email"}),
            Message(type="track", anonymous_id="a1"),
        ],
    )

    assert [r.status for r in result.results] == ["ok", "error", "error"]
    assert list(result.results[1].errors) == ["traits.email", "userId"]
    assert result.results[2].errors == {"event": ["is required for track"]}
    assert Profile.objects.count() == 1
    assert Event.objects.count() == 1


def test_anonymous_history_is_stitched_to_a_known_profile_on_identify(web_form: Any) -> None:
    ingest_messages(
        source=web_form, messages=[identify(user_id="u-7", traits={"email": "d@example.org"})]
    )
    ingest_messages(
        source=web_form,
        messages=[
            Message(type="page", anonymous_id="anon-7", name="Pricing"),
            Message(type="track", anonymous_id="anon-7", name="Demo Requested"),
        ],
    )
    anonymous = Profile.objects.get(lifecycle_stage="anonymous")

    ingest_messages(source=web_form, messages=[identify(anonymous_id="anon-7", user_id="u-7")])

    anonymous.refresh_from_db()
    known = Profile.objects.get(status="active")
    assert anonymous.status == "merged"
    assert anonymous.merged_into_id == known.pk
    assert Event.objects.filter(profile=known).count() == 4
    assert Identity.objects.get(kind="anonymous_id").profile_id == known.pk


def test_an_anonymous_history_stitched_to_a_profile_new_in_the_batch_keeps_one_value_each(
    web_form: Any,
) -> None:
    # The visitor told a first name anonymously; then one batch creates the person (u-9)
    # and links the visitor to them: the visitor's provenance moves to the new profile,
    # which the batch's own first name of the same source then updates.
    ingest_messages(
        source=web_form, messages=[identify(anonymous_id="anon-9", traits={"firstName": "Ad"})]
    )

    ingest_messages(
        source=web_form,
        messages=[
            identify(user_id="u-9", traits={"email": "ada@example.org"}),
            identify(anonymous_id="anon-9", user_id="u-9", traits={"firstName": "Ada"}),
        ],
    )

    known = Profile.objects.get(status="active")
    assert known.first_name == "Ada"
    assert list(
        FieldProvenance.objects.filter(profile=known, field="first_name").values_list(
            "value", flat=True
        )
    ) == ["Ada"]
    assert Profile.objects.get(status="merged").merged_into_id == known.pk


def test_an_anonymous_visitor_who_identifies_keeps_one_profile(web_form: Any) -> None:
    ingest_messages(
        source=web_form,
        messages=[
            Message(type="page", anonymous_id="anon-1", name="Home"),
            identify(anonymous_id="anon-1", traits={"email": "new@example.org"}),
        ],
    )

    profile = Profile.objects.get()
    assert profile.lifecycle_stage == "lead"
    assert profile.email == "new@example.org"
    assert Event.objects.filter(profile=profile).count() == 2


def test_two_user_ids_never_fuse_even_when_they_share_an_email(web_form: Any) -> None:
    ingest_messages(
        source=web_form,
        messages=[
            identify(user_id="alice", traits={"email": "family@example.org"}),
            identify(user_id="bob", traits={"email": "family@example.org"}),
        ],
    )

    assert Profile.objects.count() == 2
    assert (
        Identity.objects.get(kind="email").profile.identities.get(kind="user_id").value == "alice"
    )


def test_the_most_trusted_source_wins_a_field_even_when_older(web_form: Any, crm: Any) -> None:
    ingest_messages(
        source=crm,
        messages=[
            identify(
                traits={"email": "e@example.org", "lastName": "Durand"},
                timestamp="2026-01-01T00:00:00Z",
            ),
        ],
    )
    ingest_messages(
        source=web_form,
        messages=[
            identify(
                traits={"email": "e@example.org", "lastName": "Durant"},
                timestamp="2026-06-01T00:00:00Z",
            ),
        ],
    )

    profile = Profile.objects.get()
    assert profile.last_name == "Durand"
    assert set(profile.provenance.filter(field="last_name").values_list("value", flat=True)) == {
        "Durand",
        "Durant",
    }


def test_an_older_replay_does_not_overwrite_a_newer_value(web_form: Any) -> None:
    ingest_messages(
        source=web_form,
        messages=[
            identify(
                traits={"email": "f@example.org", "city": "Lyon"}, timestamp="2026-06-01T00:00:00Z"
            ),
        ],
    )
    ingest_messages(
        source=web_form,
        messages=[
            identify(
                traits={"email": "f@example.org", "city": "Paris"}, timestamp="2026-01-01T00:00:00Z"
            ),
        ],
    )

    assert Profile.objects.get().city == "Lyon"


def test_utm_parameters_become_campaign_attribution(web_form: Any) -> None:
    ingest_messages(
        source=web_form,
        messages=[
            Message(
                type="page",
                anonymous_id="a",
                name="Landing",
                context={"page": {"url": "https://x.org/l?utm_source=news&utm_campaign=spring"}},
            ),
            Message(
                type="track",
                anonymous_id="a",
                name="Clicked",
                context={"campaign": {"source": "google", "medium": "cpc", "name": "brand"}},
            ),
        ],
    )

    rows = list(
        Event.objects.order_by("id").values_list("utm_source", "utm_medium", "utm_campaign")
    )
    assert rows == [("news", "", "spring"), ("google", "cpc", "brand")]


@pytest.mark.parametrize("bad", ["a\x00b", "a\ud800b"])
def test_an_unstorable_character_refuses_only_its_message(web_form: Any, bad: str) -> None:
    result = ingest_messages(
        source=web_form,
        messages=[
            Message(type="track", anonymous_id="a", name="Ok", properties={"x": "fine"}),
            Message(type="track", anonymous_id="b", name="Bad", properties={"x": bad}),
        ],
    )

    assert [r.status for r in result.results] == ["ok", "error"]
    assert result.results[1].errors == {
        "properties": ["contains a NUL character or an invalid Unicode sequence"]
    }
    assert Event.objects.count() == 1
