from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from cdp_site.celery import app as celery_app
from cdp_site.models import Heartbeat
from cdp_site.services import heartbeat_record

pytestmark = pytest.mark.django_db


def test_health_is_200_with_a_live_worker(client: Any) -> None:
    heartbeat_record(kind=Heartbeat.Kind.WORKER, name="worker@a")

    response = client.get("/health/")

    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True
    assert body["checks"]["worker"] == {
        "ok": True,
        "alive": 1,
        "last_seen_seconds": body["checks"]["worker"]["last_seen_seconds"],
    }
    assert body["checks"]["worker"]["last_seen_seconds"] < 5


def test_health_is_503_without_a_worker(client: Any) -> None:
    response = client.get("/health/")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["checks"]["worker"] == {
        "ok": False,
        "alive": 0,
        "last_seen_seconds": None,
    }


def test_health_is_503_when_the_worker_heartbeat_is_stale(client: Any, settings: Any) -> None:
    settings.CDP_WORKER_STALE_SECONDS = 60
    heartbeat_record(
        kind=Heartbeat.Kind.WORKER, name="worker@a", at=timezone.now() - timedelta(seconds=120)
    )

    response = client.get("/health/")

    assert response.status_code == 503
    assert response.json()["checks"]["worker"]["alive"] == 0
    assert response.json()["checks"]["worker"]["last_seen_seconds"] >= 120


def test_health_is_503_when_the_broker_is_unreachable(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    heartbeat_record(kind=Heartbeat.Kind.WORKER, name="worker@a")
    unreachable = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    original = celery_app.conf.get("broker_url")
    monkeypatch.setenv("CELERY_BROKER_URL", unreachable)  # celery prefers the variable
    celery_app.conf.broker_url = unreachable
    try:
        response = client.get("/health/")
    finally:
        celery_app.conf.broker_url = original

    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False
    assert response.json()["checks"]["database"]["ok"] is True


def test_heartbeat_record_keeps_one_row_per_process() -> None:
    earlier = timezone.now() - timedelta(minutes=5)
    heartbeat_record(kind=Heartbeat.Kind.WORKER, name="worker@a", at=earlier)
    heartbeat_record(kind=Heartbeat.Kind.WORKER, name="worker@a")

    rows = list(Heartbeat.objects.values_list("kind", "name"))
    assert rows == [("worker", "worker@a")]
    assert Heartbeat.objects.get().seen_at > earlier


def test_health_rejects_writes(client: Any) -> None:
    assert client.post("/health/").status_code == 405
