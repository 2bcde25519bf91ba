"""The Content-Security-Policy breaks no page: a real Chromium logs no violation.

The pages that run scripts or draw (the dashboard's Chart.js, the segment builder, the API
docs), the 360° page, an email preview (MJML output in a sandboxed frame), a preference
page and a form's own thank-you page are opened with a steward's session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from campaigns.services import template_create
from collection.models import Form
from collection.services.forms import form_html_snippet, form_save
from consent.links import preferences_token_make
from tests.browser import chromium, http_server, needs_chromium, static_site
from tests.campaigns.conftest import variants
from tests.consent.gdpr_helpers import ingest_person

pytestmark = [pytest.mark.slow, needs_chromium]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    with chromium(tmp_path / "chromium-profile") as driver:
        yield driver


def _console_errors(browser: Any) -> list[str]:
    """The console's errors since the last call (a missing favicon is not the page's)."""
    return [
        entry["message"]
        for entry in browser.get_log("browser")
        if entry["level"] == "SEVERE" and "/favicon.ico" not in entry["message"]
    ]


def _logged_in(browser: Any, live_server: Any, user: Any) -> None:
    client = Client()
    client.force_login(user)
    browser.get(f"{live_server.url}/health/")
    browser.add_cookie(
        {"name": "sessionid", "value": client.cookies["sessionid"].value, "path": "/"}
    )
    browser.get_log("browser")  # the health check answers 503 without a worker: not a page


@pytest.mark.django_db(transaction=True)
def test_the_admin_and_public_pages_run_under_the_policy_without_a_violation(
    live_server: Any, browser: Any, role_user: Any, web_form: Any, purposes: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    profile = ingest_person(web_form, message_id="m1")
    template = template_create(name="Monthly news", variants=variants())
    _logged_in(browser, live_server, role_user("steward"))
    pages = {
        "dashboard": "/admin/",
        "360": f"/admin/profiles/profile/{profile.pk}/change/",
        "builder": "/admin/segments/segment/add/",
        "preview": f"/admin/campaigns/template/{template.pk}/preview/?profile={profile.pk}",
        "api docs": "/api/docs/",
        "preferences": f"/consent/preferences/{preferences_token_make(profile_id=profile.pk)}/",
    }
    errors = {}
    for name, path in pages.items():
        browser.get(live_server.url + path)
        WebDriverWait(browser, 30).until(
            lambda driver: driver.execute_script("return document.readyState") == "complete"
        )
        if name == "dashboard":  # Chart.js drew into its canvases
            WebDriverWait(browser, 30).until(
                lambda driver: driver.execute_script(
                    "return !!window.Chart && Object.keys(Chart.instances).length > 0"
                )
            )
        if name == "builder":  # the builder's script built its editor
            WebDriverWait(browser, 30).until(
                lambda driver: driver.find_elements(By.CSS_SELECTOR, "#rule-builder *")
            )
        if name == "api docs":  # Swagger UI rendered the schema's operations
            WebDriverWait(browser, 30).until(
                lambda driver: driver.find_elements(By.CSS_SELECTOR, ".opblock")
            )
        errors[name] = _console_errors(browser)

    assert errors == {name: [] for name in pages}


@pytest.mark.django_db(transaction=True)
def test_a_forms_own_thank_you_page_runs_under_the_policy_without_a_violation(
    live_server: Any, browser: Any, web_form: Any, purposes: Any, tmp_path: Path, settings: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    root = tmp_path / "site"
    root.mkdir()
    with http_server(static_site(root)) as origin:
        web_form.allowed_origins = [origin]
        web_form.save(update_fields=["allowed_origins"])
        form = form_save(
            form=Form(
                name="Sign-up",
                slug="signup",
                source=web_form,
                fields=[{"name": "email", "label": "Email", "target": "email", "type": "email"}],
            )
        )
        (root / "join.html").write_text(
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Join</title>'
            f"</head><body>{form_html_snippet(form=form, base_url=live_server.url)}</body></html>"
        )
        browser.get(f"{origin}/join.html")
        browser.find_element(By.ID, "cdp-signup-email").send_keys("ada@example.org")
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(browser, 30).until(
            lambda driver: driver.current_url.startswith(live_server.url)
        )
        WebDriverWait(browser, 30).until(
            lambda driver: driver.execute_script("return document.readyState") == "complete"
        )

        assert _console_errors(browser) == []
        assert "Content-Security-Policy" in Client().get("/admin/login/").headers
