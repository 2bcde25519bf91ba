"""Bounces and complaints as they arrive: VERP return paths and reports (RFC 3464, ARF).

Each email leaves with its own envelope sender (its Return-Path), a VERP address that
names the message and is signed: `bounces+<message pk>-<signature>@<domain>` from
`CDP_BOUNCE_ADDRESS` (default `bounces@<CDP_MAIL_DOMAIN>`). A bounce mailed back there
names the message it is about even when the receiver's report quotes nothing; a forged
address names no message. Without a VERP address, the Message-ID quoted in the report's
returned headers is looked up instead.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import re
from dataclasses import dataclass
from email.message import Message as MailMessage

from django.conf import settings

_VERP = re.compile(r"\+(\d+)-([0-9a-f]{16})@", re.IGNORECASE)
_STATUS = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})")
_MESSAGE_ID = re.compile(r"^Message-ID:\s*(<[^>\s]+>)", re.IGNORECASE | re.MULTILINE)


def bounce_address() -> str:
    domain = getattr(settings, "CDP_MAIL_DOMAIN", "cdp.localhost")
    return getattr(settings, "CDP_BOUNCE_ADDRESS", "") or f"bounces@{domain}"


def _signature(message_pk: int) -> str:
    key = hashlib.sha256(f"campaigns.verp{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, str(message_pk).encode(), hashlib.sha256).hexdigest()[:16]


def verp_address(*, message_pk: int) -> str:
    """The envelope sender of one message: the bounce address tagged with the message."""
    local, _, domain = bounce_address().partition("@")
    return f"{local}+{message_pk}-{_signature(message_pk)}@{domain}"


def verp_read(*, address: str) -> int | None:
    """The message a VERP address names, or None (no tag, or a signature that fails)."""
    found = _VERP.search(address or "")
    if found is None:
        return None
    pk = int(found.group(1))
    return pk if hmac.compare_digest(found.group(2).lower(), _signature(pk)) else None


@dataclass(frozen=True)
class Report:
    """What one report says: about which message, a bounce or a complaint, hard or not."""

    kind: str  # "bounce" | "complaint"
    hard: bool
    status: str  # the DSN status ("5.1.1"), or the feedback type of a complaint
    message_pk: int | None
    message_id: str


def _returned_message_id(parsed: MailMessage) -> str:
    for part in parsed.walk():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                value = payload[0].get("Message-ID", "")
                if value:
                    return str(value).strip()
            text = part.as_string() if not isinstance(payload, str) else payload
            found = _MESSAGE_ID.search(text)
            if found:
                return found.group(1)
    return ""


def report_parse(*, raw: bytes, recipient: str = "") -> Report | None:
    """A bounce (multipart/report; report-type=delivery-status) or a complaint (ARF
    feedback-report) read from a mail; None when the mail is neither."""
    parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
    addresses = [
        recipient,
        *(str(parsed.get(h, "")) for h in ("Delivered-To", "X-Original-To", "Envelope-To", "To")),
    ]
    message_pk = next((pk for a in addresses if (pk := verp_read(address=a)) is not None), None)
    message_id = _returned_message_id(parsed)
    report_type = (parsed.get_param("report-type") or "").lower()
    if parsed.get_content_type() == "multipart/report" and report_type == "feedback-report":
        feedback = "abuse"
        for part in parsed.walk():
            if part.get_content_type() == "message/feedback-report":
                fields = _fields(part)
                feedback = fields.get("feedback-type", "abuse").lower()
        return Report("complaint", True, feedback, message_pk, message_id)
    if parsed.get_content_type() != "multipart/report" or report_type != "delivery-status":
        return None
    status, action = "", ""
    for part in parsed.walk():
        if part.get_content_type() == "message/delivery-status":
            fields = _fields(part)
            status = fields.get("status", "")
            action = fields.get("action", "").lower()
    code = _STATUS.match(status)
    if action not in ("failed", "delayed") or code is None:
        return None
    hard = action == "failed" and code.group(1) == "5"
    return Report("bounce", hard, ".".join(code.groups()), message_pk, message_id)


def _fields(part: MailMessage) -> dict[str, str]:
    """The `Name: value` fields of a delivery-status or feedback-report part (all blocks)."""
    payload = part.get_payload()
    blocks = payload if isinstance(payload, list) else [payload]
    fields: dict[str, str] = {}
    for block in blocks:
        text = block.as_string() if isinstance(block, MailMessage) else str(block)
        for line in text.splitlines():
            name, sep, value = line.partition(":")
            if sep and name.strip():
                fields[name.strip().lower()] = value.strip()
    return fields
