"""Consent carried by messages lands in the consent ledger, only through its service."""

from datetime import UTC, datetime
from typing import Any

import pytest

from consent.models import ConsentRecord, Purpose
from consent.services import purpose_wording_add
from profiles.models import Profile
from profiles.services.consent_capture import ConsentCapture, consent_capture

pytestmark = pytest.mark.django_db

AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def ada(db: None) -> Profile:
    return Profile.objects.create(email="ada@example.org")


def capture(profile: Profile, message_type: str, consent: Any, **context: Any) -> ConsentCapture:
    return ConsentCapture(
        profile_id=profile.pk,
        message_type=message_type,
        message_id="m-1",
        context={"consent": consent, **context},
        occurred_at=AT,
    )


def test_a_ticked_box_is_a_grant_with_the_wording_shown_and_proof(
    ada: Profile, web_form: Any, purposes: dict[str, Purpose]
) -> None:
    purpose_wording_add(purpose=purposes["newsletter"], text="A newer wording.")

    added = consent_capture(
        source_id=web_form.pk,
        captures=[
            capture(
                ada,
                "form",
                {"newsletter": {"granted": True, "form": "signup", "wording_version": 1}},
                ip="203.0.113.0",
                userAgent="Firefox",
            )
        ],
    )

    record = ConsentRecord.objects.get()
    assert added == 1
    assert (record.status, record.method, record.wording.version) == ("granted", "form", 1)
    assert record.source_id == web_form.pk
    assert record.proof == {
        "message_id": "m-1",
        "channel": "form",
        "occurred_at": AT.isoformat(),
        "ip": "203.0.113.0",
        "userAgent": "Firefox",
        "form": "signup",
    }


def test_an_unticked_box_is_no_decision(ada: Profile, web_form: Any, purposes: Any) -> None:
    added = consent_capture(
        source_id=web_form.pk,
        captures=[
            capture(ada, "form", {"partners": {"granted": False, "form": "signup"}}),
        ],
    )

    assert added == 0
    assert ConsentRecord.objects.count() == 0


def test_the_api_can_withdraw_with_segment_category_preferences(
    ada: Profile, crm: Any, purposes: Any
) -> None:
    consent_capture(
        source_id=crm.pk,
        captures=[
            capture(ada, "identify", {"categoryPreferences": {"newsletter": True}}),
        ],
    )
    consent_capture(
        source_id=crm.pk,
        captures=[
            capture(ada, "identify", {"categoryPreferences": {"newsletter": False}}),
        ],
    )

    assert list(ConsentRecord.objects.order_by("id").values_list("status", "method")) == [
        ("granted", "api"),
        ("withdrawn", "api"),
    ]


def test_unknown_purposes_are_skipped_without_failing(ada: Profile, crm: Any) -> None:
    added = consent_capture(source_id=crm.pk, captures=[capture(ada, "track", {"nope": True})])

    assert added == 0
    assert ConsentRecord.objects.count() == 0


def test_a_form_grant_for_a_purpose_without_wording_is_not_recorded(
    ada: Profile, web_form: Any
) -> None:
    Purpose.objects.create(code="sms", name="SMS", channel="sms")

    added = consent_capture(
        source_id=web_form.pk,
        captures=[
            capture(ada, "form", {"sms": {"granted": True, "form": "signup"}}),
        ],
    )

    assert added == 0
    assert ConsentRecord.objects.count() == 0


def test_double_opt_in_records_pending_and_mails_the_profile(
    ada: Profile, web_form: Any, mailoutbox: Any, django_capture_on_commit_callbacks: Any
) -> None:
    offers = Purpose.objects.create(
        code="offers", name="Offers", channel="email", requires_double_opt_in=True
    )
    purpose_wording_add(purpose=offers, text="Send me offers.")

    with django_capture_on_commit_callbacks(execute=True):
        consent_capture(
            source_id=web_form.pk,
            captures=[
                capture(ada, "form", {"offers": {"granted": True, "form": "signup"}}),
            ],
        )

    assert ConsentRecord.objects.get().status == "pending_confirmation"
    assert [mail.to for mail in mailoutbox] == [["ada@example.org"]]


def test_a_form_post_records_the_ticked_consent_in_the_ledger(
    client: Any, web_form: Any, purposes: Any
) -> None:
    from collection.models import Form

    Form.objects.create(
        name="Sign-up",
        slug="signup",
        source=web_form,
        consent_purposes=["newsletter", "partners"],
        fields=[
            {
                "name": "email",
                "label": "Email",
                "target": "email",
                "type": "email",
                "required": True,
            }
        ],
    )

    response = client.post(
        "/api/forms/signup/submissions",
        {"email": "lea@example.org", "consent_newsletter": "on", "consent_wording_newsletter": "1"},
        HTTP_USER_AGENT="Firefox",
        REMOTE_ADDR="203.0.113.77",
    )

    record = ConsentRecord.objects.get()
    assert response.status_code == 201
    assert (record.profile.email, record.purpose.code, record.status, record.method) == (
        "lea@example.org",
        "newsletter",
        "granted",
        "form",
    )
    assert (record.proof["ip"], record.proof["userAgent"], record.proof["form"]) == (
        "203.0.113.0",
        "Firefox",
        "signup",
    )


def test_the_tracking_api_records_consent_from_the_context(
    client: Any, make_source: Any, purposes: Any
) -> None:
    import base64
    import json

    _, key = make_source("App")
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()

    client.post(
        "/v1/identify",
        json.dumps(
            {
                "userId": "u-1",
                "traits": {"email": "max@example.org"},
                "context": {
                    "consent": {"categoryPreferences": {"newsletter": True, "partners": False}}
                },
            }
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
    )

    assert sorted(ConsentRecord.objects.values_list("purpose__code", "status", "method")) == [
        ("newsletter", "granted", "api"),
        ("partners", "withdrawn", "api"),
    ]


@pytest.mark.parametrize("message_type", ["identify", "track", "form"])
def test_a_grant_from_a_public_channel_for_a_double_opt_in_purpose_waits_for_the_click(
    ada: Profile,
    web_form: Any,
    message_type: str,
    mailoutbox: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # A browser SDK's write key is public: whoever reads the page can post this.
    web_form.allowed_origins = ["https://www.example.org"]
    web_form.save(update_fields=["allowed_origins"])
    offers = Purpose.objects.create(
        code="offers", name="Offers", channel="email", requires_double_opt_in=True
    )
    purpose_wording_add(purpose=offers, text="Send me offers.")

    with django_capture_on_commit_callbacks(execute=True):
        consent_capture(
            source_id=web_form.pk,
            captures=[capture(ada, message_type, {"offers": {"granted": True, "form": "s"}})],
        )

    assert list(ConsentRecord.objects.values_list("status", flat=True)) == ["pending_confirmation"]
    assert [mail.to for mail in mailoutbox] == [["ada@example.org"]]
