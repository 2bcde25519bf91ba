"""A form's fields and a source's origins edited in a real headless Chromium: no JSON."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from collection.models import Form
from collection.services.forms import form_save
from profiles.models import Source
from tests.browser import admin_log_in, chromium, needs_chromium, wait_page_left

pytestmark = [pytest.mark.slow, needs_chromium]


@pytest.fixture(scope="module")
def module_browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        driver.set_window_size(1400, 1000)
        yield driver


@pytest.fixture
def browser(module_browser: Any) -> Iterator[Any]:
    """The module's browser (one for both languages), with no cookie left behind."""
    yield module_browser
    module_browser.delete_all_cookies()


# What the steward reads: the "add a row" button, a target's name, the save message.
WORDS = {
    "en": {"add": "Add a field", "company": "company", "saved": "was changed successfully"},
    "fr": {"add": "Ajouter un champ", "company": "entreprise", "saved": "a été modifié"},
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("lang", ["en", "fr"])
def test_a_steward_adds_a_field_and_an_origin_with_the_add_buttons(
    live_server: Any, browser: Any, web_form: Any, purposes: Any, lang: str
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    form = form_save(
        form=Form(
            name="Sign-up",
            slug="signup",
            source=web_form,
            fields=[{"name": "email", "label": "Email", "target": "email", "type": "email"}],
        )
    )
    get_user_model().objects.create_superuser("steward", "s@example.org", "widgets-pw-123")
    admin_log_in(browser, live_server.url, "steward", "widgets-pw-123", language=lang)
    words = WORDS[lang]

    browser.get(f"{live_server.url}/admin/collection/form/{form.pk}/change/")
    editor = browser.find_element(By.CSS_SELECTOR, ".form-fields-editor")
    for name in ("fields-1-name", "fields-2-name"):  # fill the two blank rows
        browser.find_element(By.NAME, name).send_keys("x")
    add = editor.find_element(By.CSS_SELECTOR, ".repeated-add")
    add_label = add.text
    add.click()
    browser.find_element(By.NAME, "fields-1-name").clear()
    browser.find_element(By.NAME, "fields-2-name").clear()
    browser.find_element(By.NAME, "fields-3-name").send_keys("company")
    browser.find_element(By.NAME, "fields-3-label").send_keys("Société")
    Select(browser.find_element(By.NAME, "fields-3-target")).select_by_visible_text(
        words["company"]
    )
    browser.find_element(By.NAME, "fields-3-required").click()
    browser.find_element(By.CSS_SELECTOR, "input[value=newsletter]").click()
    browser.find_element(By.NAME, "_continue").click()
    wait_page_left(browser, editor)
    errors = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".errorlist")]
    saved = browser.find_element(By.CSS_SELECTOR, "ul.messagelist li").text

    browser.get(f"{live_server.url}/admin/profiles/source/{web_form.pk}/change/")
    origins = browser.find_element(By.CSS_SELECTOR, ".repeated-inputs[data-for=allowed_origins]")
    origins.find_element(By.CSS_SELECTOR, ".repeated-add").click()
    inputs = origins.find_elements(By.CSS_SELECTOR, "input[name=allowed_origins]")
    inputs[-1].send_keys("https://www.example.fr/")
    browser.find_element(By.NAME, "_continue").click()
    # The save is a page load: read the database once the next page says it saved.
    wait_page_left(browser, origins)
    source_saved = browser.find_element(By.CSS_SELECTOR, "ul.messagelist li").text

    assert add_label == words["add"]
    assert errors == []
    assert words["saved"] in saved
    assert words["saved"] in source_saved
    form.refresh_from_db()
    assert form.fields == [
        {"name": "email", "label": "Email", "target": "email", "type": "email", "required": False},
        {
            "name": "company",
            "label": "Société",
            "target": "company",
            "type": "text",
            "required": True,
        },
    ]
    assert form.consent_purposes == ["newsletter"]
    assert len(inputs) == 3  # two blanks, and the one added
    assert Source.objects.get(pk=web_form.pk).allowed_origins == ["https://www.example.fr"]
