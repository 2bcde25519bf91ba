"""Job leases: the work a long job owes, one runner at a time, queued again once expired."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from core.leases import (
    job_lease_claim,
    job_lease_kept,
    job_lease_owe,
    job_lease_release,
    job_lease_renew,
    job_leases_expired_requeue,
)
from core.models import JobLease
from profiles.models import MaintenanceRun
from profiles.services.quality.maintenance import maintenance_job, maintenance_start

JOB = "test.job:1"
TASK = "cdp_site.tasks.rate_sweep_task"


@pytest.mark.django_db
def test_one_runner_at_a_time_and_a_finished_job_owes_nothing() -> None:
    job_lease_owe(job=JOB, task=TASK)

    first = job_lease_claim(job=JOB)
    second = job_lease_claim(job=JOB)
    assert first is not None
    handed = job_lease_release(first, done=True)

    assert second is None
    assert handed is None
    assert not JobLease.objects.exists()
    assert job_lease_claim(job=JOB) is None  # nothing owed any more


@pytest.mark.django_db
def test_a_request_made_while_a_runner_works_makes_it_run_again() -> None:
    job_lease_owe(job=JOB, task=TASK)
    runner = job_lease_claim(job=JOB)
    assert runner is not None
    time.sleep(0.002)
    job_lease_owe(job=JOB, task=TASK)  # e.g. a segment's rule changed during its refresh

    handed = job_lease_release(runner, done=True)
    stray = job_lease_claim(job=JOB)
    next_run = job_lease_claim(job=JOB, handed=handed or "")

    assert handed
    assert stray is None
    assert next_run is not None
    assert job_lease_release(next_run, done=True) is None
    assert not JobLease.objects.exists()


@pytest.mark.django_db
def test_an_expired_lease_is_queued_again_and_the_slow_runner_loses_it(
    django_capture_on_commit_callbacks: Any,
) -> None:
    job_lease_owe(job=JOB, task=TASK, kwargs={"a": 1})
    slow = job_lease_claim(job=JOB)
    assert slow is not None
    with django_capture_on_commit_callbacks() as early:
        assert job_leases_expired_requeue() == 0
    JobLease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    with django_capture_on_commit_callbacks() as callbacks:
        requeued = job_leases_expired_requeue()
    lease = JobLease.objects.get()
    taker = job_lease_claim(job=JOB)

    assert early == []
    assert requeued == 1
    assert [c.keywords for c in callbacks] == [{"task": TASK, "kwargs": {"a": 1}}]
    assert (lease.holder, lease.requeued) == ("", 1)
    assert lease.expires_at > timezone.now()
    assert taker is not None
    assert job_lease_renew(slow) is False
    assert job_lease_release(slow, done=True) is None
    assert JobLease.objects.get().holder == taker.token


@pytest.mark.django_db(transaction=True)
def test_a_kept_lease_is_renewed_while_its_runner_works(settings: Any) -> None:
    settings.CDP_JOB_LEASE_SECONDS = 3  # renewed every second
    job_lease_owe(job=JOB, task=TASK)
    lease = job_lease_claim(job=JOB)
    assert lease is not None
    claimed_until = JobLease.objects.get().expires_at

    with job_lease_kept(lease) as lost:
        time.sleep(2.5)
    renewed_until = JobLease.objects.get().expires_at

    assert not lost.is_set()
    assert renewed_until - claimed_until >= timedelta(seconds=1)


@pytest.mark.django_db
def test_starting_a_maintenance_run_owes_its_lease_and_the_requeue_names_its_task(
    django_capture_on_commit_callbacks: Any,
) -> None:
    run = maintenance_start(kind=MaintenanceRun.Kind.SCORES, reason="test")
    JobLease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    with django_capture_on_commit_callbacks() as callbacks:
        job_leases_expired_requeue()

    assert JobLease.objects.get().job == maintenance_job(run.pk)
    assert [c.keywords for c in callbacks] == [
        {
            "task": "profiles.tasks.quality_maintain_task",
            "kwargs": {"kind": "scores", "run_id": run.pk},
        }
    ]
