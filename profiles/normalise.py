"""Pure normalisers: raw values in, clean values or a reason out. Never raise on garbage."""

from __future__ import annotations

import gettext
import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

import email_validator
import phonenumbers
import pycountry
from email_validator import EmailNotValidError, EmailSyntaxError, validate_email
from email_validator.rfc_constants import DOT_ATOM_TEXT, EMAIL_MAX_LENGTH
from email_validator.syntax import validate_email_domain_name
from rapidfuzz.distance import DamerauLevenshtein

from profiles.normalise_data import (
    COMMON_EMAIL_DOMAINS,
    COUNTRY_ALIASES,
    COUNTRY_CODE_ALIASES,
    DEFAULT_JOB_FUNCTION_RULES,
    POSTCODE_RULES,
    TLD_TYPOS,
)


@dataclass(frozen=True)
class Normalised:
    """A clean value, or "" and the reason; `code` names the data-quality issue found.

    A value can be clean and still carry a `suggestion` (a likely typo, never applied) or a
    `kind` (a phone number's line type).
    """

    value: str
    error: str = ""
    code: str = ""
    suggestion: str = ""
    kind: str = ""

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
        address = _validated_address(text)
    except EmailNotValidError as exc:
        # The reason up to any quoted characters: messages never repeat the address.
        reason = str(exc).split(":")[0].strip() or "not an address"
        return Normalised("", f"invalid email: {reason}", code="invalid_email")
    except Exception:  # email-validator can trip on exotic unicode; treat as invalid
        return Normalised("", "invalid email", code="invalid_email")
    normalised = address.lower()
    if len(normalised) > 254:
        return Normalised("", "invalid email: too long", code="invalid_email")
    domain = normalised.rpartition("@")[2]
    suggestion = email_domain_suggestion(domain)
    if suggestion:
        local = normalised.rpartition("@")[0]
        return Normalised(normalised, code="email_domain_typo", suggestion=f"{local}@{suggestion}")
    return Normalised(normalised)


def _validated_address(text: str) -> str:
    """email-validator's normalised form of `text` (no DNS), checking each domain only once.

    Most addresses have a plain ASCII part before the @ (email-validator's dot-atom rule,
    which it accepts unchanged) and a domain many other addresses share. For those, the
    answer is that plain part, an @ and the domain's answer from email-validator, which is
    kept per domain: its IDNA and syntax checks are most of the cost. Every other address
    (quoted, international before the @, bracketed, over the length limit) goes through
    `validate_email` whole, as do its error messages.
    """
    local, _, domain = text.partition("@")
    if DOT_ATOM_TEXT.match(local) and domain[:1].isascii() and domain[:1] not in ("", "["):
        checked = _email_domain(
            domain, email_validator.TEST_ENVIRONMENT, email_validator.GLOBALLY_DELIVERABLE
        )
        if isinstance(checked, str):
            raise EmailSyntaxError(checked)
        # email-validator's length limit, on the three forms it checks (in UTF-8 bytes).
        if all(
            len(local) + 1 + len(part.encode()) <= EMAIL_MAX_LENGTH for part in (domain, *checked)
        ):
            return f"{local}@{checked[0]}"
    return validate_email(text, check_deliverability=False).normalized


@lru_cache(maxsize=_CACHE_SIZE)
def _email_domain(
    domain: str, test_environment: bool, globally_deliverable: bool
) -> tuple[str, str] | str:
    """email-validator's answer for the part after the @: (normalised, ASCII) or the error."""
    try:
        info = validate_email_domain_name(
            domain, test_environment=test_environment, globally_deliverable=globally_deliverable
        )
    except EmailSyntaxError as exc:
        return str(exc)
    return info["domain"], info["ascii_domain"]


@lru_cache(maxsize=_CACHE_SIZE)
def email_domain_suggestion(domain: str) -> str:
    """The common mail domain `domain` is probably a typo of, or ""."""
    domain = domain.lower()
    if domain in COMMON_EMAIL_DOMAINS:
        return ""
    best, best_distance = "", 3
    limit = 2 if len(domain) >= 9 else 1
    for known in COMMON_EMAIL_DOMAINS:
        distance = DamerauLevenshtein.distance(domain, known, score_cutoff=limit)
        if distance <= limit and distance < best_distance:
            best, best_distance = known, distance
    if best:
        return best
    name, dot, tld = domain.rpartition(".")
    if dot and tld in TLD_TYPOS:
        fixed = f"{name}.{TLD_TYPOS[tld]}"
        return email_domain_suggestion(fixed) or fixed
    return ""


# Providers that deliver `name+anything@` to `name@`; Gmail also ignores the dots of a name.
_DOTLESS_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
_TAG_PROVIDERS = frozenset(
    {"gmail", "googlemail", "outlook", "hotmail", "live", "icloud", "me", "mac", "protonmail"}
)
_TAGGED_DOMAINS = frozenset(
    {domain for domain in COMMON_EMAIL_DOMAINS if domain.split(".")[0] in _TAG_PROVIDERS}
    | {"proton.me", "fastmail.com"}
)


@lru_cache(maxsize=_CACHE_SIZE)
def email_key(address: str) -> str:
    """The mailbox a normalised address reaches, for matching people (never for sending).

    A mistyped common domain is corrected (gmial.com, hotmial.fr), a +tag is dropped where
    the provider ignores it, and at Gmail the dots of the name too: a.durand+promo@gmial.com
    and adurand@gmail.com are one mailbox, so one identity.
    """
    local, at, domain = address.lower().rpartition("@")
    if not at:
        return address.lower()
    domain = email_domain_suggestion(domain) or domain
    if domain in _TAGGED_DOMAINS and "+" in local[1:]:
        local = local[0] + local[1:].split("+", 1)[0]
    if domain in _DOTLESS_DOMAINS:
        local = local.replace(".", "") or local
        domain = "gmail.com"
    return f"{local}@{domain}"


def normalise_phone(raw: object, *, region: str = "") -> Normalised:
    """E.164 form and line type, using the source's default region for national numbers."""
    if type(raw) is str and type(region) is str:
        return _normalise_phone_text(raw, region)
    return _normalise_phone(raw, region if type(region) is str else "")


@lru_cache(maxsize=_CACHE_SIZE)
def _normalise_phone_text(raw: str, region: str) -> Normalised:
    return _normalise_phone(raw, region)


_LINE_TYPES = {
    phonenumbers.PhoneNumberType.FIXED_LINE: "fixed_line",
    phonenumbers.PhoneNumberType.MOBILE: "mobile",
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    phonenumbers.PhoneNumberType.TOLL_FREE: "toll_free",
    phonenumbers.PhoneNumberType.PREMIUM_RATE: "premium_rate",
    phonenumbers.PhoneNumberType.SHARED_COST: "shared_cost",
    phonenumbers.PhoneNumberType.VOIP: "voip",
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER: "personal",
    phonenumbers.PhoneNumberType.PAGER: "pager",
    phonenumbers.PhoneNumberType.UAN: "uan",
    phonenumbers.PhoneNumberType.VOICEMAIL: "voicemail",
}


_E164_INPUT = re.compile(r"\+([1-9]\d{7,14})", re.ASCII)


@lru_cache(maxsize=256)
def _pattern(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


def parse_e164(text: str) -> phonenumbers.PhoneNumber | None:
    """`phonenumbers.parse`'s answer for a number written in E.164 form ("+33612345678"),
    without its general parsing (half of a phone's normalisation: digit mapping, extension
    and IDD search, several regular expressions); None where that parsing could change the
    digits — a national prefix or a leading zero after the country code — or for any other
    writing: the caller then parses in full. Wherever it answers, it answers as `parse`
    (tests/profiles/test_normalise.py checks every country calling code).
    """
    match = _E164_INPUT.fullmatch(text)
    if match is None:
        return None
    digits = match.group(1)
    # Country calling codes are prefix-free: the first of one to three digits that is one.
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    national = digits[size:]
    if national.startswith("0"):  # Italian leading zeros, national prefixes
        return None
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(
        code, phonenumbers.region_code_for_country_code(code)
    )
    if metadata is None:
        return None
    prefix = metadata.national_prefix_for_parsing
    if prefix and _pattern(prefix).match(national):  # `parse` might strip a prefix
        return None
    return phonenumbers.PhoneNumber(country_code=code, national_number=int(national))


def _normalise_phone(raw: object, region: str) -> Normalised:
    text = clean_text(raw, max_length=64)
    if not text:
        return Normalised("")
    region = region.upper() if len(region) == 2 and region.isascii() else ""
    try:
        number = parse_e164(text) or phonenumbers.parse(text, region or None)
    except phonenumbers.NumberParseException as exc:
        return Normalised("", f"invalid phone: {exc._msg}", code="invalid_phone")
    except Exception:  # phonenumbers on exotic input; treat as invalid
        return Normalised("", "invalid phone", code="invalid_phone")
    # `number_type` is UNKNOWN exactly when `is_valid_number` is false (both match the
    # number against its region's patterns): one pass answers both.
    kind = phonenumbers.number_type(number)
    if kind == phonenumbers.PhoneNumberType.UNKNOWN:
        return Normalised("", "invalid phone: not a valid number", code="invalid_phone")
    return Normalised(
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        kind=_LINE_TYPES.get(kind, "unknown"),
    )


def normalise_name(raw: object) -> str:
    """Trimmed, single-spaced; ALL CAPS or all lower becomes Title Case for display."""
    text = clean_text(raw, max_length=100)
    if text and (text.isupper() or text.islower()):
        text = text.title()
    return text


_NOT_WORD = re.compile(r"[\W_]+")


def name_key(raw: object) -> str:
    """Accent-, case- and punctuation-free form for matching ("José-María" -> "jose maria")."""
    text = clean_text(raw, max_length=300)
    if not text:
        return ""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.casefold()
    return _NOT_WORD.sub(" ", text).strip()


@lru_cache(maxsize=1)
def _country_index() -> dict[str, str]:
    """Every country's codes and names, in every language pycountry ships, by `name_key`.

    Built once per process from files on disk (~0.3 s); a name two countries share in
    different languages is dropped rather than guessed.
    """
    index: dict[str, str] = {}
    ambiguous: set[str] = set()

    def add(name: str, code: str) -> None:
        key = name_key(name)
        if not key or key in ambiguous:
            return
        if index.setdefault(key, code) != code:
            ambiguous.add(key)
            del index[key]

    english: dict[str, str] = {}
    for country in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            name = getattr(country, attr, "")
            if name:
                english[name] = country.alpha_2
                add(name, country.alpha_2)
    try:
        languages = sorted(os.listdir(pycountry.LOCALES_DIR))
    except OSError:
        languages = []
    for language in languages:
        path = os.path.join(pycountry.LOCALES_DIR, language, "LC_MESSAGES", "iso3166-1.mo")
        try:
            with open(path, "rb") as handle:
                catalog = gettext.GNUTranslations(handle)._catalog  # type: ignore[attr-defined]  # the parsed catalog is a private attribute of gettext
        except Exception:  # noqa: S112 - a missing or damaged catalogue costs its language only
            continue
        for original, translated in catalog.items():
            code = english.get(original) if isinstance(original, str) else None
            if code and isinstance(translated, str):
                add(translated, code)
    for alias, code in COUNTRY_ALIASES.items():
        index[alias] = code
        ambiguous.discard(alias)
    return index


@lru_cache(maxsize=1)
def _country_codes() -> dict[str, str]:
    codes = {country.alpha_2: country.alpha_2 for country in pycountry.countries}
    codes |= {country.alpha_3: country.alpha_2 for country in pycountry.countries}
    return codes | COUNTRY_CODE_ALIASES


def normalise_country(raw: object) -> Normalised:
    """ISO 3166-1 alpha-2 from a code (alpha-2 or -3) or a name in one of ~160 languages."""
    text = clean_text(raw, max_length=80)
    if not text:
        return Normalised("")
    return _normalise_country_text(text)


@lru_cache(maxsize=_CACHE_SIZE)
def _normalise_country_text(text: str) -> Normalised:
    upper = text.upper()
    if len(upper) <= 3 and upper.isascii() and upper.isalpha():
        code = _country_codes().get(upper)
        if code:
            return Normalised(code)
    code = _country_index().get(name_key(text))
    if code:
        return Normalised(code)
    return Normalised(
        "", "invalid country: expected an ISO 3166-1 code or a country name", code="invalid_country"
    )


def normalise_postcode(raw: object, *, country: str = "") -> Normalised:
    """Postcode in its country's written form, checked where a pattern is the whole rule.

    For a country without a rule (or none given) the value is only tidied and upper-cased.
    """
    text = clean_text(raw, max_length=21).upper()
    if not text:
        return Normalised("")
    if len(text) > 20:
        return Normalised("", "invalid postcode: too long", code="invalid_postcode")
    rule = POSTCODE_RULES.get(country.upper() if type(country) is str else "")
    if rule is None:
        return Normalised(text)
    pattern, template = rule
    compact = text.replace(" ", "").replace("-", "")
    match = pattern.match(compact)
    if match is None:
        return Normalised(
            "", f"invalid postcode: not a postcode of {country.upper()}", code="invalid_postcode"
        )
    if template == "us":
        zip5, plus4 = match.groups()
        return Normalised(f"{zip5}-{plus4}" if plus4 else zip5)
    return Normalised(match.expand(template))


_DATE_FORMATS = (
    "%Y-%m-%d",
    "%d/%m/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%m/%d/%Y",
    "%Y%m%d",
    "%d %B %Y",
    "%d %b %Y",
    "%B %d %Y",
    "%b %d %Y",
    "%B %d, %Y",
    "%b %d, %Y",
    "%d/%m/%y",
    "%d.%m.%y",
)


def normalise_date(raw: object) -> Normalised:
    """ISO date from common written forms; day-first wins over month-first when ambiguous.

    Two-digit years follow Python's rule (69-99 -> 19xx, 00-68 -> 20xx).
    """
    if isinstance(raw, datetime):
        return Normalised(raw.date().isoformat())
    if isinstance(raw, date):
        return Normalised(raw.isoformat())
    text = clean_text(raw, max_length=40)
    if not text:
        return Normalised("")
    candidate = text[:10] if re.match(r"^\d{4}-\d{2}-\d{2}T", text) else text
    candidate = _ORDINAL.sub(r"\1", candidate)
    for fmt in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(candidate, fmt).date()
        except ValueError:
            continue
        if 1900 <= parsed.year <= 2100:
            return Normalised(parsed.isoformat())
    return Normalised("", "invalid date", code="invalid_date")


def normalise_birth_date(raw: object, *, today: date | None = None) -> Normalised:
    """`normalise_date` (1900 onwards), refusing a birth date in the future."""
    result = normalise_date(raw)
    if not result.value:
        return result
    today = today or date.today()
    born = date.fromisoformat(result.value)
    if born > today:
        return Normalised("", "invalid date: not a plausible birth date", code="invalid_date")
    return result


_ORDINAL = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)\b", re.IGNORECASE)


def job_function(
    title: object, rules: Sequence[tuple[str, str]] = DEFAULT_JOB_FUNCTION_RULES
) -> str:
    """The job function of a title: the first rule whose keyword is among its words.

    "" for an empty title; "other" for a title no rule knows.
    """
    key = name_key(title)
    if not key:
        return ""
    padded = f" {key} "
    for keyword, function in rules:
        word = name_key(keyword)
        if word and f" {word} " in padded:
            return function
    return "other"
