"""The demo's broadcast, as a newcomer reads it: mail files under var/mail (Django's file
backend, the default without an SMTP host), in French and English, with working links."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from campaigns.models import Message
from profiles.models import Event


@pytest.mark.django_db
def test_the_demos_mails_are_files_a_person_can_read_with_opens_and_clicks_on_profiles(
    settings: Any, tmp_path: Path
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = tmp_path

    call_command("cdp_demo")

    raw = b"".join(path.read_bytes() for path in sorted(tmp_path.iterdir()))
    # The file backend writes each message followed by a line of dashes.
    mails = [
        email.message_from_bytes(chunk.strip() + b"\n", policy=email.policy.default)
        for chunk in raw.split(b"-" * 79)
        if chunk.strip()
    ]
    broadcast = Message.objects.filter(origin_kind="broadcast", status="sent")
    ids = set(broadcast.values_list("message_id", flat=True))
    ours = [m for m in mails if m["Message-ID"] in ids]
    assert len(ours) == len(ids) > 0
    languages = set()
    for mail in ours:
        assert str(mail["List-Unsubscribe"]).strip().startswith("<http")
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        html = mail.get_body(("html",)).get_content()
        text = mail.get_body(("plain",)).get_content()
        assert "/t/o/" in html  # the open pixel
        assert "/t/c/" in html  # signed click links
        assert text.strip()
        languages.add("fr" if "nouvelles" in str(mail["Subject"]) else "en")
    assert languages == {"fr", "en"}
    tracked = Event.objects.filter(
        source__slug="cdp-campaigns", name__in=["Email Opened", "Email Clicked"]
    )
    assert {e.profile_id for e in tracked} <= set(broadcast.values_list("profile_id", flat=True))
    assert tracked.filter(name="Email Clicked").exists()
