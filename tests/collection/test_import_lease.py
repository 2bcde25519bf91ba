"""A worker killed mid-import leaves a lease that expires; beat's requeue finishes the job
with every row imported exactly once."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files import File
from django.utils import timezone

from collection.models import ImportJob
from collection.services.imports import (
    import_job_create,
    import_leases_expired_requeue,
    import_start,
)
from profiles.models import Event, Identity, Profile
from tests.conftest import current_database_url

ROOT = Path(__file__).resolve().parents[2]
ROWS = 1_500
WORKER = """
import sys
import django
django.setup()
from collection.services.imports import import_run_batch
while import_run_batch(job_id=int(sys.argv[1]), max_rows=50).has_more:
    pass
"""


@pytest.fixture(autouse=True)
def _media_in_tmp(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def _job(source: Any, tmp_path: Path) -> ImportJob:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([["Email"], *([f"p{n}@example.org"] for n in range(ROWS))])
    path = tmp_path / "leads.csv"
    path.write_text(buffer.getvalue())
    with path.open("rb") as handle:
        job = import_job_create(source=source, file=File(handle), columns={"Email": "email"})
    return import_start(job_id=job.pk, run_async=False)


def _worker(job: ImportJob, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": current_database_url(),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "CDP_IMPORT_SLICES": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(job.pk)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_import_is_resumed_by_the_lease_and_imports_each_row_once(
    make_source: Any,
    tmp_path: Path,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.CDP_IMPORT_SLICES = 1
    settings.CELERY_TASK_ALWAYS_EAGER = True
    source, _ = make_source("Salon 2026", kind="trade_show")
    job = _job(source, tmp_path)
    worker = _worker(job, tmp_path)
    deadline = time.monotonic() + 120
    while ImportJob.objects.get(pk=job.pk).processed_rows < 200:
        assert worker.poll() is None, worker.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    killed = ImportJob.objects.get(pk=job.pk)

    with django_capture_on_commit_callbacks(execute=True):
        early = import_leases_expired_requeue()  # the lease still runs: nobody re-queues
    ImportJob.objects.filter(pk=job.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        resumed = import_leases_expired_requeue()
    done = ImportJob.objects.get(pk=job.pk)

    assert killed.status == "running"
    assert 200 <= killed.processed_rows < ROWS
    assert (early, resumed) == (0, 1)
    assert (done.status, done.processed_rows, done.profiles_created) == ("done", ROWS, ROWS)
    assert Profile.objects.count() == ROWS
    assert Identity.objects.filter(kind="email").count() == ROWS
    assert Event.objects.filter(type="import").count() == ROWS
    assert import_leases_expired_requeue() == 0  # a finished job is not queued again
