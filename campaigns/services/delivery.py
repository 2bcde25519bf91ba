"""The fast path of sending: an email's bytes written directly, marks that do not wait.

With Django's SMTP backend (the default), the outbox writes each message's bytes itself
(`campaigns.mime`) and hands them to the backend's open `smtplib` connection, which is
kept across batches. Other backends (files, anymail's ESPs) get a Django email message.

On PostgreSQL each mark is sent to the server as soon as its SMTP transaction is over and
its answer read only before the next statement: the round trip overlaps the next
message's SMTP transaction. Once sent, a mark runs even if the worker is killed (the
server reads the statement before it sees the connection close), so the only message a
kill can send twice is still the one in flight.
"""

from __future__ import annotations

import select
import uuid
from collections.abc import Callable
from datetime import datetime
from email.utils import formatdate, parseaddr
from typing import Any

from django.conf import settings
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.core.mail.message import sanitize_address
from django.db import DatabaseError, connection

from campaigns.bounces import verp_address
from campaigns.mime import header_value, mime_bytes

# The source of the profile events the campaigns app appends (sent, bounced, called…).
EVENT_SOURCE = "cdp-campaigns"
EVENT_SOURCE_NAME = "Campaigns"


def smtp_of(mailer: Any) -> Any:
    """The open smtplib connection of Django's SMTP backend; None for any other backend."""
    if type(mailer) is SmtpBackend and mailer.connection is not None:
        return mailer.connection
    return None


class Sender:
    """The From header of a batch, computed once; each message's envelope sender (VERP)."""

    def __init__(self) -> None:
        self.header = sanitize_address(settings.DEFAULT_FROM_EMAIL, "utf-8")
        self.envelope = parseaddr(self.header)[1]

    def envelope_of(self, *, message_pk: int) -> str:
        """The Return-Path of one message: the bounce address tagged with it (VERP)."""
        return verp_address(message_pk=message_pk)

    def bytes_of(
        self,
        *,
        to: str,
        subject: str,
        text: str,
        html: str,
        headers: dict[str, str],
    ) -> bytes:
        return mime_bytes(
            sender=self.header,
            to=to if to.isascii() else sanitize_address(to, "utf-8"),
            subject=subject,
            text=text,
            html=html,
            headers={name: header_value(value) for name, value in headers.items()},
            boundary=f"=_cdp{uuid.uuid4().hex}",
            date=formatdate(),
        )


class Marks:
    """Marks run one statement at a time; on PostgreSQL, sent without awaiting the answer."""

    def __init__(self, fallback: Callable[[int, datetime], None]) -> None:
        self.fallback = fallback
        self.pending = False
        self.pg: Any = None
        self.client: Any = None
        if connection.vendor == "postgresql" and connection.get_autocommit():
            import psycopg

            connection.ensure_connection()
            raw = connection.connection
            self.pg = raw.pgconn
            self.client = psycopg.ClientCursor(raw)

    def send(self, sql: str, params: list[Any], pk: int, now: datetime) -> None:
        """Run the mark: at once elsewhere, in the background on PostgreSQL."""
        if self.pg is None:
            self.fallback(pk, now)
            return
        statement = self.client.mogrify(sql, params)
        self.collect()
        self.pg.send_query(statement.encode())
        while self.pg.flush():
            select.select([], [self.pg.socket], [])
        self.pending = True

    def collect(self) -> None:
        """Read the answer of the mark in flight, if any; before any other statement."""
        if not self.pending:
            return
        self.pending = False
        from psycopg import pq

        error = ""
        while True:
            while self.pg.is_busy():
                select.select([self.pg.socket], [], [])
                self.pg.consume_input()
            result = self.pg.get_result()
            if result is None:
                break
            if result.status not in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
                error = (result.error_message or b"").decode(errors="replace")
        if error:
            raise DatabaseError(error)
