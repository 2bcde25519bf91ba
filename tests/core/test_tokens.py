"""Staff API tokens: hashed at rest, shown once, expiring, revocable, last use recorded;
bad tokens and bad write keys from one client are throttled with 429 and Retry-After."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

import core.rates
from core.models import ApiToken
from core.tokens import api_token_create, api_token_revoke
from profiles.services import source_create

pytestmark = pytest.mark.django_db


class _Clock:
    def __init__(self) -> None:
        self.now = 2_000_000.0

    def __call__(self) -> float:
        return self.now


def _client(key: str, ip: str = "198.51.100.7") -> APIClient:
    client = APIClient(REMOTE_ADDR=ip)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_the_database_holds_no_clear_token(staff_user: Any) -> None:
    token, key = api_token_create(user=staff_user, name="crm sync")

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM core_apitoken")
        row = cursor.fetchone()

    assert key.startswith("ct_")
    assert len(key) == 43
    assert key not in [str(value) for value in row]
    assert token.prefix == key[:12]
    assert _client(key).get("/api/profiles/").status_code == 200


def test_a_token_records_its_last_use_at_most_once_a_minute(staff_user: Any) -> None:
    token, key = api_token_create(user=staff_user, name="crm sync")

    _client(key).get("/api/profiles/")
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    _client(key).get("/api/profiles/")
    second = ApiToken.objects.get(pk=token.pk).last_used_at

    assert first is not None
    assert second == first


def test_an_expired_token_is_refused(staff_user: Any) -> None:
    _, key = api_token_create(
        user=staff_user, name="old", expires_at=timezone.now() - timedelta(seconds=1)
    )

    response = _client(key).get("/api/profiles/")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


def test_a_revoked_token_is_refused_at_once(staff_user: Any) -> None:
    token, key = api_token_create(user=staff_user, name="crm sync")
    before = _client(key).get("/api/profiles/").status_code

    revoked = api_token_revoke(token_ids=[token.pk])
    after = _client(key).get("/api/profiles/").status_code

    assert (before, revoked, after) == (200, 1, 401)
    assert api_token_revoke(token_ids=[token.pk]) == 0


def test_a_token_of_a_deactivated_user_is_refused(staff_user: Any) -> None:
    _, key = api_token_create(user=staff_user, name="crm sync")
    staff_user.is_active = False
    staff_user.save(update_fields=["is_active"])

    assert _client(key).get("/api/profiles/").status_code == 401


def test_bad_tokens_from_one_client_are_throttled_then_even_a_good_one_waits(
    staff_user: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.CDP_BAD_CREDENTIAL_RATE = "3/min"
    clock = _Clock()
    monkeypatch.setattr(core.rates, "clock", clock)
    _, key = api_token_create(user=staff_user, name="crm sync")

    guesses = [_client(f"ct_guess{n:035d}").get("/api/profiles/") for n in range(4)]
    blocked_good = _client(key).get("/api/profiles/")
    other_client = _client(key, ip="203.0.113.9").get("/api/profiles/")
    clock.now += 21
    later_good = _client(key).get("/api/profiles/")

    assert [r.status_code for r in guesses] == [401, 401, 401, 429]
    assert guesses[3]["Retry-After"] == "20"
    assert guesses[3].json()["error"]["code"] == "throttled"
    assert blocked_good.status_code == 429
    assert other_client.status_code == 200
    assert later_good.status_code == 200, later_good.content


def test_bad_write_keys_from_one_client_are_throttled(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.CDP_BAD_CREDENTIAL_RATE = "2/min"
    monkeypatch.setattr(core.rates, "clock", _Clock())
    _, key = source_create(name="Site", kind="web_form")
    body = {"userId": "u1", "event": "Viewed"}

    def post(write_key: str) -> Any:
        client = APIClient(REMOTE_ADDR="198.51.100.8")
        client.credentials(HTTP_AUTHORIZATION="Basic " + _basic(write_key))
        return client.post("/v1/track", body, format="json")

    statuses = [post("wk_" + "x" * 40).status_code for _ in range(3)]
    good = post(key)

    assert statuses == [401, 401, 429]
    assert good.status_code == 429
    assert int(good["Retry-After"]) == 30


def _basic(user: str) -> str:
    import base64

    return base64.b64encode(f"{user}:".encode()).decode()


@pytest.mark.django_db(transaction=True)
def test_tokens_made_before_hashing_keep_working_and_their_clear_keys_are_dropped(
    staff_user: Any,
) -> None:
    import importlib

    from django.apps import apps

    migration = importlib.import_module("core.migrations.0002_api_tokens")
    clear_key = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, "
            "user_id integer NOT NULL, created timestamp NOT NULL)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token VALUES (%s, %s, %s)",
            [clear_key, staff_user.pk, "2026-01-02 03:04:05"],
        )

    with connection.schema_editor() as editor:
        migration.hash_drf_tokens(apps, editor)

    assert "authtoken_token" not in connection.introspection.table_names()
    assert ApiToken.objects.get().prefix == clear_key[:12]
    assert _client(clear_key).get("/api/profiles/").status_code == 200
