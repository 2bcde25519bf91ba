"""Celery process hooks: a worker heartbeat thread and the schedule sync at beat start."""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

from celery.signals import beat_init, worker_ready, worker_shutdown

logger = logging.getLogger(__name__)
_stop = threading.Event()


def _heartbeat_loop(name: str, every: float) -> None:
    from django.db import close_old_connections, connection

    from cdp_site.models import Heartbeat
    from cdp_site.services import heartbeat_record

    while not _stop.is_set():
        try:
            heartbeat_record(kind=Heartbeat.Kind.WORKER, name=name)
        except Exception:  # a database hiccup must not kill the worker; /health/ shows it
            logger.exception("worker heartbeat failed")
            close_old_connections()
        finally:
            connection.close()
        _stop.wait(every)


@worker_ready.connect
def start_heartbeat(sender: Any = None, **_: Any) -> None:
    from django.conf import settings

    name = getattr(sender, "hostname", None) or socket.gethostname()
    _stop.clear()
    threading.Thread(
        target=_heartbeat_loop,
        args=(name, settings.CDP_WORKER_HEARTBEAT_SECONDS),
        name="cdp-heartbeat",
        daemon=True,
    ).start()


@worker_shutdown.connect
def stop_heartbeat(**_: Any) -> None:
    _stop.set()


@beat_init.connect
def sync_schedule(**_: Any) -> None:
    from django.conf import settings

    from cdp_site.beat_lock import beat_lock_wait
    from cdp_site.services import schedule_sync

    # A second beat against the same database would send every periodic task twice.
    beat_lock_wait(every=settings.CDP_BEAT_STANDBY_SECONDS)

    counts = schedule_sync()
    logger.info("periodic tasks synced: %s", counts)
