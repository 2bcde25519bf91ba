"""A steward switches the admin to French in a real headless browser and walks the main
pages; each is kept as a screenshot under var/screenshots/ (test artefacts)."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from campaigns.journeys.services import journey_create
from campaigns.services import broadcast_create, template_create
from collection.models import Form, ImportJob
from collection.services.forms import form_save
from consent.models import ConsentRecord, Purpose
from consent.services import consent_record, dsar_create, dsar_verify, purpose_wording_add
from profiles.models import Event, Profile, Source
from segments.services import segment_create
from tests.browser import chromium, needs_chromium, wait_page_left
from tests.campaigns.conftest import variants as template_variants
from tests.campaigns.journeys import welcome_definition

pytestmark = [pytest.mark.slow, needs_chromium]

SCREENSHOTS = Path(django_settings.VAR_DIR) / "screenshots"
PASSWORD = "correct horse battery"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    # An English browser: French comes from the steward's own choice in the header.
    with chromium(tmp_path / "chromium-profile", extra_arguments=("--lang=en-US",)) as driver:
        driver.set_window_size(1400, 1000)
        yield driver


@pytest.fixture
def steward(db: None) -> Any:
    user = get_user_model().objects.create_user(
        username="amelie", password=PASSWORD, is_staff=True, email="amelie@cdp.test"
    )
    user.groups.add(Group.objects.get(name="admin"))
    return user


@pytest.fixture
def pages(db: None, settings: Any, tmp_path: Path) -> dict[str, str]:
    """A person with events and consent, a segment, an import waiting for its mapping."""
    settings.MEDIA_ROOT = tmp_path / "media"
    source = Source.objects.create(name="Salon Vivatech", slug="vivatech", kind="trade_show")
    purpose = Purpose.objects.create(code="newsletter", name="Newsletter", channel="email")
    purpose_wording_add(purpose=purpose, text="Je souhaite recevoir la newsletter mensuelle.")
    person = Profile.objects.create(
        email="amelie.durand@example.fr",
        first_name="Amélie",
        last_name="Durand",
        city="Lyon",
        country="FR",
        language="fr",
    )
    now = timezone.now()
    Event.objects.create(
        profile=person,
        source=source,
        type="track",
        name="Guide Downloaded",
        occurred_at=now,
        received_at=now,
    )
    consent_record(
        profile_id=person.pk,
        purpose=purpose,
        status="granted",
        method=ConsentRecord.Method.FORM,
        proof={"form": "salon"},
    )
    segment = segment_create(
        name="Lyonnais abonnés",
        rule={"all": [{"field": "city", "op": "eq", "value": "Lyon"}, {"consent": "newsletter"}]},
    )
    from django.core.files.base import ContentFile

    job = ImportJob.objects.create(
        source=source,
        file=ContentFile(b"email;prenom\namelie@example.fr;Amelie\n", name="salon.csv"),
        original_name="salon.csv",
    )
    form = form_save(
        form=Form(
            name="Inscription salon",
            slug="inscription-salon",
            source=source,
            fields=[{"name": "email", "label": "E-mail", "target": "email", "type": "email"}],
            consent_purposes=["newsletter"],
        )
    )
    request = dsar_create(kind="erasure", email="amelie.durand@example.fr")
    dsar_verify(request=request, method="email", actor=None)
    template = template_create(name="Lettre mensuelle", variants=template_variants())
    journey = journey_create(
        name="Bienvenue",
        purpose_id=purpose.pk,
        definition=welcome_definition(segment.pk, template.pk),
    )
    broadcast = broadcast_create(
        name="Lettre de mars",
        segment_id=segment.pk,
        template_id=template.pk,
        purpose_id=purpose.pk,
    )
    return {
        "dashboard": "/admin/",
        "people": "/admin/profiles/profile/?q=durand",
        "profile": f"/admin/profiles/profile/{person.pk}/change/",
        "segment": f"/admin/segments/segment/{segment.pk}/change/",
        "import": f"/admin/collection/importjob/{job.pk}/mapping/",
        "consent": "/admin/consent/consentrecord/",
        "report": "/admin/reports/reportschedule/view/consent/",
        "form": f"/admin/collection/form/{form.pk}/change/",
        "request": f"/admin/consent/datasubjectrequest/{request.pk}/change/",
        "journey": f"/admin/campaigns/journey/{journey.pk}/change/",
        "broadcast": f"/admin/campaigns/broadcast/{broadcast.pk}/change/",
    }


# Words each page shows in French (and the English they replace, which must be gone).
EXPECTED = {
    "dashboard": (
        ["Chiffres clés", "Consentement et RGPD", "Personnes et qualité"],
        ["Key figures"],
    ),
    "profile": (["D’où vient chaque valeur", "Chronologie tous canaux", "Prénom"], ["First name"]),
    "segment": (["Éditeur de règle", "Modification de segment"], ["Rule builder"]),
    "import": (["Lecture du fichier", "Colonne du fichier"], ["Reading the file"]),
    "consent": (["Enregistrer une décision", "Registre des consentements"], ["Record a decision"]),
    "report": (["Rapport mensuel consentement et RGPD", "Consentement par finalité"], ["Period"]),
    "people": (["1 résultat", "Rechercher"], ["1 result"]),
    "form": (["Ajouter un champ", "Libellé lu par les personnes"], ["Add a field"]),
    "request": (["Étapes suivantes", "Effacer la personne…"], ["Next steps"]),
    "journey": (["Bienvenue", "Parcours"], ["Journey"]),
    "broadcast": (["Lettre de mars", "Envoi"], ["Broadcast"]),
}


@pytest.mark.django_db(transaction=True)
def test_a_steward_switches_to_french_and_every_main_page_speaks_it(
    live_server: Any, browser: Any, steward: Any, pages: dict[str, str]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.ID, "id_username").send_keys("amelie")
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # Each click is a page load: wait for it before the next step (a get would race it).
    WebDriverWait(browser, 30).until(lambda d: "/admin/login/" not in d.current_url)
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"

    Select(browser.find_element(By.ID, "language-select")).select_by_value("fr")
    switch = browser.find_element(By.CSS_SELECTOR, "#language-switch button")
    switch.click()
    wait_page_left(browser, switch)

    seen = {}
    for name, path in pages.items():
        browser.get(f"{live_server.url}{path}")
        body = html.unescape(browser.page_source)
        # The whole page, not the window: the window grows to the page's height.
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1400, min(max(1000, height + 150), 6000))
        browser.save_screenshot(str(SCREENSHOTS / f"admin-fr-{name}.png"))
        browser.set_window_size(1400, 1000)
        french, english = EXPECTED[name]
        seen[name] = (
            browser.find_element(By.TAG_NAME, "html").get_attribute("lang"),
            [word for word in french if word not in body],
            [word for word in english if word in body],
        )

    assert seen == {name: ("fr", [], []) for name in pages}
    assert sorted(p.name for p in SCREENSHOTS.glob("admin-fr-*.png")) == sorted(
        f"admin-fr-{name}.png" for name in pages
    )
