"""The cache backend: one Redis client per pool, and the one-round-trip rate allowance."""

from __future__ import annotations

import os
import threading
from typing import Any
from uuid import uuid4

import pytest
from django.core.cache import caches

from cdp_site.cache import RedisCache, rate_allow

REDIS_URL = os.environ.get("REDIS_URL", "")
BACKENDS = ["locmem"] + (["redis"] if REDIS_URL else [])


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, settings: Any) -> str:
    if request.param == "redis":
        settings.CACHES = {
            "default": {
                "BACKEND": "cdp_site.cache.RedisCache",
                "LOCATION": REDIS_URL,
                "KEY_PREFIX": f"cache-test-{uuid4()}",
            }
        }
    else:
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                "LOCATION": f"cache-test-{uuid4()}",
            }
        }
    return str(request.param)


def test_bursts_of_n_then_one_every_period_over_n(backend: str) -> None:
    key = f"allow-{uuid4()}"
    now = 1_000_000.0

    burst = [rate_allow(key, limit=3, period=60, now=now).allowed for _ in range(4)]
    early = rate_allow(key, limit=3, period=60, now=now + 19)
    refilled = rate_allow(key, limit=3, period=60, now=now + 20)
    again = rate_allow(key, limit=3, period=60, now=now + 20)

    assert burst == [True, True, True, False]
    assert (early.allowed, round(early.retry_after, 6)) == (False, 1.0)
    assert (refilled.allowed, refilled.retry_after) == (True, 0.0)
    assert (again.allowed, round(again.retry_after, 6)) == (False, 20.0)


def test_the_allowance_reads_the_keys_asked_for_in_the_same_step(backend: str) -> None:
    cache = caches["default"]
    cache.set("form:signup", {"fields": ["email"], "n": 1.5})

    allowance = rate_allow(
        f"allow-{uuid4()}", limit=5, period=60, now=10.0, read=["form:signup", "form:none"]
    )

    assert allowance.allowed
    assert allowance.values == {"form:signup": {"fields": ["email"], "n": 1.5}}


def test_a_refused_request_reads_too_and_spends_nothing(backend: str) -> None:
    key = f"allow-{uuid4()}"
    caches["default"].set("k", 7)
    assert rate_allow(key, limit=1, period=10, now=0.0).allowed

    refused = [rate_allow(key, limit=1, period=10, now=5.0, read=["k"]) for _ in range(3)]

    assert [(r.allowed, r.retry_after, r.values) for r in refused] == [(False, 5.0, {"k": 7})] * 3
    assert rate_allow(key, limit=1, period=10, now=10.0).allowed


@pytest.mark.skipif(not REDIS_URL, reason="needs REDIS_URL (Redis)")
def test_on_redis_concurrent_requests_never_exceed_the_allowance(settings: Any) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "cdp_site.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"cache-test-{uuid4()}",
        }
    }
    key = f"allow-{uuid4()}"
    allowed: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def client() -> None:
        start.wait()
        for _ in range(10):
            result = rate_allow(key, limit=25, period=3600, now=1000.0).allowed
            with lock:
                allowed.append(result)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(allowed) == 80
    assert sum(allowed) == 25


@pytest.mark.skipif(not REDIS_URL, reason="needs REDIS_URL (Redis)")
def test_on_redis_one_client_serves_every_operation(settings: Any) -> None:
    settings.CACHES = {"default": {"BACKEND": "cdp_site.cache.RedisCache", "LOCATION": REDIS_URL}}
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
            "BACKEND": "cdp_site.cache.RedisCache",
            "LOCATION": DOWN,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }


def test_with_redis_down_reads_miss_writes_are_skipped_and_requests_pass(
    redis_down: None, caplog: pytest.LogCaptureFixture
) -> None:
    cache = caches["default"]

    cache.set("k", "secret@example.org")
    assert cache.get("k", "fallback") == "fallback"
    assert cache.get_many(["k"]) == {}
    assert cache.add("k", 1) is False
    assert cache.delete("k") is False
    cache.delete_many(["k"])
    allowance = rate_allow("allow", limit=1, period=60, now=0.0, read=["k"])
    again = rate_allow("allow", limit=1, period=60, now=0.0, read=["k"])

    assert (allowance.allowed, again.allowed, again.values) == (True, True, {})
    assert "cache unavailable" in caplog.text
    assert "secret@example.org" not in caplog.text


@pytest.mark.django_db
def test_with_redis_down_a_form_post_is_still_stored(
    redis_down: None, web_form: Any, client: Any, settings: Any
) -> None:
    from profiles.models import Form, IntakeBatch
    from profiles.services.forms import form_save

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
