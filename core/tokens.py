"""Staff API tokens: shown once, stored as a keyed hash, expiring, revocable."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from core.errors import DomainError, ErrorCode
from core.keys import key_digest, key_is_plausible, key_matches, key_new
from core.models import ApiToken

PREFIX_LENGTH = 12  # "ct_" + 9 characters, stored in clear to find the row
# `last_used_at` moves at most this often: not one write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class InvalidToken(DomainError):
    status = 401
    code = ErrorCode.INVALID_TOKEN


def _digest(key: str) -> str:
    return key_digest(key=key, pepper=settings.CDP_API_TOKEN_PEPPER)


@transaction.atomic
def api_token_create(
    *, user: User, name: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a token for the user and return it with its key, which is never shown again."""
    key = key_new(kind="ct")
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=key[:PREFIX_LENGTH],
        digest=_digest(key),
        expires_at=expires_at,
    )
    return token, key


def api_token_revoke(*, token_ids: list[int]) -> int:
    """Stop these tokens from working, at once; revoking twice keeps the first time."""
    live = ApiToken.objects.filter(pk__in=token_ids, revoked_at__isnull=True)
    return live.update(revoked_at=timezone.now())


def api_token_authenticate(*, key: str) -> ApiToken:
    """The live token this key belongs to (its user loaded), or InvalidToken."""
    if not key_is_plausible(key, prefix_length=PREFIX_LENGTH):
        raise InvalidToken(gettext("unknown, expired or revoked token"))
    token = ApiToken.objects.select_related("user").filter(prefix=key[:PREFIX_LENGTH]).first()
    matches = key_matches(
        key=key, digest=token.digest if token else None, pepper=settings.CDP_API_TOKEN_PEPPER
    )
    now = timezone.now()
    if (
        token is None
        or not matches
        or token.revoked_at is not None
        or (token.expires_at is not None and token.expires_at <= now)
        or not token.user.is_active
    ):
        raise InvalidToken(gettext("unknown, expired or revoked token"))
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
