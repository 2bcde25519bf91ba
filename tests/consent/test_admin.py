"""Admin: purposes with versioned wordings; the ledger is read-only for everyone."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from consent.models import ConsentRecord, Purpose, PurposeVersion
from consent.roles import FORBIDDEN_CODENAMES
from profiles.models import Profile
from tests.consent.helpers import NEWSLETTER_TEXT, decide

pytestmark = pytest.mark.django_db

INLINE = "versions"


def _management(total: int, initial: int) -> dict[str, str]:
    return {
        f"{INLINE}-TOTAL_FORMS": str(total),
        f"{INLINE}-INITIAL_FORMS": str(initial),
        f"{INLINE}-MIN_NUM_FORMS": "0",
        f"{INLINE}-MAX_NUM_FORMS": "1000",
    }


def test_adding_a_purpose_with_its_wording_creates_version_1(admin_client: Any) -> None:
    response = admin_client.post(
        "/admin/consent/purpose/add/",
        {
            "code": "newsletter",
            "name": "Newsletter",
            "legal_basis": "consent",
            "channel": "email",
            "is_active": "on",
            **_management(1, 0),
            f"{INLINE}-0-text": NEWSLETTER_TEXT,
        },
    )

    assert response.status_code == 302
    wording = PurposeVersion.objects.get()
    assert (wording.purpose.code, wording.version, wording.text) == (
        "newsletter",
        1,
        NEWSLETTER_TEXT,
    )
    assert wording.created_by.username == "admin"


def test_a_new_wording_is_a_new_version_and_old_ones_cannot_be_edited(
    admin_client: Any, newsletter: Purpose
) -> None:
    first = newsletter.versions.get()

    response = admin_client.post(
        f"/admin/consent/purpose/{newsletter.pk}/change/",
        {
            "name": "Newsletter",
            "legal_basis": "consent",
            "channel": "email",
            "is_active": "on",
            **_management(2, 1),
            f"{INLINE}-0-id": str(first.pk),
            f"{INLINE}-0-purpose": str(newsletter.pk),
            f"{INLINE}-0-text": "Edited behind everyone's back.",
            f"{INLINE}-1-purpose": str(newsletter.pk),
            f"{INLINE}-1-text": "Our newsletter, now every week.",
        },
    )

    assert response.status_code == 302
    assert list(
        PurposeVersion.objects.filter(purpose=newsletter)
        .order_by("version")
        .values_list("version", "text")
    ) == [(1, NEWSLETTER_TEXT), (2, "Our newsletter, now every week.")]


def test_the_code_of_a_purpose_cannot_be_changed(admin_client: Any, newsletter: Purpose) -> None:
    response = admin_client.post(
        f"/admin/consent/purpose/{newsletter.pk}/change/",
        {
            "code": "renamed",
            "name": "Newsletter",
            "legal_basis": "consent",
            "channel": "email",
            **_management(1, 1),
            f"{INLINE}-0-id": str(newsletter.versions.get().pk),
            f"{INLINE}-0-purpose": str(newsletter.pk),
        },
    )

    assert response.status_code == 302
    assert Purpose.objects.get(pk=newsletter.pk).code == "newsletter"


def test_the_ledger_list_filters_by_purpose_status_and_method(
    admin_client: Any, ada: Profile, newsletter: Purpose, offers: Purpose
) -> None:
    decide(ada, newsletter)
    decide(ada, offers, "withdrawn")

    response = admin_client.get(
        "/admin/consent/consentrecord/", {"status": "withdrawn", "profile": ada.pk}
    )

    assert response.status_code == 200
    assert [record.purpose.code for record in response.context["cl"].result_list] == [
        "partner-offers"
    ]
    assert b"Record a decision" in response.content


def test_nobody_can_add_change_or_delete_a_ledger_row_in_admin(
    admin_client: Any, ada: Profile, newsletter: Purpose
) -> None:
    record, _ = decide(ada, newsletter)
    url = f"/admin/consent/consentrecord/{record.pk}/"

    view = admin_client.get(f"{url}change/")
    change = admin_client.post(f"{url}change/", {"status": "withdrawn"})
    delete = admin_client.post(f"{url}delete/", {"post": "yes"})
    add = admin_client.get("/admin/consent/consentrecord/add/")

    assert view.status_code == 200
    assert b'name="_save"' not in view.content
    assert (change.status_code, delete.status_code, add.status_code) == (403, 403, 403)
    record.refresh_from_db()
    assert record.status == "granted"
    assert ConsentRecord.objects.count() == 1


def test_a_steward_records_a_decision_with_a_note_as_proof(
    admin_client: Any, ada: Profile, newsletter: Purpose
) -> None:
    decide(ada, newsletter)

    response = admin_client.post(
        "/admin/consent/consentrecord/record/",
        {
            "profile": ada.pk,
            "purpose": newsletter.pk,
            "status": "withdrawn",
            "note": "Letter of 3 March",
        },
    )

    assert response.status_code == 302
    record = ConsentRecord.objects.latest("id")
    assert (record.status, record.method, record.recorded_by.username, record.proof) == (
        "withdrawn",
        "admin",
        "admin",
        {"note": "Letter of 3 March", "recorded_in": "admin"},
    )


def test_recording_for_an_unknown_profile_shows_the_error_and_writes_nothing(
    admin_client: Any, newsletter: Purpose
) -> None:
    response = admin_client.post(
        "/admin/consent/consentrecord/record/",
        {"profile": 999_999, "purpose": newsletter.pk, "status": "granted", "note": "Phone"},
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {"profile": ["No profile with this id."]}
    assert ConsentRecord.objects.count() == 0


def test_a_viewer_cannot_record_a_decision(client: Any, ada: Profile, newsletter: Purpose) -> None:
    viewer = get_user_model().objects.create_user("viewer", password="pw-123456789", is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(content_type__app_label="consent", codename="view_consentrecord")
    )
    client.force_login(viewer)

    page = client.get("/admin/consent/consentrecord/")
    response = client.post(
        "/admin/consent/consentrecord/record/",
        {"profile": ada.pk, "purpose": newsletter.pk, "status": "granted", "note": "x"},
    )

    assert page.status_code == 200
    assert b"Record a decision" not in page.content
    assert response.status_code == 403
    assert ConsentRecord.objects.count() == 0


def test_the_roles_never_grant_changing_or_deleting_the_ledger() -> None:
    assert {"change_consentrecord", "delete_consentrecord"} <= FORBIDDEN_CODENAMES
