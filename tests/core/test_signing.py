"""Tokens signed with a key derived once are Django's own tokens, read back by Signer."""

from __future__ import annotations

from typing import Any

from django.core import signing
from django.urls import reverse

from core.signing import token_path, token_sign, token_sign_object


def test_tokens_are_the_tokens_django_signs_and_reads(settings: Any) -> None:
    settings.SECRET_KEY = "a-key-for-this-test"
    click = {"m": 12, "u": "https://example.org/offer?a=1&b=" + "x" * 80}

    assert token_sign(value="42", salt="s.open") == signing.Signer(salt="s.open").sign("42")
    assert token_sign_object(obj={"p": 3}, salt="s.p") == signing.Signer(salt="s.p").sign_object(
        {"p": 3}
    )
    packed = token_sign_object(obj=click, salt="s.c", compress=True)
    assert packed == signing.Signer(salt="s.c").sign_object(click, compress=True)
    assert signing.Signer(salt="s.c").unsign_object(packed) == click


def test_a_rotated_secret_signs_with_the_new_key(settings: Any) -> None:
    settings.SECRET_KEY = "first-key"
    before = token_sign(value="7", salt="s")
    settings.SECRET_KEY = "second-key"

    assert token_sign(value="7", salt="s") != before
    assert signing.Signer(salt="s").unsign(token_sign(value="7", salt="s")) == "7"


def test_a_token_path_is_the_reversed_route(db: None) -> None:
    token = token_sign_object(obj={"p": 5}, salt="consent.preferences")

    assert token_path(name="consent:preferences", token=token) == reverse(
        "consent:preferences", kwargs={"token": token}
    )
