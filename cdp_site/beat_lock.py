"""One scheduler per database: a second `celery beat` stands by until the first one stops.

PostgreSQL: a session advisory lock on a connection of its own, held for the life of the
process (the server releases it when the process dies, however it dies). SQLite: an
exclusive `flock` on a file next to the database (released by the kernel likewise).
"""

from __future__ import annotations

import fcntl
import logging
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)

LOCK_KEY = 0x43_44_50_42_45_41_54  # "CDPBEAT": the schedule's advisory lock
_held: list[Any] = []  # what keeps the lock: a connection or an open file


def _try_postgresql() -> bool:
    connection = connections.create_connection("default")
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
        (locked,) = cursor.fetchone()
    if locked:
        _held.append(connection)
    else:
        connection.close()
    return bool(locked)


def _try_file() -> bool:
    path = Path(str(settings.DATABASES["default"]["NAME"])).with_suffix(".beat.lock")
    handle = path.open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return False
    _held.append(handle)
    return True


def beat_lock_try() -> bool:
    """Take the scheduler's lock if nobody holds it; whether this process holds it now."""
    if _held:
        return True
    if connections["default"].vendor == "postgresql":
        return _try_postgresql()
    return _try_file()


def beat_lock_wait(*, every: float = 10.0) -> None:
    """Block until this process holds the scheduler's lock (standing by meanwhile)."""
    if beat_lock_try():
        return
    logger.warning("another celery beat runs the schedule of this database; standing by")
    while not beat_lock_try():
        time.sleep(every)
    logger.warning("the other celery beat stopped; this one runs the schedule now")


def beat_lock_release() -> None:
    """Let another scheduler take over (tests; a process that exits releases it anyway)."""
    while _held:
        held = _held.pop()
        held.close()
