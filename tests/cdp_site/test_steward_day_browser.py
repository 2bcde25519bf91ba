"""A steward's day in a real headless Chromium, in English and in French: search, the 360°
page, an import's dry run, a merge, a data-subject request, `/`. Each test runs once per
language (the steward's choice, kept in the language cookie as the header's switch keeps
it) and asserts on the words that steward reads. One browser serves the whole module."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from collection.models import ImportJob
from consent.links import unsubscribe_url
from consent.models import DataSubjectRequest, PurposeVersion
from consent.services import consent_record, dsar_create, dsar_verify
from profiles.models import DataQualityIssue, Profile, ProfileMerge
from profiles.services import Message, ingest_messages
from tests.browser import admin_log_in, chromium, needs_chromium, wait_page_left

pytestmark = [pytest.mark.slow, needs_chromium]

PASSWORD = "correct horse battery"
LANGUAGES = ("en", "fr")


@pytest.fixture(scope="module")
def module_browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    profile = tmp_path_factory.mktemp("chromium-profile")
    with chromium(profile, extra_arguments=("--lang=en-US",)) as driver:
        driver.set_window_size(1400, 1000)
        yield driver


@pytest.fixture
def browser(module_browser: Any) -> Iterator[Any]:
    """The module's browser, with no cookie left by the test before."""
    yield module_browser
    module_browser.delete_all_cookies()


@pytest.fixture(params=LANGUAGES)
def lang(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def log_in(browser: Any, live_server: Any, lang: str, role: str = "admin") -> None:
    user = get_user_model().objects.create_user(
        username=f"{role}-{lang}", password=PASSWORD, is_staff=True, email=f"{role}@cdp.test"
    )
    user.groups.add(Group.objects.get(name=role))
    admin_log_in(browser, live_server.url, user.username, PASSWORD, language=lang)


def text(browser: Any, selector: str) -> str:
    from selenium.webdriver.common.by import By

    return " ".join(browser.find_element(By.CSS_SELECTOR, selector).text.split())


def texts(browser: Any, selector: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [" ".join(e.text.split()) for e in browser.find_elements(By.CSS_SELECTOR, selector)]


def page_language(browser: Any) -> str:
    from selenium.webdriver.common.by import By

    return str(browser.find_element(By.TAG_NAME, "html").get_attribute("lang"))


def click_and_wait(browser: Any, element: Any) -> None:
    """Click what submits or leaves the page, and wait for the next page to load."""
    element.click()
    wait_page_left(browser, element)


def person(source: Any, message_id: str, **traits: Any) -> Profile:
    result = ingest_messages(
        source=source, messages=[Message(type="identify", message_id=message_id, traits=traits)]
    )
    return Profile.objects.get(pk=result.results[0].profile_id)


# --- / ------------------------------------------------------------------------------------


ROOT = {"en": "Log in | CDP admin", "fr": "Connexion | Administration CDP"}


@pytest.mark.django_db(transaction=True)
def test_the_root_leads_to_the_admins_login(live_server: Any, browser: Any, lang: str) -> None:
    browser.get(f"{live_server.url}/admin/login/")
    browser.add_cookie({"name": "django_language", "value": lang})

    browser.get(f"{live_server.url}/")

    assert browser.current_url == f"{live_server.url}/admin/login/?next=/admin/"
    assert (page_language(browser), browser.title) == (lang, ROOT[lang])


# --- search -------------------------------------------------------------------------------


SEARCH = {
    "en": {"button": "Search", "count": "1 result"},
    "fr": {"button": "Rechercher", "count": "1 résultat"},
}


@pytest.mark.django_db(transaction=True)
def test_search_finds_a_person_as_a_steward_types_them(
    live_server: Any, browser: Any, lang: str, web_form: Any
) -> None:
    from selenium.webdriver.common.by import By

    person(
        web_form,
        "m1",
        email="a.durand@example.fr",
        firstName="Amélie",
        lastName="Durand",
        phone="06 12 34 56 78",
    )
    person(web_form, "m2", email="emile@example.fr", firstName="Émile", lastName="Zola")
    log_in(browser, live_server, lang)
    browser.get(f"{live_server.url}/admin/profiles/profile/")
    button = browser.find_element(By.CSS_SELECTOR, "#changelist-search input[type=submit]")
    label = button.get_attribute("value")

    found = {}
    for query in ("amelie durand", "Amélie", "06 12 34 56 78", "0612345678", "a.dur"):
        box = browser.find_element(By.ID, "searchbar")
        box.clear()
        box.send_keys(query)
        click_and_wait(
            browser, browser.find_element(By.CSS_SELECTOR, "#changelist-search input[type=submit]")
        )
        found[query] = (
            text(browser, "#changelist-search .small").split(" (")[0],
            [
                word
                for row in texts(browser, "#result_list tbody tr")
                for word in row.split()
                if "@" in word
            ],
        )

    assert label == SEARCH[lang]["button"]
    assert found == dict.fromkeys(found, (SEARCH[lang]["count"], ["a.durand@example.fr"]))


# --- the 360° page ------------------------------------------------------------------------


PAGE_360 = {
    "en": {
        "consent": "Consent",
        "now": "may not be contacted",
        "withdrawn": "Withdrawn",
        "granted": "Granted",
        "never": "Partners never asked",
        "link": "open the preference page",
        "preferences": "Your choices",
    },
    "fr": {
        "consent": "Consentement",
        "now": "ne peut pas être contacté",
        "withdrawn": "Retiré",
        "granted": "Accordé",
        "never": "Partners jamais demandé",
        "link": "ouvrir le centre de préférences",
        "preferences": "Vos choix",
    },
}


@pytest.mark.django_db(transaction=True)
def test_the_360_page_is_named_and_shows_consent_history_proof_and_the_preference_link(
    live_server: Any,
    browser: Any,
    lang: str,
    web_form: Any,
    purposes: dict[str, Any],
    settings: Any,
) -> None:
    from django.test import Client
    from selenium.webdriver.common.by import By

    amelie = person(
        web_form, "m1", email="amelie@example.fr", firstName="Amélie", lastName="Durand"
    )
    Profile.objects.filter(pk=amelie.pk).update(language=lang)
    consent_record(
        profile_id=amelie.pk,
        purpose=purposes["newsletter"],
        status="granted",
        method="form",
        proof={"form": "salon-2026"},
        source_id=web_form.pk,
        wording=PurposeVersion.objects.get(purpose=purposes["newsletter"]),
    )
    Client().post(unsubscribe_url(profile_id=amelie.pk, purpose_id=purposes["newsletter"].pk))
    settings.CDP_PUBLIC_URL = live_server.url
    log_in(browser, live_server, lang, role="steward")
    words = PAGE_360[lang]

    browser.get(f"{live_server.url}/admin/profiles/profile/{amelie.pk}/change/")
    heading = text(browser, "#content h1")
    title = browser.title
    consent_heading = text(browser, "h2#consent")
    rows = texts(browser, "table.consent360 tbody tr")
    link = browser.find_element(By.LINK_TEXT, words["link"]).get_attribute("href")
    browser.get(link)
    preferences = (page_language(browser), text(browser, "h1"))

    assert heading == "Amélie Durand"
    assert title.startswith("Amélie Durand")
    assert consent_heading == words["consent"]
    assert rows[0].startswith(f"Newsletter {words['now']} {words['withdrawn']}")
    assert rows[1].startswith(words["granted"])
    assert "form: salon-2026" in rows[1]
    assert "Website sign-up" in rows[1]
    assert rows[2] == words["never"]
    assert preferences[0] == lang
    assert preferences[1] == words["preferences"]


# --- an import's dry run ------------------------------------------------------------------


ISSUES_CSV = (
    b"Email,Phone,Born,Country,Opt-in newsletter\r\n"
    b"amelie@example.fr,06 12 34 56 78,1990-02-14,FR,oui\r\n"
    b"ben@example.fr,0612,1990-02-31,Atlantis,non\r\n"
    b"cleo@example.fr,,,,\r\n"
)

IMPORT = {
    "en": {
        "consent target": "Consent to newsletter (yes grants; no or empty: not given)",
        "ok": "OK",
        "ben": "imported; 3 values become data-quality issues",
        "issue": "data-quality issue, kept out of the profile",
        "link": "3 values of this import became data-quality issues",
    },
    "fr": {
        "consent target": "Consentement à newsletter (oui l’accorde ; non ou vide : non donné)",
        "ok": "OK",
        "ben": "importée ; 3 valeurs deviennent des problèmes de qualité des données",
        "issue": "problème de qualité, valeur écartée du profil",
        "link": "3 valeurs de cet import sont devenues des problèmes de qualité des données",
    },
}


@pytest.mark.django_db(transaction=True)
def test_an_imports_dry_run_shows_the_values_that_become_issues_and_the_job_links_to_them(
    live_server: Any,
    browser: Any,
    lang: str,
    purposes: dict[str, Any],
    settings: Any,
    tmp_path: Path,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from profiles.models import Source

    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.MEDIA_ROOT = tmp_path / "media"
    Source.objects.create(
        name="Salon Vivatech", slug="vivatech", kind="trade_show", default_phone_region="FR"
    )
    csv_file = tmp_path / "salon.csv"
    csv_file.write_bytes(ISSUES_CSV)
    words = IMPORT[lang]
    log_in(browser, live_server, lang, role="steward")

    browser.get(f"{live_server.url}/admin/collection/importjob/add/")
    Select(browser.find_element(By.NAME, "source")).select_by_visible_text("Salon Vivatech")
    browser.find_element(By.NAME, "file").send_keys(str(csv_file))
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "input[type=submit].default"))
    targets = [Select(browser.find_element(By.NAME, f"target_{n}")) for n in range(5)]
    suggested = targets[4].first_selected_option.text
    targets[2].select_by_value("date_of_birth")
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "input[type=submit].default"))
    outcomes = texts(browser, "#import-preview td.row-outcome")
    ben_cells = texts(browser, "#import-preview tbody tr:nth-child(2) td")
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "input[type=submit].default"))
    link = browser.find_element(By.CSS_SELECTOR, "#import-issues a")
    link_words = " ".join(link.text.split())
    click_and_wait(browser, link)
    listed = len(browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr"))

    assert suggested == words["consent target"]
    assert outcomes == [words["ok"], words["ben"], words["ok"]]
    assert sum(words["issue"] in cell for cell in ben_cells) == 3
    assert ben_cells[5] == "non"  # no consent given: nothing recorded, not a withdrawal
    assert link_words == words["link"]
    assert listed == DataQualityIssue.objects.count() == 3
    assert ImportJob.objects.get().status == "done"


# --- a merge ------------------------------------------------------------------------------


MERGE = {
    "en": {
        "action": "Merge the two selected profiles…",
        "next": "Next: what each field keeps",
        "first name": "First name",
        "why trusted": "CRM export is trusted more than Website sign-up",
        "yes": "Yes, merge",
    },
    "fr": {
        "action": "Fusionner les deux profils sélectionnés…",
        "next": "Suivant : ce que garde chaque champ",
        "first name": "Prénom",
        "why trusted": "CRM export est jugée plus fiable que Website sign-up",
        "yes": "Oui, fusionner",
    },
}


@pytest.mark.django_db(transaction=True)
def test_a_merge_shows_what_each_field_keeps_and_merges_once_confirmed(
    live_server: Any, browser: Any, lang: str, web_form: Any, crm: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    kept = person(web_form, "m1", email="ada@lovelace.org", firstName="Ada", city="Paris")
    other = person(crm, "m2", email="ada.l@lovelace.org", firstName="Augusta")
    words = MERGE[lang]
    log_in(browser, live_server, lang, role="steward")

    browser.get(f"{live_server.url}/admin/profiles/profile/")
    for pk in (kept.pk, other.pk):
        browser.find_element(By.CSS_SELECTOR, f"input.action-select[value='{pk}']").click()
    Select(browser.find_element(By.NAME, "action")).select_by_visible_text(words["action"])
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "button[name=index]"))
    browser.find_element(By.CSS_SELECTOR, f"input[name=survivor][value='{kept.pk}']").click()
    next_button = browser.find_element(By.CSS_SELECTOR, "input[type=submit]")
    next_label = next_button.get_attribute("value")
    click_and_wait(browser, next_button)
    plan = texts(browser, "table.cdp-plan tbody tr")
    first_name = [row for row in plan if row.startswith(words["first name"])]
    merges_before = ProfileMerge.objects.count()
    yes = browser.find_element(By.CSS_SELECTOR, "input[type=submit].default")
    yes_label = yes.get_attribute("value")
    click_and_wait(browser, yes)

    assert next_label == words["next"]
    assert first_name == [f"{words['first name']} Ada Augusta Augusta {words['why trusted']}"]
    assert merges_before == 0
    assert yes_label == words["yes"]
    survivor = Profile.objects.get(pk=kept.pk)
    assert (survivor.first_name, survivor.city) == ("Augusta", "Paris")
    assert Profile.objects.get(pk=other.pk).status == "merged"


# --- a data-subject request ---------------------------------------------------------------


REQUEST = {
    "en": {
        "buttons": ["Extend the deadline…", "Erase the person…"],
        "total": "records will be erased or anonymised:",
        "button": "Erase for good",
        "done": "1 request carried out: the person is erased.",
        "records": (
            "Profiles — profiles 1, identities 1, field sources 3, events 1, audit entries 1"
        ),
    },
    "fr": {
        "buttons": ["Prolonger le délai…", "Effacer la personne…"],
        "total": "enregistrements seront effacés ou anonymisés :",
        "button": "Effacer définitivement",
        "done": "1 demande exécutée : la personne est effacée.",
        "records": (
            "Profils — profils 1, identités 1, sources des champs 3, événements 1, "
            "entrées d’audit 1"
        ),
    },
}


@pytest.mark.django_db(transaction=True)
def test_an_erasure_is_a_button_on_the_requests_page_confirmed_with_people_and_counts(
    live_server: Any, browser: Any, lang: str, web_form: Any
) -> None:
    from selenium.webdriver.common.by import By

    ada = person(
        web_form,
        "m1",
        email="ada.lovelace@example.org",
        firstName="Augusta",
        lastName="Lovelace-Byron",
    )
    request = dsar_create(kind="erasure", email="ada.lovelace@example.org")
    dsar_verify(request=request, method="email", actor=None)
    words = REQUEST[lang]
    log_in(browser, live_server, lang, role="admin")

    browser.get(f"{live_server.url}/admin/consent/datasubjectrequest/{request.pk}/change/")
    buttons = texts(browser, "#request-actions button")
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "button[value=erase]"))
    people = texts(browser, ".erasure-preview tbody tr")
    total = text(browser, ".erasure-total")
    records = texts(browser, ".erasure-preview li")
    confirm = browser.find_element(By.CSS_SELECTOR, "input[type=submit].default")
    confirm_label = confirm.get_attribute("value")
    click_and_wait(browser, confirm)
    back_on = browser.current_url
    messages = texts(browser, "ul.messagelist li")

    assert buttons == words["buttons"]
    assert len(people) == 1
    assert people[0].startswith(f"#{ada.pk} Augusta Lovelace-Byron ada.lovelace@example.org")
    assert re.fullmatch(rf"\d+ {words['total']}", total)
    assert confirm_label == words["button"]
    assert back_on.endswith(f"/admin/consent/datasubjectrequest/{request.pk}/change/")
    assert messages == [words["done"]]
    assert records == [words["records"]]
    assert DataSubjectRequest.objects.get(pk=request.pk).status == "done"
    assert Profile.objects.get(pk=ada.pk).status == "erased"
