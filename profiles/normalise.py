"""Pure normalisers: raw values in, clean values or a reason out. Never raise on garbage."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email


@dataclass(frozen=True)
class Normalised:
    value: str
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


_SPACES = re.compile(r"\s+")
# Normalisers are pure, and a batch (or a busy source) repeats the same addresses and
# numbers: remembering recent answers skips email-validator and phonenumbers for repeats.
_CACHE_SIZE = 8192


def clean_text(raw: object, *, max_length: int = 200) -> str:
    """Trim, collapse inner whitespace, drop control characters, cut to max_length."""
    if raw is None:
        return ""
    text = str(raw)
    # Fast path: a printable string holds no control or format characters and no whitespace
    # but the plain space, so once it is known to be NFC only the spaces need tidying.
    if text.isprintable() and (text.isascii() or unicodedata.is_normalized("NFC", text)):
        if "  " in text:
            text = _SPACES.sub(" ", text)
        return text.strip()[:max_length]
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if ch in "\t\n " or unicodedata.category(ch)[0] != "C")
    return _SPACES.sub(" ", text).strip()[:max_length]


def normalise_email(raw: object) -> Normalised:
    """Lower-cased, syntax-checked address (no DNS look-up)."""
    if type(raw) is str:
        return _normalise_email_text(raw)
    return _normalise_email(raw)


@lru_cache(maxsize=_CACHE_SIZE)
def _normalise_email_text(raw: str) -> Normalised:
    return _normalise_email(raw)


def _normalise_email(raw: object) -> Normalised:
    text = clean_text(raw, max_length=320)
    if not text:
        return Normalised("")
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        return Normalised("", f"invalid email: {exc}")
    except Exception:  # email-validator can trip on exotic unicode; treat as invalid
        return Normalised("", "invalid email")
    normalised = result.normalized.lower()
    if len(normalised) > 254:
        return Normalised("", "invalid email: too long")
    return Normalised(normalised)


def normalise_phone(raw: object, *, region: str = "") -> Normalised:
    """E.164 form, using the source's default region for national numbers."""
    if type(raw) is str and type(region) is str:
        return _normalise_phone_text(raw, region)
    return _normalise_phone(raw, region)


@lru_cache(maxsize=_CACHE_SIZE)
def _normalise_phone_text(raw: str, region: str) -> Normalised:
    return _normalise_phone(raw, region)


def _normalise_phone(raw: object, region: str) -> Normalised:
    text = clean_text(raw, max_length=64)
    if not text:
        return Normalised("")
    try:
        number = phonenumbers.parse(text, region.upper() or None)
    except phonenumbers.NumberParseException as exc:
        return Normalised("", f"invalid phone: {exc._msg}")
    if not phonenumbers.is_valid_number(number):
        return Normalised("", "invalid phone: not a valid number")
    return Normalised(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def normalise_name(raw: object) -> str:
    """Trimmed, single-spaced; ALL CAPS or all lower becomes Title Case for display."""
    text = clean_text(raw, max_length=100)
    if text and (text.isupper() or text.islower()):
        text = text.title()
    return text


def normalise_country(raw: object) -> Normalised:
    """Two-letter ISO 3166-1 code (the data-quality work adds names in several languages)."""
    text = clean_text(raw, max_length=60).upper()
    if not text:
        return Normalised("")
    if len(text) == 2 and text.isalpha() and text.isascii():
        return Normalised(text)
    return Normalised("", "invalid country: expected an ISO 3166-1 alpha-2 code")


_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%Y/%m/%d", "%m/%d/%Y")


def normalise_date(raw: object) -> Normalised:
    """ISO date from common written forms; day-first wins over month-first when ambiguous."""
    if isinstance(raw, datetime):
        return Normalised(raw.date().isoformat())
    if isinstance(raw, date):
        return Normalised(raw.isoformat())
    text = clean_text(raw, max_length=40)
    if not text:
        return Normalised("")
    candidate = text[:10] if re.match(r"^\d{4}-\d{2}-\d{2}T", text) else text
    for fmt in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(candidate, fmt).date()
        except ValueError:
            continue
        if 1900 <= parsed.year <= 2100:
            return Normalised(parsed.isoformat())
    return Normalised("", "invalid date")
