"""A real SMTP server for the tests (aiosmtpd): what it received, parsed."""

from __future__ import annotations

import email
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message as MailMessage
from typing import Any

from aiosmtpd.controller import Controller


class Sink:
    """What the SMTP server received: one parsed message per delivery. A recipient whose
    address starts with "bounce" is refused (550), as a mailbox that does not exist."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[MailMessage] = []
        self.envelope_senders: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.original_content)
        with self.lock:
            self.messages.append(parsed)
            self.envelope_senders.append(envelope.mail_from)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.startswith("bounce"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def ids(self) -> list[str]:
        with self.lock:
            return [m["Message-ID"] for m in self.messages]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def smtp_server(settings: Any, sink: Sink | None = None) -> Iterator[Sink]:
    """An aiosmtpd server on a free port, and Django's SMTP backend pointed at it."""
    sink = sink or Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = False
    try:
        yield sink
    finally:
        controller.stop()
