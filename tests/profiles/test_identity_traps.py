"""Different people never become one profile: role mailboxes, shared numbers, households,
homonyms; through the ingestion pipeline with either store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from profiles.models import (
    BlockedIdentifier,
    DuplicateCandidate,
    Identity,
    IdentityConflict,
    Profile,
)
from profiles.services import Message
from profiles.services.duplicates import duplicate_settings_update, duplicates_scan
from profiles.services.identity_rules import identifier_hash, identity_rules_invalidate
from profiles.services.ingest.pipeline import ingest_batch
from profiles.services.ingest.store import OrmStore
from profiles.services.names import names_compare
from tests.helpers import postgres_only

pytestmark = pytest.mark.django_db


def _postgres_store() -> OrmStore:
    from profiles.services.ingest.postgres import PostgresStore

    return PostgresStore()


@pytest.fixture(
    params=[
        pytest.param(OrmStore, id="generic"),
        pytest.param(_postgres_store, id="postgres", marks=postgres_only),
    ]
)
def send(request: Any, web_form: Any) -> Callable[..., int]:
    """send(message_id, **traits) -> the profile the message landed on, with one store."""
    make_store = request.param

    def send(message_id: str, **traits: Any) -> int:
        identity_rules_invalidate()  # a value flagged by the previous batch counts now
        result = ingest_batch(
            source=web_form,
            messages=[Message(type="identify", message_id=message_id, traits=traits)],
            store=make_store(),
        )
        assert result.results[0].status == "ok", result.results[0]
        return result.results[0].profile_id

    return send


@pytest.mark.parametrize(
    "mailbox",
    [
        *("accueil", "commercial", "contact.paris", "service-client", "compta", "rh"),
        *("direction", "bonjour", "hello", "sales", "support", "noreply", "info"),
    ],
)
def test_a_role_mailbox_is_kept_but_joins_nobody(send: Any, mailbox: str) -> None:
    ada = send("m1", email=f"{mailbox}@lovelace.fr", firstName="Ada", lastName="Lovelace")
    grace = send("m2", email=f"{mailbox}@lovelace.fr", firstName="Grace", lastName="Hopper")
    again = send("m3", email=f"{mailbox}@lovelace.fr")

    assert len({ada, grace, again}) == 3
    assert Profile.objects.get(pk=ada).email == f"{mailbox}@lovelace.fr"
    assert not Identity.objects.filter(kind="email").exists()
    assert not IdentityConflict.objects.exists()


def test_a_switchboard_number_does_not_pull_a_colleague_onto_a_profile(send: Any) -> None:
    ada = send("m1", phone="01 40 20 50 50", firstName="Ada", lastName="Lovelace")

    grace = send(
        "m2",
        phone="01 40 20 50 50",
        email="grace@lovelace.fr",
        firstName="Grace",
        lastName="Hopper",
    )

    assert grace != ada
    assert Profile.objects.get(pk=ada).first_name == "Ada"
    assert Identity.objects.get(kind="phone").profile_id == ada
    flagged = BlockedIdentifier.objects.get(reason="names")
    assert flagged.value_hash == identifier_hash(("phone", "", "+33140205050"))
    # Two people, not a pair for the steward to merge.
    assert not IdentityConflict.objects.exists()


def test_a_shared_number_joins_only_a_record_that_names_its_owner(send: Any) -> None:
    ada = send("m1", phone="01 40 20 50 50", firstName="Ada", lastName="Lovelace")
    send("m2", phone="01 40 20 50 50", firstName="Grace", lastName="Hopper")

    nameless = send("m3", phone="01 40 20 50 50")
    named = send("m4", phone="+33 1 40 20 50 50", firstName="ADA", lastName="LOVELACE")

    assert nameless != ada
    assert named == ada


def test_a_household_stays_three_people(send: Any) -> None:
    home = {"phone": "01 43 22 11 00", "lastName": "Martin", "street": "3 rue des Lilas"}

    people = {
        send(f"m{n}", firstName=first, **home) for n, first in enumerate(["Jean", "Jeanne", "Paul"])
    }

    assert len(people) == 3
    assert Profile.objects.filter(pk__in=people, last_name="Martin").count() == 3


def test_homonyms_with_different_emails_stay_apart_through_the_scan(send: Any) -> None:
    send("m1", email="jean.martin@orange.fr", firstName="Jean", lastName="Martin", city="Lyon")
    send("m2", email="jmartin@free.fr", firstName="Jean", lastName="Martin", city="Brest")
    send(
        "m3",
        email="martin.jean@gmail.com",
        firstName="Jean",
        lastName="Martin",
        birthday="1970-02-03",
        city="Lille",
    )
    send(
        "m4",
        email="jean.martin@laposte.net",
        firstName="Jean",
        lastName="Martin",
        birthday="1988-07-21",
    )
    duplicate_settings_update(auto_merge_enabled=True)

    counts = duplicates_scan()

    assert counts.auto_merged == 0
    assert Profile.objects.filter(status="active").count() == 4


def test_a_household_is_neither_merged_nor_queued_by_the_scan(send: Any) -> None:
    home = {
        "phone": "01 43 22 11 00",
        "lastName": "Martin",
        "street": "3 rue des Lilas",
        "postcode": "75011",
        "city": "Paris",
    }
    send("m1", firstName="Jean", **home)
    send("m2", firstName="Jeanne", **home)
    duplicate_settings_update(auto_merge_enabled=True)

    counts = duplicates_scan()

    assert counts.auto_merged == 0
    assert Profile.objects.filter(status="active").count() == 2
    assert not Profile.objects.filter(status="merged").exists()


@pytest.mark.parametrize(
    ("a", "b", "verdict"),
    [
        (("Marie", "Dupont"), ("Pierre", "Dupont"), False),
        (("Jean", "Martin"), ("Jeanne", "Martin"), False),
        (("DUPONT", "Marie"), ("Marie", "Dupont"), True),
        (("Hélène", "Lefèvre"), ("HELENE", "LEFEVRE"), True),
        (("Matthieu", "Durand"), ("Mathieu", "Durand"), True),
        (("Jean-Pierre", "Roux"), ("Jean", "Roux"), True),
        (("J.", "Roux"), ("Jean", "Roux"), True),
        (("Ada", "Lovelace"), ("Ada", "King"), True),  # a usage name after a marriage
        (("", "Lovelace"), ("", "King"), None),
        (("", ""), ("Ada", "King"), None),
    ],
)
def test_names_are_compared_as_a_steward_would(
    a: tuple[str, str], b: tuple[str, str], verdict: bool | None
) -> None:
    assert names_compare(a, b) is verdict
    assert names_compare(b, a) is verdict


def test_a_colleague_with_her_own_email_leaves_no_pair_for_the_steward(send: Any) -> None:
    ada = send("m1", email="ada@lovelace.fr", phone="01 40 20 50 50", firstName="Ada")

    grace = send("m2", email="grace@lovelace.fr", phone="01 40 20 50 50", firstName="Grace")

    assert grace != ada
    assert Identity.objects.get(kind="phone").profile_id == ada
    assert not IdentityConflict.objects.exists()
    assert BlockedIdentifier.objects.filter(reason="names").count() == 1


def test_colleagues_named_alike_on_a_role_mailbox_are_queued_not_merged(send: Any) -> None:
    send("m1", email="accueil@lovelace.fr", firstName="Ada", lastName="Lovelace", city="Lyon")
    send("m2", email="accueil@lovelace.fr", firstName="ADA", lastName="LOVELACE")
    send("m3", email="accueil@lovelace.fr", firstName="Grace", lastName="Hopper")
    duplicate_settings_update(auto_merge_enabled=True)

    counts = duplicates_scan()

    assert counts.auto_merged == 0
    candidate = DuplicateCandidate.objects.get()
    assert candidate.features["role_email"] == 1.0
    assert 0.5 <= candidate.score < 0.995


def test_a_usual_short_form_of_the_first_name_joins_the_known_email(send: Any) -> None:
    robert = send("m1", firstName="Robert", lastName="Durand", email="r.durand@x.fr")

    bob = send("m2", firstName="Bob", lastName="Durand", email="r.durand@x.fr")
    jeanne = send("m3", firstName="Jeanne", lastName="Durand", email="r.durand@x.fr")

    assert bob == robert
    assert jeanne != robert
