"""Withdrawal as easy as giving: unsubscribe links (page and RFC 8058), preference page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from consent.links import (
    consent_unsubscribe_headers,
    preferences_token_make,
    unsubscribe_token_make,
)
from consent.models import ConsentRecord, Purpose
from consent.selectors import consent_current, consent_state_for_profile
from consent.services import purpose_wording_add
from profiles.models import Profile
from tests.consent.helpers import decide

pytestmark = pytest.mark.django_db


def _unsubscribe_path(profile: Profile, purpose: Purpose) -> str:
    token = unsubscribe_token_make(profile_id=profile.pk, purpose_id=purpose.pk)
    return f"/consent/unsubscribe/{token}/"


def _preferences_path(profile: Profile) -> str:
    return f"/consent/preferences/{preferences_token_make(profile_id=profile.pk)}/"


def test_the_email_headers_name_the_one_click_unsubscribe_url(
    ada: Profile, newsletter: Purpose
) -> None:
    headers = consent_unsubscribe_headers(profile_id=ada.pk, purpose_id=newsletter.pk)

    assert headers == {
        "List-Unsubscribe": f"<https://cdp.example.org{_unsubscribe_path(ada, newsletter)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def test_opening_the_unsubscribe_link_shows_a_button_and_changes_nothing(
    ada: Profile, newsletter: Purpose, client: Any
) -> None:
    decide(ada, newsletter)

    response = client.get(_unsubscribe_path(ada, newsletter))

    assert response.status_code == 200
    assert b"Unsubscribe from \xe2\x80\x9cNewsletter\xe2\x80\x9d?" in response.content
    assert consent_current(profile_id=ada.pk, purpose=newsletter).status == "granted"


def test_the_unsubscribe_button_withdraws_with_proof(
    ada: Profile, newsletter: Purpose, client: Any
) -> None:
    decide(ada, newsletter)

    response = client.post(
        _unsubscribe_path(ada, newsletter),
        HTTP_USER_AGENT="Browser/2.0",
        REMOTE_ADDR="2001:db8:1234:5678::1",
    )

    assert response.status_code == 200
    assert b"You are unsubscribed" in response.content
    record = consent_current(profile_id=ada.pk, purpose=newsletter)
    assert (record.status, record.method) == ("withdrawn", "unsubscribe_link")
    assert {key: record.proof[key] for key in ("ip", "user_agent", "one_click")} == {
        "ip": "2001:db8:1234::",
        "user_agent": "Browser/2.0",
        "one_click": False,
    }


def test_a_one_click_post_withdraws_without_a_page(
    ada: Profile, newsletter: Purpose, client: Any
) -> None:
    decide(ada, newsletter)

    response = client.post(
        _unsubscribe_path(ada, newsletter),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    assert (response.status_code, response.content) == (200, b"Unsubscribed.\n")
    record = consent_current(profile_id=ada.pk, purpose=newsletter)
    assert (record.status, record.method, record.proof["one_click"]) == (
        "withdrawn",
        "unsubscribe_link",
        True,
    )


def test_unsubscribing_twice_adds_one_record(
    ada: Profile, newsletter: Purpose, client: Any
) -> None:
    decide(ada, newsletter)
    path = _unsubscribe_path(ada, newsletter)

    client.post(path)
    client.post(path)

    assert ConsentRecord.objects.filter(status="withdrawn").count() == 1


def test_the_csrf_check_does_not_stop_a_one_click_post(ada: Profile, newsletter: Purpose) -> None:
    decide(ada, newsletter)

    response = Client(enforce_csrf_checks=True).post(
        _unsubscribe_path(ada, newsletter), {"List-Unsubscribe": "One-Click"}
    )

    assert response.status_code == 200
    assert consent_current(profile_id=ada.pk, purpose=newsletter).status == "withdrawn"


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_tampered_unsubscribe_link_is_a_400_page(
    ada: Profile, newsletter: Purpose, client: Any, method: str
) -> None:
    decide(ada, newsletter)
    path = _unsubscribe_path(ada, newsletter).replace(":", ":x", 1)

    response = getattr(client, method)(path)

    assert response.status_code == 400
    assert b"This link cannot be used" in response.content
    assert ConsentRecord.objects.count() == 1


def test_unsubscribing_an_erased_person_answers_the_same_and_records_nothing(
    make_profile: Any, newsletter: Purpose, client: Any
) -> None:
    erased = make_profile("", status=Profile.Status.ERASED)

    response = client.post(_unsubscribe_path(erased, newsletter))

    assert response.status_code == 200
    assert ConsentRecord.objects.count() == 0


def test_the_preference_page_shows_every_active_purpose_and_its_state(
    ada: Profile, newsletter: Purpose, offers: Purpose, make_purpose: Any, client: Any
) -> None:
    make_purpose("retired", name="Retired purpose", is_active=False)
    decide(ada, newsletter)
    decide(ada, offers, "withdrawn")

    response = client.get(_preferences_path(ada))

    html = response.content.decode()
    assert response.status_code == 200
    assert re.findall(r'name="granted" value="([^"]+)"( checked)?', html) == [
        ("newsletter", " checked"),
        ("partner-offers", ""),
    ]
    assert "Retired purpose" not in html
    assert "Send me partner offers by email." in html


def test_saving_preferences_records_what_changed_only(
    ada: Profile, newsletter: Purpose, offers: Purpose, make_purpose: Any, client: Any
) -> None:
    surveys = make_purpose("surveys", name="Surveys")
    decide(ada, newsletter)
    purpose_wording_add(purpose=offers, text="Partner offers, second wording.")

    response = client.post(
        _preferences_path(ada),
        {
            "shown": ["newsletter", "partner-offers", "surveys"],
            "version_newsletter": "1",
            "version_partner-offers": "1",
            "version_surveys": "1",
            "granted": ["partner-offers"],
        },
        REMOTE_ADDR="203.0.113.77",
    )

    assert response.status_code == 303
    assert response["Location"].endswith("?saved=1")
    changes = list(
        ConsentRecord.objects.filter(method="preference_page")
        .order_by("purpose__code")
        .values_list("purpose__code", "status", "wording__version", "proof__ip")
    )
    assert changes == [
        ("newsletter", "withdrawn", None, "203.0.113.0"),
        ("partner-offers", "granted", 1, "203.0.113.0"),
    ]
    assert consent_current(profile_id=ada.pk, purpose=surveys) is None


def test_saving_the_same_preferences_again_adds_nothing(
    ada: Profile, newsletter: Purpose, client: Any
) -> None:
    decide(ada, newsletter)
    form = {"shown": ["newsletter"], "version_newsletter": "1", "granted": ["newsletter"]}

    client.post(_preferences_path(ada), form)

    assert ConsentRecord.objects.count() == 1
    assert [s.status for s in consent_state_for_profile(profile_id=ada.pk)] == ["granted"]


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_tampered_preference_link_is_a_400_page(
    ada: Profile, newsletter: Purpose, client: Any, method: str
) -> None:
    path = _preferences_path(ada).replace(":", ":x", 1)

    response = getattr(client, method)(path, {"shown": ["newsletter"]})

    assert response.status_code == 400
    assert ConsentRecord.objects.count() == 0


def test_an_unsubscribe_token_does_not_open_the_preference_page(
    ada: Profile, newsletter: Purpose, client: Any
) -> None:
    token = unsubscribe_token_make(profile_id=ada.pk, purpose_id=newsletter.pk)

    response = client.get(f"/consent/preferences/{token}/")

    assert response.status_code == 400
