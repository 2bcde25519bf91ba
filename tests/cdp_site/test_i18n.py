"""Two languages: every string marked and translated, and each reader gets theirs.

The admin follows the steward (the language switch, else the browser); a person's pages and
emails follow the person (their profile's language, else their browser's, else the
organisation's default). See docs/i18n.md.
"""

from __future__ import annotations

import gettext
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from uuid import uuid4

import pytest
from babel.messages.pofile import read_po
from django.core.management import call_command
from django.utils import translation

from collection.models import Form
from collection.services.forms import form_save
from consent.links import unsubscribe_token_make
from consent.models import ConsentRecord, Purpose
from consent.services import consent_record, purpose_wording_add
from core.i18n import language_supported, person_language
from profiles.models import DuplicateCandidate, Profile
from tests.cdp_site import i18n_scan

ROOT = Path(__file__).resolve().parent.parent.parent
PO = ROOT / "locale" / "fr" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
FRENCH = {"HTTP_ACCEPT_LANGUAGE": "fr-FR,fr;q=0.9,en;q=0.5"}
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


# --- Every string marked (the scanner of tests/cdp_site/i18n_scan.py) --------------------


def test_no_template_shows_text_outside_translation_tags() -> None:
    found = [f for path in i18n_scan.template_files() for f in i18n_scan.template_unmarked(path)]

    assert found == []


def test_no_python_module_gives_people_an_unmarked_string() -> None:
    found = [f for path in i18n_scan.python_files() for f in i18n_scan.python_unmarked(path)]

    assert found == []


def test_the_scanner_finds_unmarked_text_in_a_template(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(
        "{% load i18n %}<h1>{% translate 'Marked' %}</h1>\n"
        "<p>Left in English</p>\n"
        '<input type="submit" value="Send">\n'
        "{% blocktranslate %}Also marked {{ x }}{% endblocktranslate %}\n"
        "<style>p { color: red }</style>{{ variable }}\n"
    )

    assert i18n_scan.template_unmarked(page) == [
        "page.html:2: 'Left in English'",
        "page.html:3: 'Send'",
    ]


def test_the_scanner_finds_unmarked_strings_in_python(tmp_path: Path) -> None:
    module = tmp_path / "models.py"
    module.write_text(
        "from django.db import models\n"
        "from django.utils.translation import gettext_lazy as _\n"
        "class Thing(models.Model):\n"
        "    name = models.CharField(max_length=9, help_text='Shown to people')\n"
        "    code = models.CharField(_('code'), max_length=9)\n"
        "    class Meta:\n"
        "        verbose_name = _('thing')\n"
        "        verbose_name_plural = _('things')\n"
        "def act(request):\n"
        "    messages.success(request, f'Saved {request.pk}.')\n"
        "    raise ThingError('Not allowed here.', fields={'name': [_('Marked.')]})\n"
    )

    assert [line.split(": ")[1] for line in i18n_scan.python_unmarked(module)] == [
        "field without verbose_name",
        "help_text=",
        "messages.success",
        "raise ThingError",
    ]


# --- Every string translated into French ---------------------------------------------------


def test_every_french_message_is_translated_and_none_is_fuzzy() -> None:
    catalogue = read_po(PO.open("rb"), locale="fr")
    messages = [m for m in catalogue if m.id]

    untranslated = [
        m.id for m in messages if not (m.string if isinstance(m.string, str) else all(m.string))
    ]
    fuzzy = [m.id for m in messages if m.fuzzy]
    assert len(messages) > 1000
    assert (untranslated, fuzzy) == ([], [])


def test_the_committed_mo_file_is_compiled_from_the_po_file() -> None:
    """The .mo files are committed (a fresh machine needs no msgfmt): they must be current."""
    compiled = gettext.GNUTranslations(MO.open("rb"))._catalog  # type: ignore[attr-defined]
    expected: dict[Any, str] = {}
    for message in read_po(PO.open("rb"), locale="fr"):
        if not message.id:
            continue
        if isinstance(message.id, str):
            key = message.id if not message.context else f"{message.context}\x04{message.id}"
            expected[key] = message.string
        else:
            for index, text in enumerate(message.string):
                expected[(message.id[0], index)] = text

    assert {k: v for k, v in compiled.items() if k != ""} == expected


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("xgettext") is None, reason="makemessages needs gettext")
def test_the_po_file_holds_exactly_the_strings_of_the_code(
    tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """makemessages run afresh (on links to the apps, writing elsewhere) finds no string the
    catalogue lacks, and none it has left over."""
    for app in i18n_scan.APPS:
        (tmp_path / app).symlink_to(ROOT / app, target_is_directory=True)
    (tmp_path / "locale").mkdir()
    settings.LOCALE_PATHS = [tmp_path / "locale"]
    monkeypatch.chdir(tmp_path)
    call_command("makemessages", locale=["fr"], symlinks=True, verbosity=0)
    fresh = {m.id if isinstance(m.id, str) else tuple(m.id) for m in read_po(
        (tmp_path / "locale" / "fr" / "LC_MESSAGES" / "django.po").open("rb")
    ) if m.id}  # fmt: skip
    committed = {
        m.id if isinstance(m.id, str) else tuple(m.id) for m in read_po(PO.open("rb")) if m.id
    }

    assert (sorted(map(str, fresh - committed)), sorted(map(str, committed - fresh))) == ([], [])


# --- The steward's admin ---------------------------------------------------------------------


@pytest.fixture
def steward_client(client: Any, staff_user: Any) -> Any:
    client.force_login(staff_user)
    return client


def test_the_admin_answers_in_the_browsers_language(steward_client: Any) -> None:
    french = steward_client.get("/admin/profiles/profile/", **FRENCH)
    english = steward_client.get("/admin/profiles/profile/")

    assert french["Content-Language"] == "fr"
    assert "<title>Sélectionnez l’objet profil à changer | Administration CDP</title>" in (
        french.content.decode()
    )
    assert english["Content-Language"] == "en"
    assert "<title>Select profile to change | CDP admin</title>" in english.content.decode()


def test_the_language_switch_keeps_the_stewards_choice(steward_client: Any) -> None:
    switched = steward_client.post(
        "/i18n/setlang/", {"language": "fr", "next": "/admin/"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    page = steward_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert (switched.status_code, switched["Location"]) == (302, "/admin/")
    assert '<html lang="fr"' in page
    assert "Consentement et RGPD" in page
    assert '<option value="fr" lang="fr" selected>Français</option>' in page
    back = steward_client.post("/i18n/setlang/", {"language": "en", "next": "/admin/"})
    assert back.status_code == 302
    assert "Consent and GDPR" in steward_client.get("/admin/", **FRENCH).content.decode()


def test_the_admin_reads_model_field_and_choice_names_in_french(steward_client: Any) -> None:
    profile = Profile.objects.create(email="amelie@example.org", first_name="Amélie")

    page = steward_client.get(f"/admin/profiles/profile/{profile.pk}/change/", **FRENCH)

    text = page.content.decode()
    assert page.status_code == 200
    assert ">Prénom\u00a0:</label>" in text
    assert ">Étape du cycle de vie\u00a0:</label>" in text
    assert "<h2>D’où vient chaque valeur</h2>" in text


def test_dates_and_numbers_follow_the_language(steward_client: Any) -> None:
    low = Profile.objects.create(email="a@example.org")
    high = Profile.objects.create(email="b@example.org")
    candidate = DuplicateCandidate.objects.create(
        profile_low=low,
        profile_high=high,
        score=0.875,
        features={},
        found_at=datetime(2026, 3, 5, 14, 30, tzinfo=UTC),
        scored_at=datetime(2026, 3, 5, 14, 30, tzinfo=UTC),
    )
    url = f"/admin/profiles/duplicatecandidate/{candidate.pk}/change/"

    french = steward_client.get(url, **FRENCH).content.decode()
    english = steward_client.get(url).content.decode()

    assert "<strong>0,875</strong>" in french
    assert "Trouvé le 05/03/2026 14:30." in french
    assert "<strong>0.875</strong>" in english
    assert "Found 2026-03-05 14:30." in english


def test_an_api_error_keeps_its_code_and_speaks_french(steward_client: Any) -> None:
    profile = Profile.objects.create(email="ada@example.org")

    response = steward_client.post(
        "/api/consent/records/",
        {"profile": profile.pk, "purpose": "no-such-purpose", "status": "granted", "proof": {}},
        content_type="application/json",
        **FRENCH,
    )

    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (400, "invalid")
    assert error["fields"]["purpose"] == ["Aucune finalité avec ce code."]


# --- A person's pages and emails -----------------------------------------------------------


def test_a_stated_language_is_read_by_its_primary_code(settings: Any) -> None:
    assert [language_supported(stated=s) for s in ("fr-FR", "fr_CA", "EN", "de", "", None)] == [
        "fr",
        "fr",
        "en",
        None,
        None,
        None,
    ]
    with translation.override("en"):
        assert (person_language(stated="fr-BE"), person_language(stated="de")) == ("fr", "en")


@pytest.fixture
def signup(web_form: Any, purposes: Any, settings: Any) -> Form:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"i18n-{uuid4()}",
        }
    }
    return form_save(
        form=Form(
            name="Inscription",
            slug="signup",
            source=web_form,
            fields=[
                {"name": "email", "label": "E-mail", "target": "email", "type": "email",
                 "required": True},
            ],
            consent_purposes=["newsletter"],
        )
    )  # fmt: skip


def _post_form(client: Any, data: dict[str, str], language: str) -> Any:
    return client.post(
        "/api/forms/signup/submissions",
        urlencode(data),
        content_type="application/x-www-form-urlencoded",
        headers={"Accept": BROWSER_ACCEPT, "Accept-Language": language},
    )


def test_a_person_reads_the_form_errors_in_their_browsers_language(
    client: Any, signup: Form
) -> None:
    page = _post_form(client, {"email": "ada@"}, "fr-FR,fr;q=0.9").content.decode()

    assert '<html lang="fr">' in page
    assert "<h1>Merci de vérifier le formulaire</h1>" in page
    assert "<dd>Saisissez une adresse e-mail valide.</dd>" in page
    assert "Utilisez le bouton Retour de votre navigateur" in page
    assert Profile.objects.count() == 0


def test_a_person_reads_the_thank_you_page_in_their_browsers_language(
    client: Any, signup: Form
) -> None:
    french = _post_form(client, {"email": "ada@example.org"}, "fr").content.decode()
    english = _post_form(client, {"email": "bob@example.org"}, "en-GB").content.decode()

    assert "<h1>Merci</h1>" in french
    assert "Vos réponses ont bien été reçues." in french
    assert "<h1>Thank you</h1>" in english


def test_a_persons_consent_page_follows_their_profile_before_their_browser(
    client: Any, purposes: dict[str, Purpose]
) -> None:
    french = Profile.objects.create(email="amelie@example.org", language="fr-FR")
    unknown = Profile.objects.create(email="ada@example.org")
    newsletter = purposes["newsletter"]

    def page(profile: Profile, language: str) -> str:
        token = unsubscribe_token_make(profile_id=profile.pk, purpose_id=newsletter.pk)
        return client.get(
            f"/consent/unsubscribe/{token}/", HTTP_ACCEPT_LANGUAGE=language
        ).content.decode()

    token = unsubscribe_token_make(profile_id=french.pk, purpose_id=newsletter.pk)
    response = client.get(f"/consent/unsubscribe/{token}/", HTTP_ACCEPT_LANGUAGE="en")
    assert response["Content-Language"] == "fr"
    assert "Se désinscrire de « Newsletter » ?" in page(french, "en")
    assert "Unsubscribe from “Newsletter”?" in page(unknown, "en")
    assert "Se désinscrire de « Newsletter » ?" in page(unknown, "fr")


def test_the_preference_page_writes_dates_the_persons_way(
    client: Any, purposes: dict[str, Purpose]
) -> None:
    from consent.links import preferences_token_make

    profile = Profile.objects.create(email="amelie@example.org", language="fr")
    record, _ = consent_record(
        profile_id=profile.pk,
        purpose=purposes["newsletter"],
        status="granted",
        method=ConsentRecord.Method.API,
        proof={"system": "crm"},
    )
    ConsentRecord.objects.filter(pk=record.pk).update(
        recorded_at=datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
    )

    token = preferences_token_make(profile_id=profile.pk)
    page = client.get(f"/consent/preferences/{token}/").content.decode()

    assert "<h1>Vos choix</h1>" in page
    assert "Donné le 5 mars 2026." in page


@pytest.fixture
def double_opt_in(db: None) -> Purpose:
    purpose = Purpose.objects.create(
        code="news", name="Les nouvelles", channel="email", requires_double_opt_in=True
    )
    purpose_wording_add(purpose=purpose, text="Envoyez-moi les nouvelles du mois.")
    return purpose


def _ask_confirmation(profile: Profile, purpose: Purpose, capture: Any) -> None:
    with capture(execute=True):
        consent_record(
            profile_id=profile.pk,
            purpose=purpose,
            status="granted",
            method=ConsentRecord.Method.FORM,
            proof={"form": "signup"},
            email=profile.email,
        )


def test_the_consent_email_speaks_the_persons_language(
    smtp_sink: Any, double_opt_in: Purpose, django_capture_on_commit_callbacks: Any
) -> None:
    amelie = Profile.objects.create(email="amelie@example.org", language="fr")
    ada = Profile.objects.create(email="ada@example.org", language="en")

    with translation.override("en"):  # a steward's or an English browser's request
        _ask_confirmation(amelie, double_opt_in, django_capture_on_commit_callbacks)
        _ask_confirmation(ada, double_opt_in, django_capture_on_commit_callbacks)

    mails = {m["To"]: m for m in smtp_sink.messages}
    french = mails["amelie@example.org"]
    english = mails["ada@example.org"]
    assert french["Subject"] == "Merci de confirmer : Les nouvelles"
    french_body = french.get_payload(decode=True).decode().replace("\r\n", "\n")
    assert french_body.startswith("Bonjour,\n\nMerci de confirmer que vous acceptez ce qui suit")
    assert "Envoyez-moi les nouvelles du mois." in french_body
    assert english["Subject"] == "Please confirm: Les nouvelles"
    assert english.get_payload(decode=True).decode().startswith("Hello,")


def test_without_a_stated_language_the_email_follows_the_organisations_default(
    smtp_sink: Any,
    double_opt_in: Purpose,
    django_capture_on_commit_callbacks: Any,
    settings: Any,
) -> None:
    settings.LANGUAGE_CODE = "fr"
    person = Profile.objects.create(email="nobody@example.org")

    with translation.override(None):  # a worker: no request, no active language
        _ask_confirmation(person, double_opt_in, django_capture_on_commit_callbacks)

    assert [m["Subject"] for m in smtp_sink.messages] == ["Merci de confirmer : Les nouvelles"]
