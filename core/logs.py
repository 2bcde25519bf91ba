"""Log lines without personal data, whatever a call site or a library puts in them.

Our own log calls carry ids and counts. What they cannot control is the text of an
exception: PostgreSQL explains a refused row with its values ("DETAIL: Key (kind,
namespace, value)=(email, , ada@example.org) already exists", "Failing row contains
(…)"), and that text reaches the log through a traceback (`logger.exception`, Django's
"Internal Server Error", a celery task that failed). The formatter below is the last step
before a line is written: it removes those values and masks email addresses and phone
numbers, in the message and the traceback alike. The web server's logging (Django's
`LOGGING`) and the celery worker's (which installs its own handlers) both use it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "…"

# "Key (email)=(ada@example.org)", also with one level of parentheses in the values
# (a function in an expression index: "Key (lower(email))=(…)").
_PARENS = r"\((?:[^()]|\([^()]*\))*\)"
_KEY_VALUES = re.compile(rf"(Key {_PARENS})=({_PARENS})")
_FAILING_ROW = re.compile(rf"(Failing row contains ){_PARENS}")
_EMAIL = re.compile(r"[\w.%+'-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")
# An international number (+ and 8 to 15 digits, maybe spaced) or a national one of 9+
# digits written with separators: "+33 6 12 34 56 78", "06.12.34.56.78".
_PHONE = re.compile(r"\+\d(?:[ .()-]?\d){7,14}\b|\b0\d(?:[ .-]\d{2}){4}\b")


def redact(text: str) -> str:
    """`text` with database row values, email addresses and phone numbers masked."""
    text = _KEY_VALUES.sub(rf"\1=({REDACTED})", text)
    text = _FAILING_ROW.sub(rf"\1({REDACTED})", text)
    text = _EMAIL.sub("<email>", text)
    return _PHONE.sub("<phone>", text)


class RedactingFormatter(logging.Formatter):
    """logging.Formatter whose whole output (message, traceback, stack) is `redact`ed.

    `wrapping`: format with that formatter first (celery's own, which names the task).
    """

    def __init__(self, *args: Any, wrapping: logging.Formatter | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.wrapping = wrapping

    def format(self, record: logging.LogRecord) -> str:
        text = self.wrapping.format(record) if self.wrapping else super().format(record)
        return redact(text)


def redact_handlers(logger: logging.Logger) -> None:
    """Make every handler of `logger` redact what it writes (keeping its format)."""
    for handler in logger.handlers:
        if not isinstance(handler.formatter, RedactingFormatter):
            handler.setFormatter(
                RedactingFormatter(wrapping=handler.formatter or logging.Formatter())
            )
