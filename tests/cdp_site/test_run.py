"""`cdp_run` (what `make run` starts): web, worker and beat, then the login, last."""

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from tests.conftest import current_database_url

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_make_run_prints_the_steward_login_after_the_services_banners() -> None:
    get_user_model().objects.create_superuser("steward", "s@example.org", "run-pass-123")
    env = {
        **os.environ,
        "DATABASE_URL": current_database_url(),
        "CDP_DEMO_PASSWORD": "run-pass-123",
        "PYTHONUNBUFFERED": "1",
    }
    run = subprocess.Popen(
        [sys.executable, "manage.py", "cdp_run", "--port", str(_free_port())],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert run.stdout is not None
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            line = run.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Steward login" in line:
                break
    finally:
        run.send_signal(signal.SIGINT)
        run.wait(timeout=60)

    output = "".join(lines)
    login_at = output.find("Steward login: user 'steward', password 'run-pass-123'")
    assert login_at > 0, output[-3000:]
    assert 0 <= output.find("Booting worker") < login_at  # gunicorn
    assert 0 <= output.find(" ready.") < login_at  # the celery worker
    assert 0 <= output.find("beat: Starting") < login_at


def _cdp_run(port: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DATABASE_URL": current_database_url(),
        "CDP_DEMO_PASSWORD": "run-pass-123",
        "PYTHONUNBUFFERED": "1",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "cdp_run", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _until_login(run: subprocess.Popen[str]) -> str:
    assert run.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        line = run.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Steward login" in line:
            break
    return "".join(lines)


def _is_socket(path: Path) -> bool:
    return path.exists() and stat.S_ISSOCK(path.stat().st_mode)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_make_runs_side_by_side_keep_their_own_gunicorn_control_socket(
    settings: Any,
) -> None:
    get_user_model().objects.create_superuser("steward", "s@example.org", "run-pass-123")
    ports = (_free_port(), _free_port())
    sockets = [Path(settings.VAR_DIR).resolve() / f"gunicorn-{port}.ctl" for port in ports]
    first, second = (_cdp_run(port) for port in ports)
    try:
        outputs = [_until_login(first), _until_login(second)]
        deadline = time.monotonic() + 30
        while not all(_is_socket(path) for path in sockets) and time.monotonic() < deadline:
            time.sleep(0.2)
        both_running = [_is_socket(path) for path in sockets]
        first.send_signal(signal.SIGINT)
        first.wait(timeout=60)
        after_first_stopped = [_is_socket(path) for path in sockets]
    finally:
        for run in (first, second):
            if run.poll() is None:
                run.send_signal(signal.SIGINT)
                run.wait(timeout=60)

    assert all("Steward login" in output for output in outputs), outputs[1][-3000:]
    assert both_running == [True, True]
    assert after_first_stopped == [False, True]
