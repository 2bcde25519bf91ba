"""An email written as bytes directly reads back as the same email."""

from __future__ import annotations

import email
from email.policy import default

from campaigns.mime import header_value, mime_bytes


def test_the_bytes_parse_back_to_the_same_parts_and_headers() -> None:
    html = "<p>" + "Très long paragraphe. " * 80 + "</p>\n<p>.start of a line</p>"
    raw = mime_bytes(
        sender="News <news@example.org>",
        to="ada@example.org",
        subject="Nouvelles du mois, Élodie — n° 12 " * 3,
        text="Bonjour Élodie,\n\n.a dot line\nfin",
        html=html,
        headers={"Message-ID": "<b.1.2.abc@cdp.localhost>", "List-Unsubscribe": "<https://x/u/>"},
        boundary="=_cdptest",
        date="Mon, 07 Dec 2026 00:00:00 -0000",
    )
    parsed = email.message_from_bytes(raw, policy=default)
    parts = {  # SMTP carries CRLF line ends; a mailbox reads them as lines
        part.get_content_type(): part.get_content().replace("\r\n", "\n")
        for part in parsed.iter_parts()
    }

    assert b"\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    assert str(parsed["Subject"]) == " ".join(("Nouvelles du mois, Élodie — n° 12 " * 3).split())
    assert parsed["Message-ID"] == "<b.1.2.abc@cdp.localhost>"
    assert parsed["To"] == "ada@example.org"
    assert parts["text/plain"] == "Bonjour Élodie,\n\n.a dot line\nfin"
    assert parts["text/html"] == html


def test_an_ascii_header_travels_as_it_is() -> None:
    assert header_value("Hello   Ada") == "Hello Ada"
