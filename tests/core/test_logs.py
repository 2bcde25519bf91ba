"""No personal data in log lines, also where an exception's text carries it."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import Client, override_settings

from core.logs import RedactingFormatter, redact
from profiles.models import Identity, Profile

EMAIL = "ada.lovelace@example.org"
NOT_AN_EMAIL = "ada at example.org"
LAST_NAME = "Lovelace"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'duplicate key value violates unique constraint "identity_kind_namespace_value_unique"'
            "\nDETAIL:  Key (kind, namespace, value)=(email, , ada@example.org) already exists.",
            'duplicate key value violates unique constraint "identity_kind_namespace_value_unique"'
            "\nDETAIL:  Key (kind, namespace, value)=(…) already exists.",
        ),
        (
            "DETAIL:  Key (lower(email::text))=(ada (work)) already exists.",
            "DETAIL:  Key (lower(email::text))=(…) already exists.",
        ),
        (
            'IntegrityError(\'new row violates check constraint "profile_email_has_at"\\n'
            "DETAIL:  Failing row contains (7, active, ada at example.org, Lovelace (Ada)).')",
            'IntegrityError(\'new row violates check constraint "profile_email_has_at"\\n'
            "DETAIL:  Failing row contains (…).')",
        ),
        ("sent to Ada.Lovelace+news@mail.example.co.uk today", "sent to <email> today"),
        ("call +33 6 12 34 56 78 or 06.12.34.56.78", "call <phone> or <phone>"),
        ("called +33612345678.", "called <phone>."),
        # What must stay readable: ids, counts, times, durations, addresses of services.
        (
            "2026-11-29 15:13:08,123 INFO import job 42: 100000 rows, 2036 errors in 12.5 s",
            "2026-11-29 15:13:08,123 INFO import job 42: 100000 rows, 2036 errors in 12.5 s",
        ),
        (
            "broker redis://127.0.0.1:6379/0 unreachable",
            "broker redis://127.0.0.1:6379/0 unreachable",
        ),
    ],
)
def test_redact_masks_values_emails_and_phones_and_keeps_the_rest(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """What the configured console handler (settings.LOGGING) writes, as text."""
    handler = next(
        h for h in logging.getLogger().handlers if isinstance(h.formatter, RedactingFormatter)
    )
    assert isinstance(handler, logging.StreamHandler)
    written = io.StringIO()
    previous = handler.setStream(written)
    try:
        yield written
    finally:
        handler.setStream(previous)


@pytest.mark.django_db
def test_a_database_error_logged_with_its_traceback_names_no_value(console: io.StringIO) -> None:
    profile = Profile.objects.create(email=EMAIL)
    Identity.objects.create(profile=profile, kind="email", value=EMAIL)
    try:
        with transaction.atomic():
            Identity.objects.create(profile=profile, kind="email", value=EMAIL)
        pytest.fail("the database stored an identifier twice")
    except IntegrityError:
        logging.getLogger("cdp.test").exception("storing the identity of profile %s", profile.pk)
    try:
        with transaction.atomic():
            Profile.objects.create(email=NOT_AN_EMAIL, last_name=LAST_NAME)
        pytest.fail("the database stored an email without @")
    except IntegrityError:
        logging.getLogger("cdp.test").exception("storing a profile")

    text = console.getvalue()
    assert f"storing the identity of profile {profile.pk}" in text
    assert "Traceback" in text
    if connection.vendor == "postgresql":  # SQLite names no values in the first place
        assert "Key (kind, namespace, value)=(…) already exists" in text
        assert "Failing row contains (…)" in text
    for value in (EMAIL, NOT_AN_EMAIL, LAST_NAME):
        assert value not in text, text


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="tests.cdp_site.urls_failing")
def test_a_server_error_is_logged_without_the_values_the_database_refused(
    console: io.StringIO,
) -> None:
    response = Client(raise_request_exception=False).get("/api/store-twice/")

    assert response.status_code == 500
    text = console.getvalue()
    assert "Internal Server Error: /api/store-twice/" in text
    assert "IntegrityError" in text
    assert EMAIL not in text


def test_the_celery_worker_logs_redacted_too() -> None:
    """The worker installs its own handlers at start: they redact as the web's do."""
    script = (
        "import logging, django\n"
        "django.setup()\n"
        "from celery.utils.log import get_task_logger\n"
        "from cdp_site.celery import app\n"
        "app.log.setup(loglevel='INFO', redirect_stdouts=False, colorize=False)\n"
        f"logging.getLogger('cdp.test').error('refused: Key (value)=({EMAIL}) already exists')\n"
        "get_task_logger('cdp.tasks').error('task for +33612345678 failed')\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "cdp_site.settings"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
        check=True,
    )

    text = done.stdout + done.stderr
    assert "refused: Key (value)=(…) already exists" in text, text
    assert "task for <phone> failed" in text, text
    assert EMAIL not in text
    assert "+33612345678" not in text
