"""Fixtures of the consent tests: purposes with wordings, profiles, a decision helper."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission

from consent.models import Purpose
from consent.services import purpose_wording_add
from profiles.models import Profile
from tests.consent.helpers import NEWSLETTER_TEXT, OFFERS_TEXT


@pytest.fixture(autouse=True)
def _public_url(settings: Any) -> None:
    settings.CDP_PUBLIC_URL = "https://cdp.example.org"


@pytest.fixture
def staff_user(staff_user: Any) -> Any:
    """The API's staff user is a steward here: may record consent decisions."""
    staff_user.user_permissions.add(
        Permission.objects.get(content_type__app_label="consent", codename="add_consentrecord")
    )
    return staff_user


@pytest.fixture
def make_purpose(db: None) -> Any:
    """make_purpose(code, text=..., **fields) -> Purpose, with wording v1 unless text=None."""

    def make(code: str, *, text: str | None = "I agree.", **fields: Any) -> Purpose:
        fields.setdefault("name", code.replace("-", " ").capitalize())
        fields.setdefault("channel", Purpose.Channel.EMAIL)
        purpose = Purpose.objects.create(code=code, **fields)
        if text is not None:
            purpose_wording_add(purpose=purpose, text=text)
        return purpose

    return make


@pytest.fixture
def newsletter(make_purpose: Any) -> Purpose:
    return make_purpose("newsletter", name="Newsletter", text=NEWSLETTER_TEXT)


@pytest.fixture
def offers(make_purpose: Any) -> Purpose:
    return make_purpose("partner-offers", name="Partner offers", text=OFFERS_TEXT)


@pytest.fixture
def confirmed_news(make_purpose: Any) -> Purpose:
    """A purpose whose grants from forms and the API wait for an email confirmation."""
    return make_purpose(
        "confirmed-news",
        name="Confirmed news",
        text="Send me news once I confirm my address.",
        requires_double_opt_in=True,
    )


@pytest.fixture
def make_profile(db: None) -> Any:
    def make(email: str = "ada@example.org", **fields: Any) -> Profile:
        return Profile.objects.create(email=email, **fields)

    return make


@pytest.fixture
def ada(make_profile: Any) -> Profile:
    return make_profile("ada@example.org", first_name="Ada")
