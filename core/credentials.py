"""Bad credentials (API tokens, write keys) throttled per client address.

Each failure spends one request of the client's allowance (`CDP_BAD_CREDENTIAL_RATE`, kept
in the database like every rate limit: core.rates). Once spent, the client is blocked
until the allowance returns, and the block is written to the cache so that the check made
before every authentication is a cache read only (the write-key path reads it in the same
round trip as the key's row). A blocked client gets 429 with Retry-After even for a good
credential: otherwise the block would not slow a guesser down.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.cache import cache

from core import rates
from core.errors import TooManyFailures
from core.rates import rate_key, rate_spend, spend

SCOPE = "bad-credential"


def credential_block_key(*, client: str) -> str:
    """The cache key that holds a client's block (a keyed hash, never the address)."""
    return f"cdp:bad-credential:{rate_key(scope=SCOPE, ident=client).hex}"


def credential_check(*, client: str, cached: Mapping[str, Any] | None = None) -> None:
    """Raise TooManyFailures while the client is blocked.

    `cached`: what a `get_many` that included `credential_block_key` returned, to spare
    a round trip.
    """
    key = credential_block_key(client=client)
    until = cached.get(key) if cached is not None else cache.get(key)
    now = rates.clock()  # looked up each time: tests move it
    if until is not None and until > now:
        raise TooManyFailures(until - now)


def credential_failed(*, client: str) -> None:
    """Spend one bad attempt; past the allowance, block the client and raise TooManyFailures."""
    allowance = rate_spend(spend(scope=SCOPE, ident=client, rate=settings.CDP_BAD_CREDENTIAL_RATE))
    if allowance.allowed:
        return
    cache.set(
        credential_block_key(client=client),
        rates.clock() + allowance.retry_after,
        math.ceil(allowance.retry_after) or 1,
    )
    raise TooManyFailures(allowance.retry_after)
