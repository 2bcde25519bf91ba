"""Reads of the site layer: the health of database, broker, workers and scheduler."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from cdp_site.models import Heartbeat


def _database_check() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means "down"; the type is enough to act on
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "vendor": connection.vendor}


def _broker_check() -> dict[str, Any]:
    from cdp_site.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=3)
            transport = conn.transport_cls
    except Exception as exc:  # unreachable broker, bad URL, auth failure
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "transport": str(transport)}


def _heartbeat_check(kind: str, *, stale_seconds: int) -> dict[str, Any]:
    try:
        seen = list(Heartbeat.objects.filter(kind=kind).values_list("seen_at", flat=True))
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    now = timezone.now()
    ages = sorted((now - at).total_seconds() for at in seen)
    alive = [age for age in ages if age <= stale_seconds]
    return {
        "ok": bool(alive),
        "alive": len(alive),
        "last_seen_seconds": round(ages[0], 1) if ages else None,
    }


def health_status() -> tuple[bool, dict[str, Any]]:
    """Database, broker and a live worker decide health; the scheduler is reported."""
    stale = settings.CDP_WORKER_STALE_SECONDS
    checks = {
        "database": _database_check(),
        "broker": _broker_check(),
    }
    if checks["database"]["ok"]:
        checks["worker"] = _heartbeat_check(Heartbeat.Kind.WORKER, stale_seconds=stale)
        # Beat's heartbeat task runs every 30 s; allow for one missed round.
        checks["scheduler"] = _heartbeat_check(Heartbeat.Kind.SCHEDULER, stale_seconds=90)
    else:
        checks["worker"] = {"ok": False, "error": "database unavailable"}
        checks["scheduler"] = {"ok": False, "error": "database unavailable"}
    healthy = all(checks[name]["ok"] for name in ("database", "broker", "worker"))
    return healthy, checks
