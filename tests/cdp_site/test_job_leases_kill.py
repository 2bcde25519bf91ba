"""A worker killed mid-job (SIGKILL) leaves a lease that beat finds expired and queues again;
the job resumes where it stopped and does no work twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from core.leases import job_leases_expired_requeue
from core.models import JobLease
from profiles.models import DuplicateScan, MaintenanceRun, Profile
from profiles.services import Message, ingest_messages
from profiles.services.duplicates import duplicates_full_scan_start
from profiles.services.duplicates.scan import BATCH_PROFILES
from profiles.services.quality.maintenance import maintenance_job, maintenance_start
from segments.models import Membership, Segment, SegmentSize
from segments.services import segment_create, segment_refresh_job
from tests.conftest import current_database_url

ROOT = Path(__file__).resolve().parents[2]
PEOPLE = 1_200
WORKER = """
import sys
import django
django.setup()
from {module} import {task}
{task}(**{kwargs})
"""


def _worker(module: str, task: str, kwargs: dict[str, Any]) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": current_database_url(),
        "CELERY_TASK_ALWAYS_EAGER": "true",  # the task's own re-queues run in this process
        "CDP_QUALITY_BATCH": "20",
    }
    code = WORKER.format(module=module, task=task, kwargs=repr(kwargs))
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait(worker: subprocess.Popen[bytes], until: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 120
    while not until():
        assert worker.poll() is None, worker.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.02)


def _kill(worker: subprocess.Popen[bytes]) -> None:
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)


def _expire_and_requeue(capture: Any) -> tuple[int, int]:
    """(queued before the lease expired, queued after), running what beat queued."""
    with capture(execute=True):
        early = job_leases_expired_requeue()
    JobLease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    with capture(execute=True):
        late = job_leases_expired_requeue()
    return early, late


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_maintenance_run_whose_worker_was_killed_resumes_and_scores_each_profile_once(
    web_form: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.CDP_QUALITY_BATCH = 20
    ingest_messages(
        source=web_form,
        messages=[
            Message(type="identify", user_id=f"u-{n}", traits={"email": f"p{n}@example.org"})
            for n in range(PEOPLE)
        ],
    )
    run = maintenance_start(kind=MaintenanceRun.Kind.SCORES, reason="test")
    worker = _worker(
        "profiles.tasks", "quality_maintain_task", {"kind": "scores", "run_id": run.pk}
    )
    _wait(worker, lambda: MaintenanceRun.objects.get(pk=run.pk).processed >= 200)
    _kill(worker)
    killed = MaintenanceRun.objects.get(pk=run.pk)
    held = JobLease.objects.get(job=maintenance_job(run.pk))

    early, late = _expire_and_requeue(django_capture_on_commit_callbacks)
    done = MaintenanceRun.objects.get(pk=run.pk)

    assert killed.status == "running"
    assert 200 <= killed.processed < PEOPLE
    assert held.holder != ""
    assert (early, late) == (0, 1)
    assert (done.status, done.processed, done.total) == ("done", PEOPLE, PEOPLE)
    assert done.summary == {"scored": PEOPLE}
    assert not JobLease.objects.exists()
    assert job_leases_expired_requeue() == 0


@pytest.mark.slow
@pytest.mark.skipif(
    connection.vendor == "sqlite", reason="holds a row lock to stop the worker mid-refresh"
)
@pytest.mark.django_db(transaction=True)
def test_a_segment_refresh_whose_worker_was_killed_is_queued_again_and_runs_once(
    settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    french = [Profile.objects.create(country="FR").pk for _ in range(3)]
    Profile.objects.create(country="DE")
    segment = segment_create(
        name="French", rule={"field": "country", "op": "eq", "value": "FR"}, refresh=False
    )
    job = segment_refresh_job(segment.pk)
    with transaction.atomic():
        # The steward's refresh (queued and run in the worker, eager) claims its lease, then
        # waits for this lock: killed there.
        Segment.objects.select_for_update().get(pk=segment.pk)
        worker = _worker("segments.services", "segment_refresh_request", {"segment_id": segment.pk})
        _wait(worker, lambda: JobLease.objects.filter(job=job).exclude(holder="").exists())
        _kill(worker)
    killed = JobLease.objects.get(job=job)
    sizes_after_kill = SegmentSize.objects.filter(segment=segment).count()

    early, late = _expire_and_requeue(django_capture_on_commit_callbacks)

    assert killed.holder != ""
    assert sizes_after_kill == 0
    assert (early, late) == (0, 1)
    assert SegmentSize.objects.filter(segment=segment).count() == 1
    assert sorted(
        Membership.objects.filter(segment=segment, exited_at__isnull=True).values_list(
            "profile_id", flat=True
        )
    ) == sorted(french)
    assert not JobLease.objects.exists()
    assert Profile.objects.count() == 4


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_full_duplicate_scan_whose_worker_was_killed_resumes_and_scans_each_profile_once(
    web_form: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    people = 4 * BATCH_PROFILES
    ingest_messages(
        source=web_form,
        messages=[
            Message(
                type="identify",
                user_id=f"u-{n}",
                traits={"email": f"p{n}@example.org", "first_name": f"Ada{n % 50}"},
            )
            for n in range(people)
        ],
    )
    scan = duplicates_full_scan_start()
    worker = _worker(
        "profiles.tasks", "duplicates_full_scan_task", {"scan_id": scan.pk, "batches": 1}
    )
    _wait(worker, lambda: DuplicateScan.objects.get(pk=scan.pk).profiles_scanned >= BATCH_PROFILES)
    _kill(worker)
    killed = DuplicateScan.objects.get(pk=scan.pk)

    early, late = _expire_and_requeue(django_capture_on_commit_callbacks)
    done = DuplicateScan.objects.get(pk=scan.pk)

    assert killed.status == "running"
    assert BATCH_PROFILES <= killed.profiles_scanned < people
    assert (early, late) == (0, 1)
    assert (done.status, done.profiles_scanned, done.total) == ("done", people, people)
    assert not JobLease.objects.exists()
