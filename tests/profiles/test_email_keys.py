"""Email identities hold the mailbox: stored keys rewritten, suppression across spellings."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.apps import apps

from consent.services import suppression_add
from profiles.models import BlockedIdentifier, Identity, Profile
from profiles.services import Message, ingest_messages
from profiles.services.identity_rules import identifier_hash

pytestmark = pytest.mark.django_db

rekey = importlib.import_module("profiles.migrations.0007_email_identity_mailbox_keys").rekey


def send(source: Any, message_id: str, **traits: Any) -> Any:
    message = Message(type="identify", message_id=message_id, traits=traits)
    return ingest_messages(source=source, messages=[message]).results[0]


def test_stored_spellings_become_mailbox_keys_and_a_taken_one_is_left_as_it_was(
    web_form: Any,
) -> None:
    ada, jean, twin = (Profile.objects.create() for _ in range(3))
    for profile, value in [
        (ada, "ada.lovelace+news@gmail.com"),
        (jean, "jean.dupont@hotmial.fr"),
        (jean, "jean.dupont@orange.fr"),
        (twin, "adalovelace@gmail.com"),
    ]:
        Identity.objects.create(profile=profile, kind="email", value=value)
    old = identifier_hash(("email", "", "jean.dupont@hotmial.fr"))
    BlockedIdentifier.objects.create(kind="email", value_hash=old, reason="names")

    rekey(apps, None)

    assert sorted(Identity.objects.values_list("profile_id", "value")) == [
        # Another profile holds Ada's mailbox: hers is left for the duplicate scan.
        (ada.pk, "ada.lovelace+news@gmail.com"),
        (jean.pk, "jean.dupont@hotmail.fr"),
        (jean.pk, "jean.dupont@orange.fr"),
        (twin.pk, "adalovelace@gmail.com"),
    ]
    new = identifier_hash(("email", "", "jean.dupont@hotmail.fr"))
    assert BlockedIdentifier.objects.get(value_hash=new).reason == "names"


def test_an_erased_mailbox_cannot_come_back_under_another_spelling(web_form: Any) -> None:
    suppression_add(identifiers=[("email", "jeandupont@gmail.com")])

    result = send(web_form, "m1", email="Jean.Dupont+promo@gmail.com")

    assert result.status == "error"
    assert "suppressed" in result.errors
    assert not Profile.objects.exists()


def test_an_address_suppressed_as_spelled_still_blocks_its_spelling(web_form: Any) -> None:
    # Suppressed before identities held mailbox keys: the digest of the address itself.
    suppression_add(identifiers=[("email", "jean.dupont@gmail.com")])

    result = send(web_form, "m1", email="jean.dupont@gmail.com")

    assert result.status == "error"
    assert not Profile.objects.exists()
