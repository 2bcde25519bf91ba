"""Site-level celery tasks: each calls one service and holds only its retry policy."""

from __future__ import annotations

import socket
from datetime import timedelta

from celery import shared_task

from cdp_site.models import Heartbeat
from cdp_site.services import heartbeat_prune, heartbeat_record
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
