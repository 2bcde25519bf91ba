"""Signed links: confirm a double opt-in (expiring), unsubscribe, preferences (per person).

The unsubscribe and preference links of a campaign's email also name the outbox message
they were sent in, so an unsubscribe through them is counted for that message.

Tokens carry ids only and are signed with SECRET_KEY (rotations through
SECRET_KEY_FALLBACKS keep old links working); each kind has its own salt, so one kind
of token can never be replayed as another.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.translation import gettext

from consent.errors import ExpiredLink, InvalidLink
from core.signing import token_path, token_sign_object

CONFIRM_SALT = "consent.confirm"
UNSUBSCRIBE_SALT = "consent.unsubscribe"
PREFERENCES_SALT = "consent.preferences"
RETURN_SALT = "consent.return"
DEFAULT_CONFIRM_MAX_AGE_DAYS = 7
DEFAULT_PUBLIC_URL = "http://localhost:8000"


def confirm_max_age() -> timedelta:
    return timedelta(
        days=getattr(settings, "CONSENT_CONFIRM_MAX_AGE_DAYS", DEFAULT_CONFIRM_MAX_AGE_DAYS)
    )


def public_url(path: str) -> str:
    """An absolute URL on the public site, for links in emails."""
    return getattr(settings, "CDP_PUBLIC_URL", DEFAULT_PUBLIC_URL).rstrip("/") + path


def _int_field(payload: Any, key: str) -> int:
    value = payload.get(key) if isinstance(payload, dict) else None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidLink(gettext("This link is not valid."))
    return value


def confirm_token_make(*, record_id: int) -> str:
    return signing.TimestampSigner(salt=CONFIRM_SALT).sign_object({"r": record_id})


def confirm_token_read(*, token: str) -> int:
    """The pending record a confirmation link is about; refused once too old."""
    try:
        payload = signing.TimestampSigner(salt=CONFIRM_SALT).unsign_object(
            token, max_age=confirm_max_age()
        )
    except signing.SignatureExpired as error:
        raise ExpiredLink(gettext("This confirmation link has expired.")) from error
    except (signing.BadSignature, ValueError) as error:
        raise InvalidLink(gettext("This link is not valid.")) from error
    return _int_field(payload, "r")


def unsubscribe_token_make(
    *, profile_id: int, purpose_id: int, message_id: int | None = None
) -> str:
    """`message_id`: the outbox message the link was sent in (campaigns' emails), so the
    withdrawal is counted for that message; links without it work the same."""
    obj: dict[str, int] = {"p": profile_id, "u": purpose_id}
    if message_id is not None:
        obj["m"] = message_id
    return token_sign_object(obj=obj, salt=UNSUBSCRIBE_SALT)


@dataclass(frozen=True)
class UnsubscribeLink:
    profile_id: int
    purpose_id: int
    message_id: int | None  # None for links made before messages were named, or by hand


def unsubscribe_link_read(*, token: str) -> UnsubscribeLink:
    """What an unsubscribe link names; such links never expire."""
    try:
        payload = signing.Signer(salt=UNSUBSCRIBE_SALT).unsign_object(token)
    except (signing.BadSignature, ValueError) as error:
        raise InvalidLink(gettext("This link is not valid.")) from error
    profile_id, purpose_id = _int_field(payload, "p"), _int_field(payload, "u")
    message_id = _int_field(payload, "m") if "m" in payload else None
    return UnsubscribeLink(profile_id, purpose_id, message_id)


def unsubscribe_token_read(*, token: str) -> tuple[int, int]:
    """(profile id, purpose id) of an unsubscribe link; such links never expire."""
    link = unsubscribe_link_read(token=token)
    return link.profile_id, link.purpose_id


def preferences_token_make(*, profile_id: int, message_id: int | None = None) -> str:
    """`message_id`: the outbox message the link was sent in (campaigns' emails), so
    withdrawing that email's purpose on the page is counted for it; links without it
    open the same page."""
    obj: dict[str, int] = {"p": profile_id}
    if message_id is not None:
        obj["m"] = message_id
    return token_sign_object(obj=obj, salt=PREFERENCES_SALT)


@dataclass(frozen=True)
class PreferencesLink:
    profile_id: int
    message_id: int | None  # None for links made before messages were named, or by hand


def preferences_link_read(*, token: str) -> PreferencesLink:
    """What a preference link names; such links never expire."""
    try:
        payload = signing.Signer(salt=PREFERENCES_SALT).unsign_object(token)
    except (signing.BadSignature, ValueError) as error:
        raise InvalidLink(gettext("This link is not valid.")) from error
    profile_id = _int_field(payload, "p")
    message_id = _int_field(payload, "m") if "m" in payload else None
    return PreferencesLink(profile_id, message_id)


def preferences_token_read(*, token: str) -> int:
    """The profile a preference link is about; such links never expire."""
    return preferences_link_read(token=token).profile_id


def confirm_url(*, record_id: int) -> str:
    token = confirm_token_make(record_id=record_id)
    return public_url(reverse("consent:confirm", kwargs={"token": token}))


def unsubscribe_url(*, profile_id: int, purpose_id: int, message_id: int | None = None) -> str:
    token = unsubscribe_token_make(
        profile_id=profile_id, purpose_id=purpose_id, message_id=message_id
    )
    return public_url(token_path(name="consent:unsubscribe", token=token))


def preferences_url(*, profile_id: int, message_id: int | None = None) -> str:
    token = preferences_token_make(profile_id=profile_id, message_id=message_id)
    return public_url(token_path(name="consent:preferences", token=token))


def consent_unsubscribe_headers(
    *, profile_id: int, purpose_id: int, message_id: int | None = None
) -> dict[str, str]:
    """The List-Unsubscribe and List-Unsubscribe-Post (RFC 8058 one-click) headers of an email."""
    url = unsubscribe_url(profile_id=profile_id, purpose_id=purpose_id, message_id=message_id)
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def return_token_make(*, digests: Iterable[str]) -> str:
    """A link that lifts a suppression: it carries the hashed identifiers, never an address."""
    return signing.TimestampSigner(salt=RETURN_SALT).sign_object({"d": sorted(digests)})


def return_token_read(*, token: str) -> list[str]:
    """The suppression digests a come-back link is about; refused once too old."""
    try:
        payload = signing.TimestampSigner(salt=RETURN_SALT).unsign_object(
            token, max_age=confirm_max_age()
        )
    except signing.SignatureExpired as error:
        raise ExpiredLink(gettext("This confirmation link has expired.")) from error
    except (signing.BadSignature, ValueError) as error:
        raise InvalidLink(gettext("This link is not valid.")) from error
    digests = payload.get("d") if isinstance(payload, dict) else None
    if not (isinstance(digests, list) and digests and all(isinstance(d, str) for d in digests)):
        raise InvalidLink(gettext("This link is not valid."))
    return digests


def return_url(*, digests: Iterable[str]) -> str:
    return public_url(reverse("consent:return", args=[return_token_make(digests=digests)]))
