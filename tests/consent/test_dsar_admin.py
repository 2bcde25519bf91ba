"""Admin of data-subject requests: due dates, overdue filter, confirmed actions, roles."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from consent.models import AccessLog, DataSubjectRequest
from consent.services import dsar_create, dsar_verify
from profiles.models import Profile
from tests.consent.gdpr_helpers import ADA, ingest_person

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/consent/datasubjectrequest/"


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def act(client: Client, action: str, *ids: int, **extra: str) -> Any:
    return client.post(
        CHANGELIST, {"action": action, "_selected_action": [str(pk) for pk in ids], **extra}
    )


def test_adding_a_request_sets_its_due_date_and_trail(role_user: Any) -> None:
    client = logged_in(role_user("steward"))
    response = client.post(
        f"{CHANGELIST}add/",
        {
            "kind": "erasure",
            "subject_email": "ada@example.org",
            "subject_phone": "",
            "changes": "",
            "received_at_0": "2026-01-31",
            "received_at_1": "10:00:00",
        },
    )
    assert response.status_code == 302
    request = DataSubjectRequest.objects.get()
    assert request.due_at == datetime(2026, 2, 28, 10, tzinfo=UTC)
    assert list(request.events.values_list("action", flat=True)) == ["received"]


def test_the_changelist_filters_overdue_requests_and_masks_for_viewers(role_user: Any) -> None:
    overdue = dsar_create(
        kind="access", email="old@example.org", received_at=datetime(2020, 1, 1, tzinfo=UTC)
    )
    dsar_create(kind="access", email="new@example.org")
    steward = logged_in(role_user("steward")).get(CHANGELIST, {"due": "overdue"})
    assert [row.pk for row in steward.context["cl"].result_list] == [overdue.pk]
    assert "old@example.org" in steward.content.decode()
    viewer = logged_in(role_user("viewer")).get(CHANGELIST)
    page = viewer.content.decode()
    assert "old@example.org" not in page
    assert "o***@e***" in page


def test_verify_asks_for_confirmation_then_records_the_method(role_user: Any) -> None:
    request = dsar_create(kind="access", email="ada@example.org")
    client = logged_in(role_user("steward"))
    page = act(client, "verify", request.pk)
    assert page.status_code == 200
    assert b"How it was verified" in page.content
    request.refresh_from_db()
    assert request.status == "received"

    act(client, "verify", request.pk, confirm="yes", note="called back on the known number")

    request.refresh_from_db()
    assert (request.status, request.verification) == (
        "verified",
        "called back on the known number",
    )


def test_export_downloads_json_for_stewards_and_is_logged(role_user: Any, web_form: Any) -> None:
    ingest_person(web_form, message_id="m1")
    request = dsar_create(kind="portability", email=ADA["email"])
    dsar_verify(request=request, method="email", actor=None)
    steward = role_user("steward")
    response = act(logged_in(steward), "export", request.pk, confirm="yes")
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["profiles"]["profiles"][0]["email"] == ADA["email"]
    assert AccessLog.objects.get(action="export").user == steward


def test_only_admins_erase(role_user: Any, web_form: Any) -> None:
    ingest_person(web_form, message_id="m1")
    request = dsar_create(kind="erasure", email=ADA["email"])
    dsar_verify(request=request, method="email", actor=None)

    refused = act(logged_in(role_user("steward")), "erase", request.pk, confirm="yes")
    assert refused.status_code == 403
    assert Profile.objects.get().status == "active"

    act(logged_in(role_user("admin")), "erase", request.pk, confirm="yes")
    assert Profile.objects.get().status == "erased"


def test_a_viewer_cannot_export_nor_verify(role_user: Any) -> None:
    request = dsar_create(kind="access", email="ada@example.org")
    viewer = logged_in(role_user("viewer"))
    response = act(viewer, "export", request.pk, confirm="yes")
    assert response.status_code == 403
    assert AccessLog.objects.count() == 0
    act(viewer, "verify", request.pk, confirm="yes", note="x")
    request.refresh_from_db()
    assert request.status == "received"


def _buttons(html: str) -> list[str]:
    import re

    found = re.findall(
        r'form="request-action-\w+" class="button" name="action" value="(\w+)"', html
    )
    return list(found)


def _form_of(html: str, action: str) -> dict[str, Any]:
    """The hidden inputs of the button's form, as the browser posts them with the button."""
    import re

    block = re.search(rf'<form id="request-action-{action}"(.*?)</form>', html, flags=re.S)
    assert block is not None
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', block.group(1)))
    return {**fields, "action": action}


def test_a_requests_actions_are_buttons_on_its_page_and_bring_the_steward_back(
    role_user: Any,
) -> None:
    request = dsar_create(kind="access", email="ada@example.org")
    steward = logged_in(role_user("steward"))
    page_url = f"{CHANGELIST}{request.pk}/change/"

    page = steward.get(page_url).content.decode()
    confirm = steward.post(CHANGELIST, _form_of(page, "verify"))
    done = steward.post(
        CHANGELIST, {**_form_of(page, "verify"), "confirm": "yes", "note": "called back"}
    )
    after = steward.get(page_url).content.decode()

    assert _buttons(page) == ["verify", "extend", "export"]
    assert confirm.status_code == 200
    assert 'name="back_to_request"' in confirm.content.decode()
    assert done.status_code == 302
    assert done["Location"] == page_url
    request.refresh_from_db()
    assert request.status == "verified"
    assert _buttons(after) == ["extend", "export"]


def test_a_viewer_sees_no_action_buttons(role_user: Any) -> None:
    request = dsar_create(kind="erasure", email="ada@example.org")

    page = logged_in(role_user("viewer")).get(f"{CHANGELIST}{request.pk}/change/")

    assert _buttons(page.content.decode()) == []


def test_the_erasure_confirmation_names_the_people_and_counts_their_records(
    role_user: Any, web_form: Any
) -> None:
    profile = ingest_person(web_form, message_id="m1")
    request = dsar_create(kind="erasure", email=ADA["email"])
    dsar_verify(request=request, method="email", actor=None)
    admin = logged_in(role_user("admin"))
    page = admin.get(f"{CHANGELIST}{request.pk}/change/").content.decode()

    confirm = admin.post(CHANGELIST, _form_of(page, "erase"))

    html = confirm.content.decode()
    assert _buttons(page) == ["extend", "erase"]
    assert f"<td>#{profile.pk}</td>" in html
    assert "Augusta Lovelace-Byron" in html
    assert ADA["email"] in html
    counts = confirm.context["erasures"][0].records
    assert counts["profiles"]["events"] == 2
    assert counts["profiles"]["identities"] == 3  # email, phone, user id
    total = confirm.context["erasures"][0].total
    assert f"{total} records will be erased or anonymised:" in html
    assert "events 2" in html
    assert Profile.objects.get().status == "active"  # nothing erased before the confirmation
