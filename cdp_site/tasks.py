"""Site-level celery tasks: each calls one service and holds only its retry policy."""

from __future__ import annotations

import socket
from datetime import timedelta

from celery import shared_task
from django.db import InterfaceError, OperationalError

from cdp_site.models import Heartbeat
from cdp_site.services import heartbeat_prune, heartbeat_record
from core.leases import job_leases_expired_requeue
from core.rates import rate_sweep


@shared_task(name="cdp_site.tasks.scheduler_heartbeat_task", ignore_result=False)
def scheduler_heartbeat_task() -> str:
    """Record that a scheduled message travelled through the broker to a worker."""
    heartbeat_record(kind=Heartbeat.Kind.SCHEDULER, name="beat")
    return socket.gethostname()


@shared_task(name="cdp_site.tasks.heartbeat_prune_task")
def heartbeat_prune_task(days: int = 7) -> int:
    """Delete heartbeats of processes gone for more than `days`."""
    return heartbeat_prune(older_than=timedelta(days=days))


@shared_task(name="cdp_site.tasks.rate_sweep_task")
def rate_sweep_task() -> int:
    """Delete rate allowances whose time has passed."""
    return rate_sweep()


@shared_task(
    name="cdp_site.tasks.job_leases_requeue_task",
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=5,
    max_retries=5,
)
def job_leases_requeue_task() -> int:
    """Queue again the long jobs whose lease expired (a worker killed mid-job)."""
    return job_leases_expired_requeue()
