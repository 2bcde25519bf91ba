"""A real celery worker process, on the configured broker and the test database."""

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test import Client

from cdp_site.models import Heartbeat
from cdp_site.tasks import heartbeat_prune_task, scheduler_heartbeat_task
from collection.models import IntakeBatch
from collection.services.intake import DRAIN_SCHEDULED_KEY
from collection.tasks import intake_drain_task
from profiles.models import Profile
from tests.conftest import current_database_url

ROOT = Path(__file__).resolve().parents[2]


def _start_worker(queue: str, tmp_path: Any) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": current_database_url(),
        "CDP_WORKER_HEARTBEAT_SECONDS": "1",
    }
    log = (tmp_path / "worker.log").open("w")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "cdp_site",
            "worker",
            "-Q",
            queue,
            "--concurrency",
            "1",
            "--pool",
            "solo",
            "--hostname",
            f"{queue}@%h",
            "--loglevel",
            "INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_a_task_and_reports_its_heartbeat(tmp_path: Any) -> None:
    queue = f"test-{uuid.uuid4().hex[:12]}"  # a queue of our own: no other worker takes it
    worker = _start_worker(queue, tmp_path)
    try:
        # One worker, one task at a time: the prune has run when the heartbeat answers.
        pruned = heartbeat_prune_task.apply_async(queue=queue)
        result = scheduler_heartbeat_task.apply_async(queue=queue)
        hostname = result.get(timeout=90)
        deadline = time.monotonic() + 30
        while not Heartbeat.objects.filter(kind="worker", name__startswith=queue).exists():
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    assert result.successful()
    assert hostname
    # Results are not kept (CELERY_TASK_IGNORE_RESULT) unless the task asks for it.
    assert pruned.state == "PENDING"
    assert Heartbeat.objects.filter(kind="scheduler", name="beat").count() == 1
    assert Heartbeat.objects.filter(kind="worker", name__startswith=queue).count() == 1


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_drains_what_the_api_accepted(
    tmp_path: Any, settings: Any, make_source: Any
) -> None:
    settings.CDP_INTAKE_MODE = "buffered"
    _, key = make_source("Website", kind="web_form")
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    response = Client().post(
        "/v1/batch",
        json.dumps(
            {
                "batch": [
                    {"type": "identify", "userId": "w-1", "traits": {"email": "worker@example.org"}}
                ]
            }
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
    )
    assert response.json()["results"][0]["status"] == "accepted"
    queue = f"test-{uuid.uuid4().hex[:12]}"
    worker = _start_worker(queue, tmp_path)
    try:
        drained = intake_drain_task.apply_async(queue=queue, ignore_result=False).get(timeout=90)
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    assert drained == 1
    assert IntakeBatch.objects.count() == 0
    assert Profile.objects.get().email == "worker@example.org"


def _post(client: Client, auth: str, email: str) -> None:
    batch = {"batch": [{"type": "identify", "userId": email, "traits": {"email": email}}]}
    response = client.post(
        "/v1/batch", json.dumps(batch), content_type="application/json", HTTP_AUTHORIZATION=auth
    )
    assert response.json()["results"][0]["status"] == "accepted"


@pytest.mark.slow
@pytest.mark.skipif(
    connection.vendor == "sqlite", reason="holds a message uncommitted while the worker drains"
)
@pytest.mark.django_db(transaction=True)
def test_a_message_accepted_while_a_drain_runs_is_ingested_within_seconds_without_beat(
    tmp_path: Any, settings: Any, make_source: Any
) -> None:
    settings.CDP_INTAKE_MODE = "buffered"
    cache.set(DRAIN_SCHEDULED_KEY, 1, timeout=300)  # requests find a drain already asked for
    _, key = make_source("Website", kind="web_form")
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    client = Client()
    _post(client, auth, "first@example.org")
    queue = f"test-{uuid.uuid4().hex[:12]}"
    worker = _start_worker(queue, tmp_path)
    try:
        with transaction.atomic():
            # Accepted while the drain runs: stored, but committed only once it has ended.
            _post(client, auth, "late@example.org")
            drained = intake_drain_task.apply_async(queue=queue, ignore_result=False).get(
                timeout=90
            )
        committed = time.monotonic()
        while not Profile.objects.filter(email="late@example.org").exists():
            assert time.monotonic() - committed < 10, (tmp_path / "worker.log").read_text()
            time.sleep(0.05)
        waited = time.monotonic() - committed
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    assert drained == 1
    assert waited < 10  # beat's safety net would take up to 30 s (and no beat runs here)
    assert IntakeBatch.objects.count() == 0
    assert sorted(Profile.objects.values_list("email", flat=True)) == [
        "first@example.org",
        "late@example.org",
    ]
