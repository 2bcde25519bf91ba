"""Access audit and roles: views and exports are logged; viewers see personal data masked."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from collection.models import IntakeBatch
from consent.models import AccessLog
from profiles.models import DataQualityIssue, DuplicateCandidate, Profile
from tests.consent.gdpr_helpers import ADA, ingest_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def profile(web_form: Any) -> Any:
    return ingest_person(web_form, message_id="m1")


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def log_rows() -> list[tuple[str, str, str, int | None, bool]]:
    return list(
        AccessLog.objects.order_by("id").values_list(
            "user__username", "action", "what", "profile_id", "masked"
        )
    )


def test_a_steward_viewing_the_360_page_is_logged_and_sees_the_person(
    role_user: Any, profile: Any
) -> None:
    page = logged_in(role_user("steward")).get(f"/admin/profiles/profile/{profile.pk}/change/")
    assert page.status_code == 200
    assert ADA["email"] in page.content.decode()
    assert log_rows() == [("steward-user", "view", "admin:profile", profile.pk, False)]


def test_a_viewer_sees_the_360_page_and_the_list_masked(role_user: Any, profile: Any) -> None:
    client = logged_in(role_user("viewer"))
    detail = client.get(f"/admin/profiles/profile/{profile.pk}/change/").content.decode()
    listing = client.get("/admin/profiles/profile/").content.decode()
    for page in (detail, listing):
        assert ADA["email"] not in page
        assert ADA["lastName"] not in page
        assert ADA["phone"] not in page
    assert "a***@e***" in listing
    assert log_rows() == [("viewer-user", "view", "admin:profile", profile.pk, True)]


def test_the_api_detail_and_timeline_are_logged_and_masked_for_viewers(
    role_client: Any, profile: Any
) -> None:
    viewer = role_client("viewer")
    detail = viewer.get(f"/api/profiles/{profile.pk}/").json()
    events = viewer.get(f"/api/profiles/{profile.pk}/events/").json()

    assert (detail["profile"]["email"], detail["profile"]["last_name"]) == ("a***@e***", "L***")
    assert {identity["value"] for identity in detail["identities"]} == {
        "a***@e***",
        "+33***",
        "u***",
    }
    assert ADA["email"] not in str(detail) + str(events)
    assert log_rows() == [
        ("viewer-user", "view", "api:profile", profile.pk, True),
        ("viewer-user", "view", "api:events", profile.pk, True),
    ]


def test_stewards_see_the_api_unmasked(role_client: Any, profile: Any) -> None:
    detail = role_client("steward").get(f"/api/profiles/{profile.pk}/").json()
    assert detail["profile"]["email"] == ADA["email"]
    assert log_rows() == [("steward-user", "view", "api:profile", profile.pk, False)]


def test_nobody_edits_or_deletes_the_access_log(role_user: Any, profile: Any) -> None:
    client = logged_in(role_user("admin"))
    client.get(f"/admin/profiles/profile/{profile.pk}/change/")
    entry = AccessLog.objects.get()
    assert client.get(f"/admin/consent/accesslog/{entry.pk}/delete/").status_code == 403
    assert client.post(f"/admin/consent/accesslog/{entry.pk}/change/", {}).status_code == 403
    assert AccessLog.objects.count() == 1


def test_viewers_see_identities_events_and_the_ledger_masked(
    role_user: Any, profile: Any, newsletter: Any
) -> None:
    from consent.models import ConsentRecord
    from profiles.models import Event, Identity
    from tests.consent.helpers import decide

    record, _ = decide(profile, newsletter, proof={"email": ADA["email"], "note": "call"})
    identity = Identity.objects.get(kind="email")
    event = Event.objects.get(type="track")
    viewer, steward = logged_in(role_user("viewer")), logged_in(role_user("steward"))
    pages = [
        "/admin/profiles/identity/",
        f"/admin/profiles/identity/{identity.pk}/change/",
        f"/admin/profiles/event/{event.pk}/change/",
        "/admin/consent/consentrecord/",
        f"/admin/consent/consentrecord/{record.pk}/change/",
    ]
    for url in pages:
        response = viewer.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        assert ADA["email"] not in page, url
        assert ADA["lastName"] not in page, url
    assert ADA["email"] in steward.get(pages[1]).content.decode()
    assert ConsentRecord.objects.get().proof["email"] == ADA["email"]  # masked on screen only


def test_a_viewer_reading_the_360_quality_panel_is_logged_and_sees_it_masked(
    role_user: Any, profile: Any
) -> None:
    DataQualityIssue.objects.create(
        profile=profile,
        field="email",
        code="email_domain_typo",
        severity="warning",
        message="domain looks mistyped",
        value="ada.typo@gmial.com",
        suggestion="ada.typo@gmail.com",
        detected_at=timezone.now(),
    )

    page = logged_in(role_user("viewer")).get(f"/admin/profiles/profile/{profile.pk}/change/")

    text = page.content.decode()
    assert page.status_code == 200
    assert "ada.typo@gmial.com" not in text
    assert "ada.typo@gmail.com" not in text
    assert "a***@g***" in text
    assert log_rows() == [
        ("viewer-user", "view", "admin:profile", profile.pk, True),
        ("viewer-user", "view", "admin:profile:quality", profile.pk, True),
    ]


def test_a_steward_reading_raw_values_in_quality_duplicates_and_intake_pages_is_logged(
    role_user: Any, profile: Any, web_form: Any
) -> None:
    now = timezone.now()
    issue = DataQualityIssue.objects.create(
        profile=profile,
        field="email",
        code="email_domain_typo",
        severity="warning",
        message="domain looks mistyped",
        value="ada.typo@gmial.com",
        suggestion="ada.typo@gmail.com",
        detected_at=now,
    )
    twin = Profile.objects.create(email="ada.twin@example.org")
    low, high = sorted((profile.pk, twin.pk))
    candidate = DuplicateCandidate.objects.create(
        profile_low_id=low,
        profile_high_id=high,
        score=0.8,
        features={},
        found_at=now,
        scored_at=now,
    )
    batch = IntakeBatch.objects.create(
        source=web_form,
        messages=json.dumps([{"type": "identify", "traits": {"email": "new@example.org"}}]),
        count=1,
        received_at=now,
    )
    client = logged_in(role_user("steward"))

    pages = [
        client.get(f"/admin/profiles/dataqualityissue/{issue.pk}/change/"),
        client.get(f"/admin/profiles/duplicatecandidate/{candidate.pk}/change/"),
        client.get(f"/admin/collection/intakebatch/{batch.pk}/change/"),
    ]

    assert [page.status_code for page in pages] == [200, 200, 200]
    assert "new@example.org" in pages[2].content.decode()
    assert log_rows() == [
        ("steward-user", "view", "admin:quality-issue", profile.pk, False),
        ("steward-user", "view", "admin:duplicate", low, False),
        ("steward-user", "view", "admin:duplicate", high, False),
        ("steward-user", "view", "admin:intake-batch", None, False),
    ]
