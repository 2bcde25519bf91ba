"""Start web, worker and beat together; Ctrl-C (or any one of them dying) stops all three."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

QUEUES = "ingest,segments,journeys,reports,default"
# What each process prints once it serves: the login is printed after all three.
READY_MARKERS = {"web": "Booting worker", "worker": " ready.", "beat": "beat: Starting"}
READY_TIMEOUT_SECONDS = 90


# A Unix socket's path is at most 107 bytes on Linux (104 on macOS).
MAX_SOCKET_PATH = 100


def control_socket_options(*, port: int) -> list[str]:
    """gunicorn's control socket, one per instance (by port) under the var directory.

    gunicorn's default, ~/.gunicorn/gunicorn.ctl, is shared by every instance of a user:
    a second `make run` would take it over, and stopping either would delete it.
    """
    path = Path(settings.VAR_DIR).resolve() / f"gunicorn-{port}.ctl"
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        return ["--no-control-socket"]
    return ["--control-socket", str(path)]


def process_commands(*, port: int, bind: str) -> dict[str, list[str]]:
    """The three processes of an install, as `make run` starts them.

    Several may run side by side on other ports: each has its own gunicorn control socket
    and worker name; their beats share the database's schedule (one runs it, the others
    stand by).
    """
    bin_dir = Path(sys.executable).parent
    return {
        "web": [
            str(bin_dir / "gunicorn"),
            "cdp_site.wsgi:application",
            "--bind",
            f"{bind}:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--graceful-timeout",
            "5",
            *control_socket_options(port=port),
        ],
        "worker": [
            str(bin_dir / "celery"),
            "-A",
            "cdp_site",
            "worker",
            "-Q",
            QUEUES,
            "--concurrency",
            "2",
            "--loglevel",
            "INFO",
            "--hostname",
            f"worker-{port}@%h",
        ],
        "beat": [
            str(bin_dir / "celery"),
            "-A",
            "cdp_site",
            "beat",
            "--loglevel",
            "INFO",
            "--pidfile",
            "",
        ],
    }


class Command(BaseCommand):
    help = "Run web (gunicorn), a celery worker and celery beat until Ctrl-C."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--bind", default=os.environ.get("BIND", "127.0.0.1"))

    def handle(self, *args: Any, port: int, bind: str, **options: Any) -> None:
        children: dict[str, subprocess.Popen[str]] = {}
        ready = {name: threading.Event() for name in READY_MARKERS}
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        for name, command in process_commands(port=port, bind=bind).items():
            child = subprocess.Popen(
                command,
                cwd=settings.BASE_DIR,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
            )
            children[name] = child
            threading.Thread(
                target=_forward, args=(child, READY_MARKERS[name], ready[name]), daemon=True
            ).start()
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not stopping and time.monotonic() < deadline:
            if all(event.is_set() for event in ready.values()):
                break
            if any(child.poll() is not None for child in children.values()):
                break
            time.sleep(0.2)
        if not stopping:
            self.stdout.write(
                self.style.SUCCESS(
                    f"CDP running on http://{bind}:{port}/admin/ — Ctrl-C stops it.\n"
                    + login_hint()
                )
            )
            self.stdout.flush()
        exit_code = 0
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    self.stderr.write(f"{name} exited with {child.returncode}; stopping the rest")
                    exit_code = child.returncode or 1
                    stopping = True
                    break
            time.sleep(0.5)
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
        sys.exit(exit_code)


def _forward(child: subprocess.Popen[str], marker: str, ready: threading.Event) -> None:
    """Copy a child's output to ours, and say when it printed that it serves."""
    assert child.stdout is not None
    for line in child.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        if marker in line:
            ready.set()


def login_hint() -> str:
    """The demo steward's login when `cdp_demo` made one, else how to make a login."""
    from django.contrib.auth import get_user_model

    from cdp_site.management.commands.cdp_demo import DEMO_USER, demo_password

    if get_user_model().objects.filter(username=DEMO_USER, is_active=True).exists():
        return f"Steward login: user {DEMO_USER!r}, password {demo_password()!r}"
    return "No steward login yet: python manage.py createsuperuser"
