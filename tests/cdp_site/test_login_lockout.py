"""Brute force on the admin login: a username is locked out from one address (django-axes)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def steward(db: None) -> Any:
    return get_user_model().objects.create_user("steward", password="the right one", is_staff=True)


def _login(client: Client, password: str, ip: str = "203.0.113.5") -> Any:
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": "steward", "password": password},
        REMOTE_ADDR=ip,
    )


def test_five_failures_lock_the_username_out_even_with_the_right_password(
    steward: Any, settings: Any
) -> None:
    settings.AXES_FAILURE_LIMIT = 5
    client = Client()
    failures = [_login(client, f"guess {i}").status_code for i in range(4)]

    fifth = _login(client, "guess 5")
    right = _login(client, "the right one")

    assert failures == [200, 200, 200, 200]  # the form again, with its error
    assert (fifth.status_code, right.status_code) == (429, 429)
    assert "_auth_user_id" not in client.session


def test_the_lockout_is_per_address(steward: Any, settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 2
    for i in range(2):
        _login(Client(), f"guess {i}")

    elsewhere = _login(Client(), "the right one", ip="198.51.100.7")

    assert elsewhere.status_code == 302
