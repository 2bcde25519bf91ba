"""Reading a /v1 request body: size limits, gzip without bombs, strict JSON, clean strings."""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Mapping
from typing import IO, Any

from django.utils.translation import gettext
from rest_framework import exceptions
from rest_framework.parsers import BaseParser

from collection.errors import PayloadTooLarge

KB = 1024
# Segment's documented limits: 32 KB a call, 500 KB a batch request.
MESSAGE_MAX_BYTES = 32 * KB
BATCH_MAX_BYTES = 500 * KB
_SURROGATE = re.compile("[\ud800-\udfff]")
# In parsed JSON a NUL or a lone surrogate can only come from a \u escape: strict JSON
# refuses raw control characters and UTF-8 cannot carry surrogates. A body without such
# an escape (nearly all) is not walked value by value.
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        gettext("The body is larger than %(value)s KB.") % {"value": limit // KB}
    )


def _read_limited(stream: IO[bytes], *, limit: int, content_length: str) -> bytes:
    """At most `limit` bytes; a declared or actual excess is refused before it is kept."""
    try:
        declared = int(content_length or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise _too_large(limit)
    raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise _too_large(limit)
    return raw


def _gunzip(raw: bytes, *, limit: int) -> bytes:
    """Decompress one gzip member, stopping as soon as the output passes `limit`."""
    inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    try:
        out = inflater.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise exceptions.ParseError(gettext("The body is not valid gzip.")) from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise _too_large(limit)
    if not inflater.eof:
        raise exceptions.ParseError(gettext("The gzip body is truncated."))
    if inflater.unused_data:
        raise exceptions.ParseError(gettext("The gzip body has trailing data."))
    return out


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(gettext("number out of range: %(text)s") % {"text": text})
    return value


def _reject_constant(name: str) -> None:
    raise ValueError(gettext("%(name)s is not valid JSON") % {"name": name})


def may_hold_unstorable(text: str) -> bool:
    """False only if no string parsed from this JSON text can hold a NUL or lone surrogate."""
    return _UNSTORABLE_ESCAPE.search(text) is not None


def _check_strings(value: Any) -> None:
    """No NUL or lone surrogate anywhere: neither can be stored as text or JSON."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item or _SURROGATE.search(item):
                raise exceptions.ParseError(
                    gettext("The body contains a NUL character or an unpaired surrogate.")
                )
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def body_decode(*, raw: bytes, encoding: str, limit: int) -> dict[str, Any]:
    """Turn raw request bytes into one JSON object, or raise a 400/413/415 error."""
    encoding = encoding.strip().lower()
    if encoding == "gzip":
        raw = _gunzip(raw, limit=limit)
    elif encoding not in ("", "identity"):
        raise exceptions.UnsupportedMediaType(
            encoding,
            detail=gettext("Content-Encoding %(encoding)s is not supported; use gzip.")
            % {"encoding": repr(encoding)},
        )
    if len(raw) > limit:
        raise _too_large(limit)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise exceptions.ParseError(gettext("The body is not valid UTF-8.")) from exc
    if not text.strip():
        raise exceptions.ParseError(gettext("The body is empty; send a JSON object."))
    try:
        payload = json.loads(text, parse_float=_finite_float, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise exceptions.ParseError(
            gettext("The body is not valid JSON: %(exc)s.") % {"exc": exc}
        ) from exc
    if not isinstance(payload, dict):
        raise exceptions.ParseError(gettext("The body must be a JSON object."))
    if may_hold_unstorable(text):
        _check_strings(payload)
    return payload


class TrackingJSONParser(BaseParser):
    """JSON as Segment's libraries send it: gzip or not, limited by the view's `max_body_bytes`."""

    media_type = "application/json"

    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        context = parser_context or {}
        request = context["request"]
        limit = getattr(context.get("view"), "max_body_bytes", MESSAGE_MAX_BYTES)
        raw = _read_limited(
            stream, limit=limit, content_length=request.META.get("CONTENT_LENGTH", "")
        )
        return body_decode(
            raw=raw, encoding=request.META.get("HTTP_CONTENT_ENCODING", ""), limit=limit
        )


class TrackingTextParser(TrackingJSONParser):
    """Analytics.js posts JSON as text/plain, which spares the browser a CORS preflight."""

    media_type = "text/plain"


class TrackingAnyParser(TrackingJSONParser):
    """Whatever else a client declares (or nothing): the body is read as JSON all the same."""

    media_type = "*/*"
