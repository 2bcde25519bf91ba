"""One scheduler per database: a second beat stands by until the first one dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdp_site.beat_lock import beat_lock_release, beat_lock_try
from tests.conftest import current_database_url

ROOT = Path(__file__).resolve().parents[2]
HOLDER = """
import django, sys, time
django.setup()
from cdp_site.beat_lock import beat_lock_try
print("held" if beat_lock_try() else "refused", flush=True)
time.sleep(300)
"""


@pytest.fixture
def holder() -> Iterator[subprocess.Popen[str]]:
    """Another process (another beat) that took the lock, on the test database."""
    env = dict(os.environ, DATABASE_URL=current_database_url())
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "held"
        yield process
    finally:
        process.kill()
        process.wait(timeout=30)
        beat_lock_release()


@pytest.mark.django_db(transaction=True)
def test_a_second_beat_is_refused_until_the_first_is_killed(
    holder: subprocess.Popen[str],
) -> None:
    while_held = beat_lock_try()
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    deadline = time.monotonic() + 30
    taken = beat_lock_try()
    while not taken and time.monotonic() < deadline:  # the server notices the lost session
        time.sleep(0.2)
        taken = beat_lock_try()

    assert while_held is False
    assert taken is True
