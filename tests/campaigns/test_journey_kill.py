"""A celery worker and celery beat killed with SIGKILL, again and again, during a journey
run of 10,000 enrolments: every enrolment ends where its path says, no step is recorded
(or done) twice, no message is created twice, and no message reaches the SMTP server
twice except one whose SMTP transaction was in flight at a kill."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from campaigns.models import Enrolment, Message, StepLog
from consent.models import ConsentRecord
from profiles.models import Event, Profile
from profiles.services.events import system_source_get
from tests.campaigns.journeys import live_journey
from tests.conftest import current_database_url
from tests.helpers import postgres_only

ROOT = Path(__file__).resolve().parents[2]
PEOPLE = 10_000
AGREED = 150  # people whose messages are sent; the others' are skipped (no consent)
CONCURRENCY = 2
ROUNDS = 4


def _env(settings: Any) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": current_database_url(),
        "LOG_LEVEL": "WARNING",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(settings.EMAIL_PORT),
        "EMAIL_USE_TLS": "false",
        "CDP_QUIET_HOURS": "off",
        "CDP_JOURNEY_BATCH": "400",  # many small transactions: the kills land between and in them
        "CDP_OUTBOX_LEASE_SECONDS": "3",  # a killed sender's messages come back soon
        "CDP_BEAT_STANDBY_SECONDS": "1",
    }


def _start(env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    celery = [sys.executable, "-m", "celery", "-A", "cdp_site"]
    worker = [*celery, "worker", "-Q", "journeys", "--concurrency", str(CONCURRENCY)]
    worker += ["--hostname", f"kill-{uuid.uuid4().hex[:8]}@%h", "--loglevel", "WARNING"]
    beat = [*celery, "beat", "--pidfile", "", "--loglevel", "WARNING"]
    return [
        subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # the worker's children die with it
        )
        for command in (worker, beat)
    ]


def _kill(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _done() -> bool:
    return not (
        Enrolment.objects.filter(status="running").exists()
        or Message.objects.filter(status__in=["queued", "sending"]).exists()
    )


@postgres_only
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_killed_worker_and_beat_lose_no_step_and_repeat_none(
    newsletter: Any, template: Any, smtp_sink: Any, settings: Any
) -> None:
    Profile.objects.bulk_create(
        [Profile(email=f"k{n}@example.org", language="en") for n in range(PEOPLE)],
        batch_size=5000,
    )
    people = list(Profile.objects.order_by("pk").values_list("pk", flat=True))
    now = timezone.now()
    ConsentRecord.objects.bulk_create(
        ConsentRecord(
            profile_id=pk,
            purpose=newsletter,
            status="granted",
            method="import",
            proof={"test": True},
            recorded_at=now,
        )
        for pk in people[:AGREED]
    )
    definition = {
        "trigger": {"type": "event", "event": {"name": "Kill Signal"}},
        "start": "ab",
        "steps": {
            "ab": {
                "type": "split",
                "variants": [
                    {"name": "a", "weight": 50, "next": "send"},
                    {"name": "b", "weight": 40, "next": "send"},
                    {"name": "control", "weight": 10, "next": "tag", "holdout": True},
                ],
            },
            "send": {"type": "send", "template": template.pk, "next": "tag"},
            "tag": {"type": "update_profile", "trait": "welcomed", "value": "yes", "next": "done"},
            "done": {"type": "exit"},
        },
    }
    live_journey(definition, newsletter, name="Kill")  # its cursor starts here
    source = system_source_get(slug="test-site", name="Test site")
    Event.objects.bulk_create(  # what beat's tick reads: everyone enrols from the event log
        [
            Event(
                profile_id=pk,
                source=source,
                type="track",
                name="Kill Signal",
                properties={},
                message_id=str(uuid.uuid4()),
                occurred_at=now,
                received_at=now,
            )
            for pk in people
        ],
        batch_size=5000,
    )
    env = _env(settings)
    rng = random.Random(20)
    kills = 0
    first_kill_steps = None
    for _ in range(ROUNDS):  # worker and beat together, both killed mid-run
        before = StepLog.objects.count()
        processes = _start(env)
        deadline = time.monotonic() + 40
        while StepLog.objects.count() < before + 1500 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0, 0.5))
        _kill(processes)
        kills += 1
        if first_kill_steps is None:
            first_kill_steps = StepLog.objects.count()
        if _done():
            break
    processes = _start(env)  # the last pair runs to the end
    try:
        deadline = time.monotonic() + 90
        while not _done() and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        _kill(processes)

    total_steps = PEOPLE * 4 - Enrolment.objects.filter(variant="control").count()
    assert first_kill_steps is not None
    assert 0 < first_kill_steps < total_steps  # the first kill landed during the run
    assert kills >= 2
    assert Counter(Enrolment.objects.values_list("status", flat=True)) == {"completed": PEOPLE}
    expected = {
        "a": ["ab", "send", "tag", "done"],
        "b": ["ab", "send", "tag", "done"],
        "control": ["ab", "tag", "done"],
    }
    walked: dict[int, list[str]] = {}
    for enrolment_id, step in StepLog.objects.order_by("enrolment_id", "visit").values_list(
        "enrolment_id", "step"
    ):
        walked.setdefault(enrolment_id, []).append(step)
    variants = dict(Enrolment.objects.values_list("pk", "variant"))
    assert {pk: walked[pk] for pk in variants} == {pk: expected[v] for pk, v in variants.items()}
    assert StepLog.objects.count() == total_steps
    senders = sum(1 for v in variants.values() if v in ("a", "b"))
    assert Message.objects.count() == senders
    assert Message.objects.values("profile_id").distinct().count() == senders
    assert Profile.objects.filter(traits__welcomed="yes").count() == PEOPLE

    # Sent once each; a resend only for a transaction in flight when a sender was killed.
    agreed = set(people[:AGREED])
    sent = Message.objects.filter(status="sent")
    assert set(sent.values_list("profile_id", flat=True)) == {
        pk
        for pk, variant in Enrolment.objects.values_list("profile_id", "variant")
        if variant != "control" and pk in agreed
    }
    arrived = Counter(smtp_sink.ids())
    assert set(arrived) == set(sent.values_list("message_id", flat=True))
    repeats = sum(count - 1 for count in arrived.values())
    assert repeats <= kills * CONCURRENCY
