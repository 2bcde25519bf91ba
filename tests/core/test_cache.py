"""The cache backend: one Redis client per pool, and skipped when Redis is down."""

from __future__ import annotations

import os
from typing import Any

import pytest
from django.core.cache import caches

from core.cache import RedisCache

REDIS_URL = os.environ.get("REDIS_URL", "")


@pytest.mark.skipif(not REDIS_URL, reason="needs REDIS_URL (Redis)")
def test_on_redis_one_client_serves_every_operation(settings: Any) -> None:
    settings.CACHES = {"default": {"BACKEND": "core.cache.RedisCache", "LOCATION": REDIS_URL}}
    cache = caches["default"]
    assert isinstance(cache, RedisCache)

    cache.set("one-client", 1)

    assert cache._cache.get_client(write=True) is cache._cache.get_client(write=True)
    assert cache.get("one-client") == 1


# --- Redis down: the cache is skipped, nothing refused --------------------------------

DOWN = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connection refused at once


@pytest.fixture
def redis_down(settings: Any) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "core.cache.RedisCache",
            "LOCATION": DOWN,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }


def test_with_redis_down_reads_miss_and_writes_are_skipped(
    redis_down: None, caplog: pytest.LogCaptureFixture
) -> None:
    cache = caches["default"]

    cache.set("k", "secret@example.org")
    assert cache.get("k", "fallback") == "fallback"
    assert cache.get_many(["k"]) == {}
    assert cache.add("k", 1) is False
    assert cache.delete("k") is False
    cache.delete_many(["k"])
    assert "cache unavailable" in caplog.text
    assert "secret@example.org" not in caplog.text


@pytest.mark.django_db
def test_with_redis_down_a_form_post_is_still_stored(
    redis_down: None, web_form: Any, client: Any, settings: Any
) -> None:
    from collection.models import Form, IntakeBatch
    from collection.services.forms import form_save

    settings.CDP_INTAKE_MODE = "buffered"
    fields = [{"name": "email", "label": "Email", "target": "email", "type": "email"}]
    form_save(form=Form(name="Sign-up", slug="signup", source=web_form, fields=fields))

    response = client.post(
        "/api/forms/signup/submissions",
        {"email": "ada@example.org"},
        content_type="application/json",
    )

    assert response.status_code == 201
    assert IntakeBatch.objects.count() == 1
