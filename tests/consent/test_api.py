"""Staff API: purposes, recording decisions, the ledger, a profile's current consent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from consent.models import ConsentRecord, Purpose
from profiles.models import Profile
from tests.consent.helpers import NEWSLETTER_TEXT, OFFERS_TEXT, decide

pytestmark = pytest.mark.django_db


def _time(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def test_purposes_are_listed_with_their_current_wording(
    api_client: Any, newsletter: Purpose, offers: Purpose, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(5):  # token with its user, its permissions (2), count, page
        response = api_client.get("/api/consent/purposes/")

    assert response.status_code == 200
    assert response.json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [
            {
                "id": newsletter.pk,
                "code": "newsletter",
                "name": "Newsletter",
                "legal_basis": "consent",
                "channel": "email",
                "requires_double_opt_in": False,
                "is_active": True,
                "version": 1,
                "text": NEWSLETTER_TEXT,
                "created_at": _time(newsletter.created_at),
            },
            {
                "id": offers.pk,
                "code": "partner-offers",
                "name": "Partner offers",
                "legal_basis": "consent",
                "channel": "email",
                "requires_double_opt_in": False,
                "is_active": True,
                "version": 1,
                "text": OFFERS_TEXT,
                "created_at": _time(offers.created_at),
            },
        ],
    }


def test_recording_a_decision_answers_the_new_record(
    api_client: Any, staff_user: Any, ada: Profile, newsletter: Purpose, web_form: Any
) -> None:
    response = api_client.post(
        "/api/consent/records/",
        {
            "profile": ada.pk,
            "purpose": "newsletter",
            "status": "granted",
            "method": "form",
            "version": 1,
            "source": web_form.pk,
            "proof": {"form": "partner-site", "ip": "203.0.113.0"},
            "expires_at": "2099-01-01T00:00:00+02:00",
        },
    )

    record = ConsentRecord.objects.get()
    assert response.status_code == 201
    assert response.json() == {
        "id": record.pk,
        "profile": ada.pk,
        "purpose": "newsletter",
        "status": "granted",
        "method": "form",
        "version": 1,
        "source": web_form.pk,
        "proof": {"form": "partner-site", "ip": "203.0.113.0"},
        "recorded_by": "ada",
        "recorded_at": _time(record.recorded_at),
        "expires_at": "2098-12-31T22:00:00Z",
    }
    assert record.recorded_by == staff_user


def test_repeating_a_decision_answers_200_with_the_current_record(
    api_client: Any, ada: Profile, newsletter: Purpose
) -> None:
    first, _ = decide(ada, newsletter)

    response = api_client.post(
        "/api/consent/records/",
        {"profile": ada.pk, "purpose": "newsletter", "status": "granted", "proof": {"a": 1}},
    )

    assert response.status_code == 200
    assert response.json()["id"] == first.pk
    assert ConsentRecord.objects.count() == 1


DROP = object()


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        (
            {"profile": DROP, "purpose": DROP, "status": DROP, "proof": DROP},
            {"profile", "purpose", "status", "proof"},
        ),
        ({"profile": 0, "purpose": "nope", "status": "maybe"}, {"profile", "purpose", "status"}),
        ({"profile": 2**63}, {"profile"}),
        ({"version": 9}, {"version"}),
        ({"proof": [1]}, {"proof"}),
        ({"proof": {}}, {"proof"}),
        ({"proof": {"a": "\x00"}}, {"proof"}),
        ({"source": 5}, {"source"}),
        ({"method": "double_opt_in"}, {"method"}),
        ({"expires_at": "2000-01-01T00:00:00Z"}, {"expires_at"}),
        ({"expires_at": "9999-12-31T23:59:00-23:59"}, {"expires_at"}),
        ({"email": "not an address"}, {"email"}),
    ],
)
def test_bad_input_is_a_400_naming_the_fields_and_nothing_is_written(
    api_client: Any, ada: Profile, newsletter: Purpose, changes: dict[str, Any], fields: set[str]
) -> None:
    body = {"profile": ada.pk, "purpose": "newsletter", "status": "granted", "proof": {"a": 1}}
    body.update(changes)

    response = api_client.post(
        "/api/consent/records/", {key: value for key, value in body.items() if value is not DROP}
    )

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == fields
    assert ConsentRecord.objects.count() == 0


def test_the_field_messages_are_readable(api_client: Any, newsletter: Purpose) -> None:
    response = api_client.post(
        "/api/consent/records/",
        {"profile": 1, "purpose": "nope", "status": "granted", "proof": {"a": 1}},
    )

    assert response.json() == {
        "error": {
            "status": 400,
            "code": "invalid",
            "message": "Some fields are invalid.",
            "fields": {"purpose": ["No purpose with this code."]},
        }
    }


def test_an_unknown_profile_is_a_404(api_client: Any, newsletter: Purpose) -> None:
    response = api_client.post(
        "/api/consent/records/",
        {"profile": 424242, "purpose": "newsletter", "status": "granted", "proof": {"a": 1}},
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert ConsentRecord.objects.count() == 0


def test_a_form_purpose_without_wording_is_refused(
    api_client: Any, ada: Profile, make_purpose: Any
) -> None:
    make_purpose("silent", text=None)

    response = api_client.post(
        "/api/consent/records/",
        {
            "profile": ada.pk,
            "purpose": "silent",
            "status": "granted",
            "method": "form",
            "proof": {"form": "x"},
        },
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "purpose_without_wording"
    assert ConsentRecord.objects.count() == 0


def test_a_double_opt_in_grant_through_the_api_mails_the_confirmation(
    api_client: Any,
    ada: Profile,
    confirmed_news: Purpose,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(
            "/api/consent/records/",
            {
                "profile": ada.pk,
                "purpose": "confirmed-news",
                "status": "granted",
                "email": "ada@example.org",
                "proof": {"app": "mobile"},
            },
        )

    assert response.status_code == 201
    assert response.json()["status"] == "pending_confirmation"
    assert [mail.to for mail in mailoutbox] == [["ada@example.org"]]


def test_the_ledger_of_a_profile_is_paginated_newest_first(
    api_client: Any,
    ada: Profile,
    make_profile: Any,
    newsletter: Purpose,
    offers: Purpose,
    django_assert_num_queries: Any,
) -> None:
    granted, _ = decide(ada, newsletter)
    withdrawn, _ = decide(ada, newsletter, "withdrawn")
    offered, _ = decide(ada, offers)
    decide(make_profile("alan@example.org"), newsletter)

    with django_assert_num_queries(4):  # token with its user, its permissions (2), page
        response = api_client.get("/api/consent/records/", {"profile": ada.pk, "page_size": 2})

    body = response.json()
    assert response.status_code == 200
    assert [row["id"] for row in body["results"]] == [offered.pk, withdrawn.pk]
    assert body["previous"] is None
    following = api_client.get(body["next"]).json()
    assert [row["id"] for row in following["results"]] == [granted.pk]


def test_the_ledger_filters_by_purpose_and_status(
    api_client: Any, ada: Profile, newsletter: Purpose, offers: Purpose
) -> None:
    decide(ada, newsletter)
    decide(ada, newsletter, "withdrawn")
    decide(ada, offers)

    response = api_client.get(
        "/api/consent/records/", {"purpose": "newsletter", "status": "withdrawn"}
    )

    assert [(r["purpose"], r["status"]) for r in response.json()["results"]] == [
        ("newsletter", "withdrawn")
    ]


@pytest.mark.parametrize(
    "query", [{"profile": "abc"}, {"profile": str(2**64)}, {"recorded_after": "yesterday"}]
)
def test_a_bad_filter_is_a_400(api_client: Any, query: dict[str, str]) -> None:
    response = api_client.get("/api/consent/records/", query)

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == set(query)


def test_the_current_consent_of_a_profile(
    api_client: Any, ada: Profile, newsletter: Purpose, offers: Purpose
) -> None:
    granted, _ = decide(ada, newsletter, method="form", proof={"form": "signup"})

    response = api_client.get(f"/api/consent/profiles/{ada.pk}/")

    assert response.status_code == 200
    assert response.json() == {
        "profile": ada.pk,
        "purposes": [
            {
                "purpose": "newsletter",
                "name": "Newsletter",
                "legal_basis": "consent",
                "channel": "email",
                "is_active": True,
                "status": "granted",
                "in_force": True,
                "expired": False,
                "version": 1,
                "record": granted.pk,
                "recorded_at": _time(granted.recorded_at),
                "expires_at": None,
            },
            {
                "purpose": "partner-offers",
                "name": "Partner offers",
                "legal_basis": "consent",
                "channel": "email",
                "is_active": True,
                "status": None,
                "in_force": False,
                "expired": False,
                "version": None,
                "record": None,
                "recorded_at": None,
                "expires_at": None,
            },
        ],
    }


@pytest.mark.parametrize("profile_id", [424242, 2**63 + 5])
def test_the_consent_of_an_unknown_profile_is_a_404(api_client: Any, profile_id: int) -> None:
    response = api_client.get(f"/api/consent/profiles/{profile_id}/")

    assert response.status_code == 404


@pytest.mark.parametrize("verb", ["put", "patch", "delete"])
def test_the_ledger_has_no_update_or_delete_verb(
    api_client: Any, ada: Profile, newsletter: Purpose, verb: str
) -> None:
    record, _ = decide(ada, newsletter)

    on_list = getattr(api_client, verb)("/api/consent/records/", {"status": "withdrawn"})
    on_row = getattr(api_client, verb)(f"/api/consent/records/{record.pk}/", {"status": "x"})

    assert (on_list.status_code, on_row.status_code) == (405, 405)
    record.refresh_from_db()
    assert record.status == "granted"
    assert ConsentRecord.objects.count() == 1


def test_a_viewer_reads_the_ledger_but_cannot_record(ada: Profile, newsletter: Purpose) -> None:
    viewer = get_user_model().objects.create_user("viewer", is_staff=True)
    viewer.groups.add(Group.objects.get(name="viewer"))
    client = APIClient()
    client.force_authenticate(viewer)

    listing = client.get("/api/consent/records/")
    response = client.post(
        "/api/consent/records/",
        {"profile": ada.pk, "purpose": "newsletter", "status": "granted", "proof": {"a": 1}},
    )

    assert (listing.status_code, response.status_code) == (200, 403)
    assert ConsentRecord.objects.count() == 0


def test_the_api_is_for_staff_only(anon_client: Any, newsletter: Purpose) -> None:
    response = anon_client.get("/api/consent/purposes/")

    assert response.status_code == 401
