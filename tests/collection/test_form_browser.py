"""The admin's HTML snippet, pasted into another site and submitted by a real headless browser."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from collection.models import Form
from collection.services.forms import form_html_snippet, form_save
from profiles.models import Event, Profile
from tests.browser import chromium, http_server, needs_chromium, static_site

pytestmark = [pytest.mark.slow, needs_chromium]


@pytest.fixture(autouse=True)
def _purposes(purposes: Any) -> None:
    """Forms may only ask for purposes that exist with a wording."""


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The organisation's own web site: a second small HTTP server on another port."""
    root = tmp_path / "site"
    root.mkdir()
    with http_server(static_site(root)) as url:
        yield url, root


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    with chromium(tmp_path / "chromium-profile") as driver:
        yield driver


@pytest.mark.django_db(transaction=True)
def test_a_person_submits_the_pasted_snippet_and_lands_on_the_thank_you_page(
    live_server: Any, site: tuple[str, Path], browser: Any, web_form: Any, settings: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"forms-browser-{uuid4()}",
        }
    }
    origin, root = site
    web_form.allowed_origins = [origin]
    web_form.save(update_fields=["allowed_origins"])
    form = form_save(
        form=Form(
            name="Sign-up",
            slug="signup",
            source=web_form,
            fields=[
                {"name": "email", "label": "Email", "target": "email", "type": "email",
                 "required": True},
                {"name": "first_name", "label": "First name", "target": "first_name",
                 "type": "text"},
                {"name": "plan", "label": "Plan", "target": "traits.plan", "type": "select",
                 "choices": ["free", "pro"]},
            ],
            consent_purposes=["newsletter", "partners"],
            thank_you_url=f"{origin}/thanks.html",
        )
    )  # fmt: skip
    (root / "thanks.html").write_text("<!doctype html><title>Thanks</title><h1>Thanks!</h1>")
    (root / "join.html").write_text(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Join us</title>'
        f"</head><body>{form_html_snippet(form=form, base_url=live_server.url)}</body></html>"
    )

    browser.get(f"{origin}/join.html")
    browser.find_element(By.ID, "cdp-signup-email").send_keys("Ada@Example.org")
    browser.find_element(By.ID, "cdp-signup-first_name").send_keys("Ada")
    browser.find_element(By.CSS_SELECTOR, "#cdp-signup-plan option[value=pro]").click()
    browser.find_element(By.ID, "cdp-signup-consent_newsletter").click()
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 30).until(expected_conditions.url_to_be(f"{origin}/thanks.html"))

    assert browser.current_url == f"{origin}/thanks.html"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Thanks!"
    profile = Profile.objects.get(email="ada@example.org")
    assert (profile.first_name, profile.traits) == ("Ada", {"plan": "pro"})
    event = Event.objects.get(type="form")
    assert (event.profile_id, event.name) == (profile.pk, "signup")
    assert event.context["consent"] == {
        "newsletter": {"granted": True, "form": "signup", "wording_version": 1},
        "partners": {"granted": False, "form": "signup", "wording_version": 1},
    }
    assert Profile.objects.count() == 1
