"""The 360° page as a steward reads it: the person's name, consent per purpose, proof."""

import re
from html import unescape
from typing import Any

import pytest
from django.test import Client

from consent.links import unsubscribe_url
from consent.models import PurposeVersion
from consent.services import consent_record
from profiles.models import Profile
from profiles.services import Message, ingest_messages

pytestmark = pytest.mark.django_db


@pytest.fixture
def amelie(web_form: Any, purposes: dict[str, Any]) -> Profile:
    ingest_messages(
        source=web_form,
        messages=[
            Message(
                type="identify",
                traits={"email": "amelie@example.fr", "firstName": "Amélie", "lastName": "Durand"},
            )
        ],
    )
    profile = Profile.objects.get()
    consent_record(
        profile_id=profile.pk,
        purpose=purposes["newsletter"],
        status="granted",
        method="form",
        proof={"form": "salon-2026", "ip": "192.0.2.0"},
        source_id=web_form.pk,
        wording=PurposeVersion.objects.get(purpose=purposes["newsletter"]),
    )
    return profile


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_360_page_is_titled_with_the_persons_name(amelie: Profile, role_user: Any) -> None:
    response = _client(role_user("steward")).get(f"/admin/profiles/profile/{amelie.pk}/change/")

    html = response.content.decode()
    assert response.status_code == 200
    assert re.search(r"<h1[^>]*>Amélie Durand</h1>", html)
    assert unescape(re.search(r"<title>(.*?)</title>", html).group(1)).startswith("Amélie Durand")


def test_the_360_page_shows_consent_history_with_proof_and_a_working_preference_link(
    amelie: Profile, role_user: Any, purposes: dict[str, Any]
) -> None:
    # The person unsubscribes through the link of an email.
    Client().post(unsubscribe_url(profile_id=amelie.pk, purpose_id=purposes["newsletter"].pk))

    response = _client(role_user("steward")).get(f"/admin/profiles/profile/{amelie.pk}/change/")

    html = response.content.decode()
    consent = html[html.index('id="consent"') : html.index("Data-quality issues")]
    rows = re.findall(r"<tr>(.*?)</tr>", consent.split("<tbody>")[1], flags=re.S)
    cells = [re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", row))).strip() for row in rows]
    assert cells[0].startswith("Newsletter may not be contacted Withdrawn")
    assert "Unsubscribe link" in cells[0]
    assert cells[1].startswith("Granted")
    assert "Website sign-up" in cells[1]
    assert "v1" in cells[1]
    assert "form: salon-2026" in cells[1]
    assert cells[2] == "Partners never asked"
    link = re.search(r'href="(http://[^"]+/consent/preferences/[^"]+)"', consent).group(1)
    page = Client().get(link.removeprefix("http://localhost:8000"))
    assert page.status_code == 200
    assert "Newsletter" in page.content.decode()


def test_a_viewer_sees_no_proof_and_no_preference_link(amelie: Profile, role_user: Any) -> None:
    response = _client(role_user("viewer")).get(f"/admin/profiles/profile/{amelie.pk}/change/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "salon-2026" not in html
    assert "/consent/preferences/" not in html
    assert "Amélie" not in html
