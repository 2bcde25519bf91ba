"""The one message shape every channel is turned into, and its validation + normalisation."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeGuard
from urllib.parse import parse_qs, urlsplit

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext

from profiles.errors import InvalidMessage
from profiles.models import Event, Identity, Source
from profiles.normalise import (
    Normalised,
    clean_text,
    email_key,
    normalise_birth_date,
    normalise_country,
    normalise_email,
    normalise_name,
    normalise_phone,
    normalise_postcode,
)

# Identifier kinds, strongest first: the strongest one a message carries decides its profile.
KIND_PRIORITY = (
    Identity.Kind.USER_ID,
    Identity.Kind.EXTERNAL_ID,
    Identity.Kind.EMAIL,
    Identity.Kind.PHONE,
    Identity.Kind.ANONYMOUS_ID,
)
# Segment's reserved trait names (and common variants) -> our profile fields.
TRAIT_ALIASES = {
    "email": "email",
    "phone": "phone",
    "firstName": "first_name",
    "first_name": "first_name",
    "lastName": "last_name",
    "last_name": "last_name",
    "company": "company",
    "title": "job_title",
    "job_title": "job_title",
    "jobTitle": "job_title",
    "postcode": "postcode",
    "postalCode": "postcode",
    "postal_code": "postcode",
    "zip": "postcode",
    "city": "city",
    "country": "country",
    "birthday": "date_of_birth",
    "date_of_birth": "date_of_birth",
    "dateOfBirth": "date_of_birth",
    "language": "language",
    "locale": "language",
    "timezone": "timezone",
    "address_line": "address_line",
    "street": "address_line",
}
UTM_KEYS = ("source", "medium", "name", "term", "content")
# Built once: `Event.Type.values` builds a fresh list on every access.
_EVENT_TYPES = frozenset(Event.Type.values)
_ADDRESS_PARTS = (
    ("street", "address_line"),
    ("city", "city"),
    ("postalCode", "postcode"),
    ("postal_code", "postcode"),
    ("country", "country"),
)

Key = tuple[str, str, str]  # (kind, namespace, value)


def _is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    # The ABC check is slow and nearly every value is a plain dict: test that first.
    return type(value) is dict or isinstance(value, Mapping)


@dataclass
class Message:
    """A message from any channel, before validation."""

    type: str
    message_id: str = ""
    user_id: str = ""
    anonymous_id: str = ""
    external_id: str = ""
    previous_id: str = ""
    name: str = ""
    traits: Mapping[str, Any] = field(default_factory=dict)
    properties: Mapping[str, Any] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)
    timestamp: datetime | str | None = None


@dataclass(frozen=True, slots=True)
class FieldIssue:
    """A value kept out of (error) or kept in (warning) the clean fields, for the steward."""

    field: str
    code: str
    severity: str  # "error" or "warning"
    message: str  # never the value itself
    value: str  # the raw value, as received (cut to 1,000 characters)
    suggestion: str = ""


@dataclass
class Prepared:
    """A valid, normalised message ready for identity resolution."""

    index: int
    type: str
    message_id: str
    keys: list[Key]
    fields: dict[str, str]
    traits: dict[str, Any]
    name: str
    properties: dict[str, Any]
    context: dict[str, Any]
    occurred_at: datetime
    alias_of: Key | None = None
    issues: list[FieldIssue] = field(default_factory=list)

    @functools.cached_property
    def utm(self) -> dict[str, str]:
        """The campaign attribution: worked out when stored, not when only validated."""
        return _utm(self.context, self.properties)


def _identifier(raw: object, what: str, errors: dict[str, list[str]]) -> str:
    if raw is None or (type(raw) is str and not raw):
        return ""
    if not isinstance(raw, str | int) or isinstance(raw, bool):
        errors.setdefault(what, []).append("must be a string or a number")
        return ""
    text = clean_text(raw, max_length=300)
    if len(text) > 255:
        errors.setdefault(what, []).append(gettext("is longer than 255 characters"))
        return ""
    return text


def _split_traits(raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Standard fields by our names, and the rest as custom traits."""
    standard: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for key, value in raw.items():
        target = TRAIT_ALIASES.get(key)
        if target:
            standard.setdefault(target, value)
        elif key == "name" and isinstance(value, str):
            first, _, last = value.strip().partition(" ")
            standard.setdefault("first_name", first)
            if last:
                standard.setdefault("last_name", last)
        elif key == "address" and _is_mapping(value):
            for sub, target in _ADDRESS_PARTS:
                if value.get(sub) not in (None, ""):
                    standard.setdefault(target, value[sub])
        else:
            custom[str(key)[:100]] = value
    company = standard.get("company")
    if _is_mapping(company):
        standard["company"] = company.get("name", "")
    return standard, custom


# Text fields and their column lengths: a longer value is refused, never cut silently.
FIELD_MAX_LENGTH = {
    "first_name": 100,
    "last_name": 100,
    "company": 200,
    "job_title": 200,
    "address_line": 300,
    "postcode": 20,
    "city": 100,
    "language": 16,
    "timezone": 64,
}


def _unstorable(value: Any) -> bool:
    """PostgreSQL stores no NUL character and no lone surrogate, in text or JSON."""
    if type(value) is str:
        if "\x00" in value:
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if type(value) is dict:
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if type(value) is list:
        return any(_unstorable(item) for item in value)
    return False


_CHECKED = {
    "email": normalise_email,
    "country": normalise_country,
    "date_of_birth": normalise_birth_date,
}


def _normalise_fields(
    standard: Mapping[str, Any],
    *,
    region: str,
    errors: dict[str, list[str]],
    issues: list[FieldIssue],
) -> dict[str, str]:
    """Clean standard fields; an invalid value becomes an issue, a refused value an error.

    Values too long or of the wrong shape refuse the message (the sender must fix it);
    values a normaliser finds invalid are kept out of the clean fields and reported as
    data-quality issues, so the rest of the message is still stored.
    """
    out: dict[str, str] = {}
    postcode: Any = None
    for name, raw in standard.items():
        if raw is None or raw == "":
            continue
        if type(raw) is not str and isinstance(raw, Mapping | list):
            errors.setdefault(f"traits.{name}", []).append("must be a single value")
            continue
        if name == "phone":
            result = normalise_phone(raw, region=region)
        elif name in _CHECKED:
            result = _CHECKED[name](raw)
        elif name == "postcode":
            postcode = raw  # checked against the message's country, below
            continue
        else:
            limit = FIELD_MAX_LENGTH.get(name, 200)
            text = clean_text(raw, max_length=limit + 1)
            if len(text) > limit:
                errors.setdefault(f"traits.{name}", []).append(
                    gettext("is longer than %(limit)s characters") % {"limit": limit}
                )
                continue
            if name in ("first_name", "last_name"):
                text = normalise_name(text)
            if text:
                out[name] = text
            continue
        _keep(name, raw, result, out, issues)
    if postcode is not None:
        limit = FIELD_MAX_LENGTH["postcode"]
        if len(clean_text(postcode, max_length=limit + 1)) > limit:
            errors.setdefault("traits.postcode", []).append(
                gettext("is longer than %(limit)s characters") % {"limit": limit}
            )
        else:
            _keep(
                "postcode",
                postcode,
                normalise_postcode(postcode, country=out.get("country", "")),
                out,
                issues,
            )
    return out


def _keep(
    name: str, raw: Any, result: Normalised, out: dict[str, str], issues: list[FieldIssue]
) -> None:
    if result.error:
        issues.append(
            FieldIssue(name, result.code, "error", result.error, clean_text(raw, max_length=1000))
        )
        return
    if result.value:
        out[name] = result.value
    if result.suggestion:
        issues.append(
            FieldIssue(
                name,
                result.code,
                "warning",
                "looks like a typo; the value is kept as received",
                result.value,
                result.suggestion,
            )
        )


def _utm(context: Mapping[str, Any], properties: Mapping[str, Any]) -> dict[str, str]:
    """UTM attribution from context.campaign, else from the page URL's query."""
    campaign = context.get("campaign")
    found: dict[str, str] = {}
    if _is_mapping(campaign):
        for key in UTM_KEYS:
            if campaign.get(key):
                found[key] = clean_text(campaign[key], max_length=200)
    if not found:
        page = context.get("page") if _is_mapping(context.get("page")) else {}
        url = (page or {}).get("url") or properties.get("url") or ""
        if isinstance(url, str) and "utm_" in url:
            query = parse_qs(urlsplit(url).query)
            for key in UTM_KEYS:
                values = query.get(f"utm_{'campaign' if key == 'name' else key}")
                if values:
                    found[key] = clean_text(values[0], max_length=200)
    return {
        "utm_source": found.get("source", "")[:100],
        "utm_medium": found.get("medium", "")[:100],
        "utm_campaign": found.get("name", ""),
        "utm_term": found.get("term", ""),
        "utm_content": found.get("content", ""),
    }


def _timestamp(raw: object, now: datetime, errors: dict[str, list[str]]) -> datetime:
    if raw in (None, ""):
        return now
    if isinstance(raw, datetime):
        parsed: datetime | None = raw
    elif isinstance(raw, str):
        try:
            parsed = parse_datetime(raw.strip())
        except ValueError:
            parsed = None
    else:
        parsed = None
    if parsed is None:
        errors.setdefault("timestamp", []).append(gettext("is not an ISO 8601 date-time"))
        return now
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    # A clock in the future is a client's mistake: the event happened when we got it.
    return min(parsed, now)


def message_prepare(  # noqa: C901  (per-message hot path: one pass over the fields)
    *, message: Message, index: int, source: Source, now: datetime, prechecked: bool = False
) -> Prepared:
    """Validate and normalise one message; raises InvalidMessage with field messages.

    `prechecked`: the message passed this function before and was kept as JSON since (the
    intake buffer): the storability scan of its JSON, a third of the cost, cannot find
    anything new and is skipped. Every other rule runs again, so a rule changed meanwhile
    refuses the message instead of failing its whole batch in the database.
    """
    errors: dict[str, list[str]] = {}
    if not isinstance(message.type, str) or message.type not in _EVENT_TYPES:
        errors.setdefault("type", []).append(
            gettext("unknown message type %(type)s") % {"type": repr(message.type)}
        )
    for what, value in (
        ("traits", message.traits),
        ("properties", message.properties),
        ("context", message.context),
    ):
        if not _is_mapping(value):
            errors.setdefault(what, []).append(gettext("must be an object"))
    if errors:
        raise InvalidMessage(gettext("invalid message"), fields=errors)
    if not prechecked:
        for what, value in (
            ("traits", message.traits),
            ("properties", message.properties),
            ("context", message.context),
        ):
            if _unstorable(value if type(value) is dict else dict(value)):
                errors.setdefault(what, []).append(
                    gettext("contains a NUL character or an invalid Unicode sequence")
                )
    user_id = _identifier(message.user_id, "userId", errors)
    anonymous_id = _identifier(message.anonymous_id, "anonymousId", errors)
    external_id = _identifier(message.external_id, "externalId", errors)
    previous_id = _identifier(message.previous_id, "previousId", errors)
    context = dict(message.context)
    traits_raw = dict(message.traits)
    context_traits = context.get("traits")
    if _is_mapping(context_traits):
        traits_raw = {**context_traits, **traits_raw}
    standard, custom = _split_traits(traits_raw)
    issues: list[FieldIssue] = []
    fields = _normalise_fields(
        standard, region=source.default_phone_region, errors=errors, issues=issues
    )
    occurred_at = _timestamp(message.timestamp, now, errors)
    name = clean_text(message.name, max_length=200)
    if message.type == Event.Type.TRACK and not name:
        errors.setdefault("event", []).append(gettext("is required for track"))
    keys: list[Key] = []
    if user_id:
        keys.append((Identity.Kind.USER_ID, "", user_id))
    if external_id:
        keys.append((Identity.Kind.EXTERNAL_ID, source.slug, external_id))
    if fields.get("email"):
        # The mailbox, not the spelling: the field keeps the address as given, for sending.
        keys.append((Identity.Kind.EMAIL, "", email_key(fields["email"])))
    if fields.get("phone"):
        keys.append((Identity.Kind.PHONE, "", fields["phone"]))
    if anonymous_id:
        keys.append((Identity.Kind.ANONYMOUS_ID, "", anonymous_id))
    if not keys:
        errors.setdefault("userId", []).append(
            gettext("a userId, anonymousId, external id, valid email or valid phone is required")
        )
    alias_of: Key | None = None
    if message.type == Event.Type.ALIAS:
        if not previous_id or not user_id:
            errors.setdefault("previousId", []).append(gettext("alias needs previousId and userId"))
        else:
            # Segment's previousId is either an earlier user id or an anonymous id.
            alias_of = (Identity.Kind.ANONYMOUS_ID, "", previous_id)
    if errors:
        # Refused anyway: say what was wrong with the values too, as the sender's field errors.
        invalid: dict[str, list[str]] = {}
        for issue in issues:
            if issue.severity == "error":
                invalid.setdefault(f"traits.{issue.field}", []).append(issue.message)
        raise InvalidMessage(gettext("invalid message"), fields={**invalid, **errors})
    properties = dict(message.properties)
    return Prepared(
        index=index,
        type=message.type,
        message_id=clean_text(message.message_id, max_length=200) or f"cdp-{uuid.uuid4()}",
        keys=keys,
        fields=fields,
        traits=custom,
        name=name,
        properties=properties,
        context=context,
        occurred_at=occurred_at,
        alias_of=alias_of,
        issues=issues,
    )
