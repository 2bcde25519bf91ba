"""Workers killed with SIGKILL during a journey run: every enrolment ends where its path
says, no step is recorded (or done) twice and no message is created twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from campaigns.journeys.services import journey_activate, journey_create, journey_enrol
from campaigns.models import Enrolment, Message, StepLog
from profiles.models import Profile
from tests.campaigns.conftest import grant
from tests.conftest import current_database_url
from tests.helpers import postgres_only

ROOT = Path(__file__).resolve().parents[2]
PEOPLE = 3000


def _worker() -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": current_database_url(), "LOG_LEVEL": "WARNING"}
    return subprocess.Popen(
        [sys.executable, "manage.py", "cdp_journeys", "--loop", "--batch", "100"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@postgres_only
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_killed_workers_lose_no_step_and_repeat_none(newsletter: Any, template: Any) -> None:
    Profile.objects.bulk_create(
        [Profile(email=f"k{n}@example.org", language="en") for n in range(PEOPLE)]
    )
    people = list(Profile.objects.order_by("pk"))
    for person in people[:50]:
        grant(person, newsletter)
    definition = {
        "trigger": {"type": "manual"},
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
    journey = journey_create(name="Kill", purpose_id=newsletter.pk, definition=definition)
    journey_activate(journey_id=journey.pk)
    journey_enrol(journey_id=journey.pk, profile_ids=[p.pk for p in people])

    kills = 0
    for round_ in range(3):  # two workers at a time, both killed mid-run
        workers = [_worker(), _worker()]
        target = StepLog.objects.count() + 300 * (round_ + 1)
        deadline = time.monotonic() + 120
        while StepLog.objects.count() < target and time.monotonic() < deadline:
            time.sleep(0.05)
        for worker in workers:
            assert worker.poll() is None, worker.communicate()[1].decode()[-2000:]
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
            kills += 1
        if not Enrolment.objects.filter(status="running").exists():
            break
    at_kill = StepLog.objects.count()
    last = subprocess.run(
        [sys.executable, "manage.py", "cdp_journeys", "--batch", "500"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": current_database_url(), "LOG_LEVEL": "WARNING"},
        capture_output=True,
        timeout=240,
        check=False,
    )
    assert last.returncode == 0, last.stderr.decode()[-2000:]

    assert 0 < at_kill < PEOPLE * 4  # the kills landed during the run
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
    senders = sum(1 for v in variants.values() if v in ("a", "b"))
    assert Message.objects.count() == senders
    assert Message.objects.values("profile_id").distinct().count() == senders
    assert Profile.objects.filter(traits__welcomed="yes").count() == PEOPLE
    assert kills >= 2
