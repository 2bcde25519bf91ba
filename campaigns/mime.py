"""An email's bytes, written directly: multipart/alternative, UTF-8, quoted-printable.

Python's `email` package builds a tree of objects and folds every header through its
policy machinery, the largest cost of a message sent by the outbox. A campaign email has
one fixed shape (text and HTML alternatives, a handful of headers), so it is written
here as bytes: RFC 2047 encoded words for a non-ASCII subject, quoted-printable bodies
(`binascii`, in C), CRLF line ends, as SMTP wants them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from email.utils import formatdate

CRLF = "\r\n"
_WORD_BYTES = 42  # 56 base64 characters: "Subject: " and one word fit in 78


def header_value(value: str) -> str:
    """A header value as it may travel: as is when ASCII and short, else encoded words."""
    value = " ".join(value.split())
    if value.isascii() and len(value) <= 900:
        return value
    words: list[str] = []
    chunk = b""
    for char in value:
        encoded = char.encode()
        if len(chunk) + len(encoded) > _WORD_BYTES:
            words.append(chunk)
            chunk = b""
        chunk += encoded
    if chunk:
        words.append(chunk)
    return (CRLF + " ").join(f"=?utf-8?b?{base64.b64encode(w).decode()}?=" for w in words)


def _body(content: str) -> bytes:
    """Quoted-printable of a text, CRLF line ends, lines within 76 characters."""
    normal = content.replace("\r\n", "\n").replace("\r", "\n").encode()
    return binascii.b2a_qp(normal, istext=True).replace(b"\n", b"\r\n")


def mime_bytes(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    headers: Mapping[str, str],
    boundary: str,
    date: str | None = None,
) -> bytes:
    """The message: headers (values already safe: `header_value`), then text and HTML parts."""
    lines = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {header_value(subject)}",
        f"Date: {date or formatdate()}",
        "MIME-Version: 1.0",
        *(f"{name}: {value}" for name, value in headers.items()),
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
        "",
        f"--{boundary}",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "",
    ]
    middle = [
        "",
        f"--{boundary}",
        'Content-Type: text/html; charset="utf-8"',
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "",
    ]
    return b"".join(
        (
            CRLF.join(lines).encode(),
            _body(text),
            CRLF.join(middle).encode(),
            _body(html),
            f"{CRLF}--{boundary}--{CRLF}".encode(),
        )
    )
