"""Wake a worker soon to run a periodic reader now, at most once a second across processes.

The first caller in a second queues the task to run one second later; callers within that
second are covered by it (their writes committed before it runs), so nothing waits for
beat's next tick, and a burst of callers costs one task. Beat stays the safety net: a
broker or cache down only means the work waits for the tick.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache

logger = logging.getLogger(__name__)


def task_wake(task: Any, *, key: str, seconds: int = 1) -> bool:
    """Queue `task` to run in `seconds` unless another caller did in the last `seconds`."""
    try:
        if not cache.add(f"wake:{key}", 1, timeout=seconds):
            return False
        task.apply_async(countdown=seconds)
    except Exception:  # broker or cache down: beat's tick runs the reader
        logger.warning("could not wake %s; beat will run it", key)
        return False
    return True
