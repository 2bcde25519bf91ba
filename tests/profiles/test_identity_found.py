"""People who are one are found: French phone spellings join at once; Gmail dots, mistyped
domains, swapped names, upper case and lost accents are merged by the scan when certain."""

from __future__ import annotations

from typing import Any

import pytest

from profiles.admin.duplicates import pair_reasons
from profiles.models import DuplicateCandidate, Identity, Profile
from profiles.normalise import email_key
from profiles.services import Message, ingest_messages
from profiles.services.duplicates import duplicates_scan
from profiles.services.duplicates.matching import pair_score, record_from

pytestmark = pytest.mark.django_db


def send(source: Any, message_id: str, external_id: str = "", **traits: Any) -> int:
    message = Message(
        type="identify", message_id=message_id, external_id=external_id, traits=traits
    )
    result = ingest_messages(source=source, messages=[message])
    assert result.results[0].status == "ok", result.results[0]
    return result.results[0].profile_id


def test_french_phone_spellings_land_on_one_profile(web_form: Any) -> None:
    spellings = ["06 12 34 56 78", "06.12.34.56.78", "+33 (0)6 12 34 56 78", "33612345678"]
    # A spreadsheet ate the leading zero: the source's region (France) reads it back.
    spellings.append("612345678")

    landed = {send(web_form, f"m{n}", phone=phone) for n, phone in enumerate(spellings)}

    assert len(landed) == 1
    assert list(Identity.objects.values_list("kind", "value")) == [("phone", "+33612345678")]


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("Jean.Dupont@gmail.com", "jeandupont@gmail.com"),
        ("jean.dupont+promo@googlemail.com", "jeandupont@gmail.com"),
        ("jean.dupont@gmial.com", "jeandupont@gmail.com"),
        ("jean.dupont@hotmial.fr", "jean.dupont@hotmail.fr"),
        ("jean.dupont@orange.fr", "jean.dupont@orange.fr"),
        ("jean.dupont+promo@hotmail.fr", "jean.dupont@hotmail.fr"),
        # Elsewhere a +tag may be a different mailbox: kept.
        ("jean.dupont+promo@orange.fr", "jean.dupont+promo@orange.fr"),
        ("+promo@gmail.com", "+promo@gmail.com"),
    ],
)
def test_one_mailbox_has_one_canonical_spelling(raw: str, canonical: str) -> None:
    assert email_key(raw) == canonical


SAME_PERSON = [
    (
        {"first_name": "Hélène", "last_name": "Lefèvre", "email": "helene.lefevre@gmail.com"},
        {"first_name": "HELENE", "last_name": "LEFEVRE", "email": "helenelefevre@gmail.com"},
    ),
    (
        {"first_name": "Jean", "last_name": "Dupont", "email": "jean.dupont@hotmail.fr"},
        {"first_name": "DUPONT", "last_name": "Jean", "email": "jean.dupont@hotmial.fr"},
    ),
]


@pytest.mark.parametrize(("a", "b"), SAME_PERSON)
def test_one_mailbox_spelled_two_ways_is_one_profile_at_intake(crm: Any, a: Any, b: Any) -> None:
    first = send(crm, "m1", firstName=a["first_name"], lastName=a["last_name"], email=a["email"])
    second = send(crm, "m2", firstName=b["first_name"], lastName=b["last_name"], email=b["email"])

    assert first == second
    assert list(Identity.objects.filter(kind="email").values_list("value", flat=True)) == [
        email_key(a["email"])
    ]
    # The address stays as the person wrote it (the newer spelling, same source), for sending.
    assert Profile.objects.get().email == b["email"].lower()


def test_a_form_an_import_and_the_api_find_one_mailbox(
    web_form: Any, crm: Any, make_source: Any
) -> None:
    spellings = [
        (web_form, "Jean.Dupont+newsletter@gmail.com"),
        (crm, "jeandupont@gmial.com"),
        (make_source("Salon", kind="trade_show")[0], "JEAN.DUPONT@GOOGLEMAIL.COM"),
    ]

    landed = {
        send(source, f"m{n}", firstName="Jean", email=email)
        for n, (source, email) in enumerate(spellings)
    }

    assert len(landed) == 1


def test_a_probable_pair_is_queued_with_its_reasons(crm: Any) -> None:
    send(crm, "m1", "c-1", firstName="Jean", lastName="Dupont", postcode="69003", city="Lyon")
    send(crm, "m2", "c-2", firstName="DUPONT", lastName="Jean", postcode="69003", city="LYON")

    duplicates_scan()

    candidate = DuplicateCandidate.objects.get()
    assert 0.5 <= candidate.score < 0.995
    assert pair_reasons(candidate.features) == (
        "names swapped; same first name; same last name; same postcode; same city"
    )


def test_reasons_name_the_evidence_against_too() -> None:
    a = record_from({"id": 1, "first_name": "Ada", "last_name": "Lovelace", "city": "Paris"})
    b = record_from({"id": 2, "first_name": "Ada", "last_name": "Lovelace", "city": "Brest"})

    assert pair_reasons(pair_score(a, b)[1]) == ("same first name; same last name; different city")


def test_one_person_under_two_contact_ids_and_a_badge_scan_is_one_profile(
    crm: Any, make_source: Any
) -> None:
    fair, _ = make_source("Salon 2026", kind="trade_show", default_phone_region="FR")
    first = send(crm, "m1", "c-1", email="ada@lovelace.fr", firstName="Ada")
    second = send(crm, "m2", "c-2", email="ada@lovelace.fr", firstName="ADA")
    badge = send(fair, "m3", "badge-9", email="ada@lovelace.fr", phone="612345678")

    assert first == second == badge
    assert Identity.objects.filter(kind="external_id", profile_id=first).count() == 3
