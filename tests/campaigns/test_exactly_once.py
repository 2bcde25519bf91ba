"""A worker killed mid-broadcast, then restarted: each person gets the message once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from campaigns.models import Message
from campaigns.services import broadcast_create, broadcast_schedule
from tests.campaigns.conftest import Sink, free_port, grant, make_people, static_segment, withdraw
from tests.conftest import current_database_url

ROOT = Path(__file__).resolve().parents[2]


class SlowSink(Sink):
    """Takes a few milliseconds a message, so that a kill lands mid-broadcast."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.01)
        return await super().handle_DATA(server, session, envelope)


def _worker(port: int, *, loop: bool) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": current_database_url(),
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
        "EMAIL_USE_TLS": "false",
        "CDP_QUIET_HOURS": "off",
        "CDP_OUTBOX_LEASE_SECONDS": "2",
    }
    command = [sys.executable, "manage.py", "cdp_send", "--batch", "20"]
    return subprocess.Popen(
        command + (["--loop"] if loop else []),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_leaves_nobody_without_the_message_and_nobody_with_two(
    purposes: dict[str, Any], template: Any
) -> None:
    newsletter = purposes["newsletter"]
    people = make_people(150)
    for person in people[:140]:
        grant(person, newsletter)
    for person in people[130:140]:
        withdraw(person, newsletter)
    broadcast = broadcast_create(
        name="Kill test",
        segment_id=static_segment(people).pk,
        template_id=template.pk,
        purpose_id=newsletter.pk,
    )
    broadcast_schedule(broadcast_id=broadcast.pk)
    sink = SlowSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        first = _worker(port, loop=True)
        deadline = time.monotonic() + 60
        while len(sink.messages) < 30 and time.monotonic() < deadline:
            assert first.poll() is None, first.communicate()[1].decode()[-2000:]
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        at_kill = len(sink.messages)
        time.sleep(2.5)  # the dead worker's lease expires
        second = _worker(port, loop=False)
        _, errors = second.communicate(timeout=120)
        assert second.returncode == 0, errors.decode()[-2000:]
    finally:
        controller.stop()

    received = Counter(m["Message-ID"] for m in sink.messages)
    rows = dict(Message.objects.values_list("message_id", "profile_id"))
    consenting = {p.pk for p in people[:130]}
    assert 30 <= at_kill < 130  # the kill did land in the middle
    assert {rows[mid] for mid in received} == consenting
    assert sum(received.values()) - len(received) <= 1  # at most the transaction in flight
    assert Counter(Message.objects.values_list("status", flat=True)) == {"sent": 130, "skipped": 20}
