"""Data-subject requests: recording, deadlines, verification, and each kind carried out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from consent.errors import InvalidRequest, RequestNotReady
from consent.models import (
    AccessLog,
    ConsentRecord,
    DataSubjectRequest,
    DataSubjectRequestEvent,
    Suppression,
)
from consent.selectors import contactable_profile_ids
from consent.services import (
    dsar_create,
    dsar_execute,
    dsar_extend,
    dsar_reminders_send,
    dsar_verify,
    suppression_digest,
)
from profiles.models import Event, EventAggregate, FieldProvenance, Identity, Profile
from tests.consent.gdpr_helpers import ADA, ingest_person
from tests.consent.helpers import decide

pytestmark = pytest.mark.django_db


def verified(kind: str, **subject: Any) -> DataSubjectRequest:
    request = dsar_create(kind=kind, **subject)
    return dsar_verify(request=request, method="replied from the address", actor=None)


def test_a_request_is_due_one_calendar_month_after_receipt() -> None:
    request = dsar_create(
        kind="access", email="x@example.org", received_at=datetime(2026, 1, 31, 9, tzinfo=UTC)
    )
    assert request.due_at == datetime(2026, 2, 28, 9, tzinfo=UTC)
    assert request.status == "received"
    assert list(request.events.values_list("action", flat=True)) == ["received"]


def test_extending_adds_two_months_once_with_a_reason(staff_user: Any) -> None:
    request = dsar_create(
        kind="access", email="x@example.org", received_at=datetime(2026, 3, 10, tzinfo=UTC)
    )
    extended = dsar_extend(request=request, reason="complex request", actor=staff_user)
    assert extended.due_at == datetime(2026, 6, 10, tzinfo=UTC)
    with pytest.raises(RequestNotReady):
        dsar_extend(request=extended, reason="again", actor=staff_user)
    assert list(extended.events.values_list("action", "actor")) == [
        ("received", None),
        ("extended", staff_user.pk),
    ]


def test_a_request_without_email_or_phone_is_refused_and_nothing_written() -> None:
    with pytest.raises(InvalidRequest) as caught:
        dsar_create(kind="erasure", email="", phone="")
    assert caught.value.fields == {"email": ["Give the person's email address or phone number."]}
    with pytest.raises(InvalidRequest) as caught:
        dsar_create(kind="destroy", email="not-an-email")
    assert set(caught.value.fields or {}) == {"kind", "email"}
    assert DataSubjectRequest.objects.count() == 0


def test_nothing_is_carried_out_before_the_identity_is_verified() -> None:
    request = dsar_create(kind="erasure", email="x@example.org")
    with pytest.raises(RequestNotReady):
        dsar_execute(request=request, actor=None)
    request.refresh_from_db()
    assert request.status == "received"


def test_access_exports_everything_held_about_the_person_and_its_tombstones(
    web_form: Any, crm: Any, newsletter: Any
) -> None:
    known = ingest_person(web_form, message_id="m1")
    anonymous = Profile.objects.create(lifecycle_stage="anonymous")
    Profile.objects.filter(pk=anonymous.pk).update(status="merged", merged_into=known)
    decide(known, newsletter, proof={"form": "signup", "ip": "203.0.113.0"})
    request = verified("access", email="  ADA.Lovelace@example.org ")

    data = dsar_execute(request=request, actor=None, via="test")

    assert data is not None
    assert json.loads(json.dumps(data)) == data  # plain JSON
    assert {p["id"] for p in data["profiles"]["profiles"]} == {known.pk, anonymous.pk}
    assert {(i["kind"], i["value"]) for i in data["profiles"]["identities"]} == {
        ("email", ADA["email"]),
        ("phone", ADA["phone"]),
        ("user_id", "user-m1"),
    }
    assert [e["name"] for e in data["profiles"]["events"]] == ["", "Brochure Downloaded"]
    assert {row["field"] for row in data["profiles"]["provenance"]} >= {"email", "last_name"}
    assert [(c["purpose"], c["status"], c["proof"]["ip"]) for c in data["consent"]["consents"]] == [
        ("newsletter", "granted", "203.0.113.0")
    ]
    request.refresh_from_db()
    assert request.status == "done"
    assert request.profiles_found == 2
    assert AccessLog.objects.filter(action="export", request=request).count() == 1


def test_a_request_about_an_unknown_person_is_answered_like_any_other(web_form: Any) -> None:
    ingest_person(web_form, message_id="m1")
    known = verified("access", email=ADA["email"])
    unknown = verified("access", email="nobody@example.org")

    dsar_execute(request=known, actor=None)
    data = dsar_execute(request=unknown, actor=None)

    known.refresh_from_db()
    unknown.refresh_from_db()
    assert (unknown.status, unknown.answer) == (known.status, known.answer)
    assert (data["profiles"], data["consent"]) == ({}, {})
    assert unknown.profiles_found == 0


def test_erasure_blanks_the_person_everywhere_and_keeps_anonymous_counts(
    web_form: Any, newsletter: Any
) -> None:
    profile = ingest_person(web_form, message_id="m1")
    tombstone = Profile.objects.create(first_name="Augusta", email="old@example.org")
    Profile.objects.filter(pk=tombstone.pk).update(status="merged", merged_into=profile)
    decide(profile, newsletter, proof={"form": "signup", "ip": "203.0.113.0", "user_agent": "UA"})
    request = verified("erasure", email=ADA["email"])

    dsar_execute(request=request, actor=None)

    erased = Profile.objects.filter(pk__in=[profile.pk, tombstone.pk])
    assert set(erased.values_list("status", "email", "phone", "first_name", "last_name")) == {
        ("erased", "", "", "", "")
    }
    assert Identity.objects.count() == 0
    assert FieldProvenance.objects.count() == 0
    assert Event.objects.count() == 0
    assert set(EventAggregate.objects.values_list("type", "name", "count")) == {
        ("identify", "", 1),
        ("track", "Brochure Downloaded", 1),
    }
    record = ConsentRecord.objects.get()
    assert (record.status, record.proof) == ("granted", {"form": "signup", "erased": True})
    request.refresh_from_db()
    assert (request.subject_email, request.subject_phone, request.status) == ("", "", "done")
    assert len(request.subject_digest) == 64
    assert set(Suppression.objects.values_list("kind", "digest")) == {
        ("email", suppression_digest(kind="email", value=ADA["email"])),
        ("phone", suppression_digest(kind="phone", value=ADA["phone"])),
    }
    assert "Augusta" not in json.dumps(
        list(DataSubjectRequestEvent.objects.values("note", "action"))
    )


def test_erasing_an_unknown_person_suppresses_the_address_without_revealing_anything() -> None:
    request = verified("erasure", email="Nobody@Example.org")
    dsar_execute(request=request, actor=None)
    request.refresh_from_db()
    assert (request.status, request.subject_email, request.profiles_found) == ("done", "", 0)
    assert Suppression.objects.filter(
        digest=suppression_digest(kind="email", value="nobody@example.org")
    ).exists()


def test_restriction_and_objection_take_the_person_out_of_sending(
    web_form: Any, newsletter: Any
) -> None:
    profile = ingest_person(web_form, message_id="m1")
    decide(profile, newsletter)
    assert list(contactable_profile_ids(purpose=newsletter)) == [profile.pk]

    dsar_execute(request=verified("restriction", email=ADA["email"]), actor=None)

    profile.refresh_from_db()
    assert profile.status == "restricted"
    assert list(contactable_profile_ids(purpose=newsletter)) == []
    dsar_execute(request=verified("objection", phone="+33 6 12 34 56 78"), actor=None)
    assert ConsentRecord.objects.filter(profile=profile).latest("id").status == "withdrawn"


def test_contactable_excludes_erased_and_merged_profiles(
    make_profile: Any, newsletter: Any
) -> None:
    active, erased, merged = (make_profile(f"p{i}@example.org") for i in range(3))
    for profile in (active, erased, merged):
        decide(profile, newsletter)
    Profile.objects.filter(pk=erased.pk).update(status="erased")
    Profile.objects.filter(pk=merged.pk).update(status="merged", merged_into=active)
    assert list(contactable_profile_ids(purpose=newsletter)) == [active.pk]


def test_rectification_corrects_named_fields_and_refuses_unknown_ones(web_form: Any) -> None:
    profile = ingest_person(web_form, message_id="m1")
    request = verified("rectification", email=ADA["email"], changes={"last_name": "King"})
    dsar_execute(request=request, actor=None)
    profile.refresh_from_db()
    assert profile.last_name == "King"
    assert profile.audit.filter(action="rectified").get().fields == ["last_name"]

    bad = verified("rectification", email=ADA["email"], changes={"status": "active"})
    with pytest.raises(InvalidRequest):
        dsar_execute(request=bad, actor=None)
    bad.refresh_from_db()
    assert bad.status == "verified"


def test_the_command_erases_end_to_end(web_form: Any) -> None:
    ingest_person(web_form, message_id="m1")
    out = StringIO()
    call_command("cdp_dsar", "erase", "--email", ADA["email"], stdout=out)
    assert "erasure): done" in out.getvalue()
    assert Profile.objects.get().status == "erased"
    assert DataSubjectRequest.objects.get().subject_email == ""


def test_the_command_exports_to_a_file(web_form: Any, tmp_path: Any) -> None:
    ingest_person(web_form, message_id="m1")
    target = tmp_path / "export.json"
    call_command(
        "cdp_dsar", "export", "--email", ADA["email"], "--output", str(target), stdout=StringIO()
    )
    data = json.loads(target.read_text())
    assert data["profiles"]["profiles"][0]["email"] == ADA["email"]


def test_the_command_refuses_bad_input_with_a_message() -> None:
    with pytest.raises(CommandError, match="email"):
        call_command("cdp_dsar", "erase", stdout=StringIO())
    assert DataSubjectRequest.objects.count() == 0


def test_reminders_mail_each_handler_ids_and_dates_only(mailoutbox: Any, staff_user: Any) -> None:
    staff_user.email = "handler@cdp.test"
    staff_user.save()
    overdue = dsar_create(
        kind="erasure",
        email="secret@example.org",
        received_at=datetime(2020, 1, 1, tzinfo=UTC),
        actor=staff_user,
    )
    dsar_create(kind="access", email="later@example.org", actor=staff_user)

    assert dsar_reminders_send() == {"due_soon": 0, "overdue": 1}

    (mail,) = mailoutbox
    assert mail.to == ["handler@cdp.test"]
    assert f"#{overdue.pk} erasure: due 2020-02-01 (OVERDUE)" in mail.body
    assert "secret@example.org" not in mail.body
