"""The segment builder in a real headless Chromium, as a steward uses it."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from tests.browser import admin_log_in, chromium, needs_chromium

pytestmark = [pytest.mark.slow, needs_chromium]


@pytest.fixture(scope="module")
def module_browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


@pytest.fixture
def browser(module_browser: Any) -> Iterator[Any]:
    """The module's browser (one for both languages), with no cookie left behind."""
    yield module_browser
    module_browser.delete_all_cookies()


def _log_in(browser: Any, live_server: Any, lang: str) -> None:
    get_user_model().objects.create_superuser("steward", "s@example.org", "builder-pw-123")
    admin_log_in(browser, live_server.url, "steward", "builder-pw-123", language=lang)


# What the steward reads in each language.
WORDS = {
    "en": {
        "shown": {"kind": "a profile field", "field": "country", "op": "is"},
        "is set": "is filled in",
        "now": "3 people now",
        "rule": "country is “FR”",
        "event": "an event",
    },
    "fr": {
        "shown": {"kind": "un champ du profil", "field": "pays", "op": "est"},
        "is set": "est renseigné",
        "now": "3 personnes actuellement",
        "rule": "pays est « FR »",
        "event": "un événement",
    },
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_builder_speaks_words_previews_while_typing_and_keeps_the_first_click(
    live_server: Any, browser: Any, make_profile: Any, make_event: Any, lang: str
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    for country in ("FR", "FR", "FR", "GB"):
        make_profile(country=country)
    make_event(make_profile(country="DE"), "Webinar Joined")
    _log_in(browser, live_server, lang)
    words = WORDS[lang]
    wait = WebDriverWait(browser, 15)

    browser.get(f"{live_server.url}/admin/segments/segment/add/")
    row = browser.find_element(By.CSS_SELECTOR, "#rule-builder .rb-row:nth-of-type(2)")
    selects = row.find_elements(By.TAG_NAME, "select")
    shown = {
        "kind": Select(selects[0]).first_selected_option.text,
        "field": Select(selects[1]).first_selected_option.text,
        "op": Select(selects[2]).first_selected_option.text,
    }
    ops = [option.text for option in Select(selects[2]).options]
    value = row.find_element(By.CSS_SELECTOR, "input[type=text]")
    value.send_keys("FR")  # no blur, no Enter: the preview follows the typing
    wait.until(
        lambda b: (
            b.find_element(By.ID, "rule-preview").get_attribute("data-state") == "done"
            and words["now"] in b.find_element(By.ID, "rule-preview").text
        )
    )
    preview_words = browser.find_element(By.ID, "rule-preview").text
    value.send_keys("A")  # "FRA", then straight to the button, focus still in the input
    browser.find_element(By.CSS_SELECTOR, "#rule-builder .rb-add-condition").click()
    rows_after_one_click = len(
        browser.find_elements(By.CSS_SELECTOR, "#rule-builder .rb-group > .rb-row")
    )
    rule = browser.find_element(By.NAME, "rule").get_attribute("value")
    second = browser.find_elements(By.CSS_SELECTOR, "#rule-builder .rb-group > .rb-row")[2]
    Select(second.find_element(By.TAG_NAME, "select")).select_by_visible_text(words["event"])
    second = browser.find_elements(By.CSS_SELECTOR, "#rule-builder .rb-group > .rb-row")[2]
    event_input = second.find_element(By.CSS_SELECTOR, "input[list]")
    suggested = browser.execute_script(
        "return [...document.getElementById(arguments[0]).options].map(o => o.value)",
        event_input.get_attribute("list"),
    )

    assert shown == words["shown"]
    assert words["is set"] in ops
    assert not {"eq", "ne", "is_set", "not_set", "in"} & set(ops)
    assert words["rule"] in preview_words
    # the group's head, two conditions and the buttons' row: one click added one condition
    assert rows_after_one_click == 4
    assert '"value": "FRA"' in rule
    assert suggested == ["Webinar Joined"]
