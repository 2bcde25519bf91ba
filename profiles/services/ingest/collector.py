"""Python's cycle collector, paused while a batch is ingested.

A batch allocates some hundred objects per message and frees them by reference counting:
none is in a cycle. With the collector on, its passes over the process's heap took 15-20%
of `ingest_messages` at 1,000 messages a batch, and up to a third of a drain of the intake
buffer (bench/ingest.py). Paused for one bounded batch, nothing is lost: it runs again
after.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_pauses = 0
_was_enabled = False


@contextmanager
def cycle_collector_paused() -> Iterator[None]:
    """Pause the collector for the block; pauses may nest or overlap (threads).

    The last pause to end resumes it, if it was running when the first began. Let the
    batch's objects be freed before the block ends (call a function inside it): the
    collector's first pass after resuming then has little to look at.
    """
    global _pauses, _was_enabled
    with _lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()
