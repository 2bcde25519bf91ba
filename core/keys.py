"""Secrets handed to clients (write keys, API tokens): made random, stored as a keyed hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def key_new(*, kind: str) -> str:
    """A fresh secret: `kind`, an underscore and 40 URL-safe characters (240 bits)."""
    return f"{kind}_" + secrets.token_urlsafe(30).replace("-", "x").replace("_", "y")


def key_digest(*, key: str, pepper: str) -> str:
    """HMAC-SHA256 of the key with a server-side pepper.

    Microseconds per request, unlike the password hasher (~300 ms), and useless to
    whoever steals only the database.
    """
    return hmac.new(pepper.encode(), key.encode(), hashlib.sha256).hexdigest()


def key_matches(*, key: str, digest: str | None, pepper: str) -> bool:
    """Whether the key hashes to the digest, in constant time (None: no row was found)."""
    computed = key_digest(key=key, pepper=pepper)
    # Without a row the comparison still runs: timing does not tell a known prefix apart.
    return hmac.compare_digest(digest or "0" * len(computed), computed) and digest is not None


def key_is_plausible(key: str, *, prefix_length: int) -> bool:
    """A key the database can look up at all (from a URL or a header: no NUL, bounded)."""
    return prefix_length <= len(key) <= 200 and "\x00" not in key
