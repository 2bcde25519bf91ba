"""A viewer cannot recover personal data indirectly: previews, look-ups, searches, raw pages."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from consent.models import AccessLog
from profiles.models import Profile

pytestmark = pytest.mark.django_db


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def augusta(make_profile: Any) -> Profile:
    return make_profile("ada@example.org", first_name="Augusta", last_name="Byron")


def test_the_api_segment_preview_is_masked_for_viewers_and_logged(
    role_client: Any, augusta: Profile
) -> None:
    rule = {"field": "first_name", "op": "eq", "value": "Augusta"}

    body = role_client("viewer").post("/api/segments/preview/", {"rule": rule}).json()

    assert body["count"] == 1
    assert [(p["email"], p["first_name"]) for p in body["sample"]] == [("a***@e***", "A***")]
    assert list(AccessLog.objects.values_list("what", "masked")) == [("api:segment-preview", True)]


@pytest.mark.parametrize(
    "query",
    [
        "email__startswith=a",
        "last_name__regex=^B",
        "phone__startswith=%2B33",
        "email=ada@example.org",
    ],
)
def test_a_viewer_may_not_filter_profiles_on_personal_fields_in_the_admin(
    role_user: Any, augusta: Profile, query: str
) -> None:
    viewer = logged_in(role_user("viewer"))
    steward = logged_in(role_user("steward"))

    refused = viewer.get(f"/admin/profiles/profile/?{query}")
    allowed = steward.get(f"/admin/profiles/profile/?{query}")

    assert (refused.status_code, allowed.status_code) == (400, 200)


def test_a_viewer_may_not_filter_identities_by_value(role_user: Any, augusta: Profile) -> None:
    page = logged_in(role_user("viewer")).get("/admin/profiles/identity/?value__startswith=ada")

    assert page.status_code == 400


def test_an_admin_search_by_a_viewer_matches_ids_only(role_user: Any, augusta: Profile) -> None:
    viewer = logged_in(role_user("viewer"))

    by_email = viewer.get("/admin/profiles/profile/?q=ada@example.org")
    by_id = viewer.get(f"/admin/profiles/profile/?q={augusta.pk}")

    assert by_email.context["cl"].result_count == 0
    assert by_id.context["cl"].result_count == 1


@pytest.mark.parametrize("query", ["email=ada@example.org", "q=byron"])
def test_a_viewer_may_not_search_the_profiles_api_by_personal_data(
    role_client: Any, augusta: Profile, query: str
) -> None:
    refused = role_client("viewer").get(f"/api/profiles/?{query}")
    found = role_client("steward").get(f"/api/profiles/?{query}")

    assert refused.status_code == 403
    assert [p["id"] for p in found.json()["results"]] == [augusta.pk]


@pytest.mark.parametrize(
    "page",
    [
        "/admin/profiles/dataqualityissue/",
        "/admin/profiles/duplicatecandidate/",
        "/admin/collection/intakebatch/",
    ],
)
def test_raw_personal_data_pages_are_withheld_from_viewers(role_user: Any, page: str) -> None:
    assert logged_in(role_user("viewer")).get(page).status_code == 403
    assert logged_in(role_user("steward")).get(page).status_code == 200
