"""/api/consent/requests/: record, verify, extend, carry out; roles and unknown people."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from consent.models import AccessLog, DataSubjectRequest
from profiles.models import Profile
from tests.consent.gdpr_helpers import ADA, ingest_person

pytestmark = pytest.mark.django_db

URL = "/api/consent/requests/"


def create(client: Any, **body: Any) -> dict[str, Any]:
    response = client.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_a_request_about_an_unknown_person_gets_the_same_answer(
    role_client: Any, web_form: Any
) -> None:
    ingest_person(web_form, message_id="m1")
    client = role_client("steward")
    known = create(client, kind="access", email=ADA["email"])
    unknown = create(client, kind="access", email="nobody@example.org")
    strip = {"id", "subject_email", "received_at", "due_at", "steps"}
    assert {k: v for k, v in known.items() if k not in strip} == {
        k: v for k, v in unknown.items() if k not in strip
    }


def test_bad_input_is_a_400_with_field_messages_and_writes_nothing(role_client: Any) -> None:
    client = role_client("steward")
    response = client.post(URL, {"kind": "access"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "email": ["Give the person's email address or phone number."]
    }
    response = client.post(URL, {"kind": "nope", "email": 3}, format="json")
    assert response.status_code == 400
    assert "kind" in response.json()["error"]["fields"]
    assert DataSubjectRequest.objects.count() == 0


def test_the_full_access_flow_returns_the_export_and_logs_it(
    role_client: Any, web_form: Any
) -> None:
    ingest_person(web_form, message_id="m1")
    client = role_client("steward")
    request = create(
        client, kind="access", email=ADA["email"], received_at="2026-01-15T10:00:00+01:00"
    )
    assert request["due_at"] == "2026-02-15T09:00:00Z"
    unverified = client.post(f"{URL}{request['id']}/execute/")
    assert unverified.status_code == 409

    verified = client.post(f"{URL}{request['id']}/verify/", {"note": "replied from the address"})
    extended = client.post(f"{URL}{request['id']}/extend/", {"note": "many systems"})
    done = client.post(f"{URL}{request['id']}/execute/")

    assert (verified.status_code, extended.status_code, done.status_code) == (200, 200, 200)
    assert extended.json()["due_at"] == "2026-04-15T09:00:00Z"
    body = done.json()
    assert body["status"] == "done"
    assert body["export"]["profiles"]["profiles"][0]["email"] == ADA["email"]
    assert [step["action"] for step in body["steps"]] == [
        "received",
        "verified",
        "extended",
        "done",
    ]
    assert AccessLog.objects.filter(action="export", what="api:dsar").count() == 1


def test_a_steward_cannot_erase_an_admin_can(role_client: Any, web_form: Any) -> None:
    ingest_person(web_form, message_id="m1")
    steward, admin = role_client("steward"), role_client("admin")
    request = create(steward, kind="erasure", email=ADA["email"])
    steward.post(f"{URL}{request['id']}/verify/", {"note": "id card seen"})

    refused = steward.post(f"{URL}{request['id']}/execute/")
    assert refused.status_code == 403
    assert Profile.objects.get().status == "active"

    erased = admin.post(f"{URL}{request['id']}/execute/")
    assert erased.status_code == 200
    assert (erased.json()["subject_email"], Profile.objects.get().status) == ("", "erased")


def test_a_viewer_sees_subjects_masked_and_cannot_handle_requests(role_client: Any) -> None:
    create(role_client("steward"), kind="access", email="ada@example.org", phone="+33612345678")
    viewer = role_client("viewer")
    listed = viewer.get(URL).json()["results"][0]
    assert (listed["subject_email"], listed["subject_phone"]) == ("a***@e***", "+33***")
    assert viewer.post(URL, {"kind": "access", "email": "x@example.org"}).status_code == 403


def test_the_overdue_filter_lists_open_requests_past_due(role_client: Any) -> None:
    client = role_client("steward")
    old = create(client, kind="access", email="a@example.org", received_at="2020-01-01T00:00:00Z")
    create(client, kind="access", email="b@example.org")
    closed = DataSubjectRequest.objects.create(
        kind="access",
        status="done",
        received_at=datetime(2020, 1, 1, tzinfo=UTC),
        due_at=datetime(2020, 2, 1, tzinfo=UTC),
        completed_at=datetime(2020, 1, 5, tzinfo=UTC),
    )
    ids = [row["id"] for row in client.get(URL, {"overdue": "true"}).json()["results"]]
    assert ids == [old["id"]]
    assert closed.pk not in ids


def test_a_request_can_be_rejected_once_with_a_reason(role_client: Any) -> None:
    client = role_client("steward")
    request = create(client, kind="erasure", email="ada@example.org")
    missing = client.post(f"{URL}{request['id']}/reject/", {}, format="json")
    rejected = client.post(f"{URL}{request['id']}/reject/", {"note": "identity not proven"})
    again = client.post(f"{URL}{request['id']}/verify/", {"note": "late"})

    assert missing.status_code == 400
    assert missing.json()["error"]["fields"] == {"note": ["This field is required."]}
    assert (rejected.json()["status"], rejected.json()["answer"]) == (
        "rejected",
        "identity not proven",
    )
    assert again.status_code == 409
    assert Profile.objects.count() == 0
