"""Django-compatible signed tokens, made without re-deriving the key on every call.

`signing.Signer(salt=…).sign_object(…)` derives its HMAC key from the salt and
SECRET_KEY each time; sending thousands of emails signs several links each. These
functions produce exactly the same tokens (read back with `signing.Signer`) from a key
derived once per (secret, salt).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import zlib
from typing import Any

from django.conf import settings
from django.urls import get_script_prefix, reverse


@functools.lru_cache(maxsize=64)
def _keyed(secret: str, salt: str) -> Any:
    """An HMAC-SHA256 state keyed as `salted_hmac(salt + "signer", …, secret)` keys it."""
    key = hashlib.sha256(f"{salt}signer{secret}".encode()).digest()
    return hmac.new(key, digestmod=hashlib.sha256)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token_sign(*, value: str, salt: str) -> str:
    """`signing.Signer(salt=salt).sign(value)`, the same token."""
    mac = _keyed(settings.SECRET_KEY, salt).copy()
    mac.update(value.encode())
    return f"{value}:{_b64(mac.digest())}"


def token_sign_object(*, obj: Any, salt: str, compress: bool = False) -> str:
    """`signing.Signer(salt=salt).sign_object(obj, compress=compress)`, the same token."""
    data = json.dumps(obj, separators=(",", ":")).encode("latin-1")
    flag = ""
    if compress:
        packed = zlib.compress(data)
        if len(packed) < len(data) - 1:
            data, flag = packed, "."
    return token_sign(value=flag + _b64(data), salt=salt)


@functools.lru_cache(maxsize=64)
def _route(name: str, script_prefix: str) -> tuple[str, str]:
    head, _, tail = reverse(name, kwargs={"token": "cdptokenslot"}).partition("cdptokenslot")
    return head, tail


def token_path(*, name: str, token: str) -> str:
    """`reverse(name, kwargs={"token": token})` for a signed token, the route resolved once."""
    head, tail = _route(name, get_script_prefix())
    return f"{head}{token}{tail}"
