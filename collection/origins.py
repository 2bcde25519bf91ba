"""Browser origins a source accepts posts from (CORS for /v1 and forms)."""

from __future__ import annotations

from collections.abc import Sequence

from django.http import HttpResponse
from django.utils.cache import patch_vary_headers

from profiles.models import Source

FORM_HEADERS = ("Authorization", "Content-Type", "Content-Encoding")
# Every header the maintained browser SDKs put on a call. A browser sends none of them
# unless the preflight lists it, and a call it may not send is lost.
# - Segment's analytics.js: X-Retry-Count on every resend (after a network error, a 5xx,
#   a timeout, or calls queued offline).
# - RudderStack's JavaScript SDK: AnonymousId and SentAt on every call; Rsa-Retry-Attempt,
#   Rsa-Since-Last-Attempt, Rsa-Since-First-Attempt, Rsa-Retry-Reason on a resend;
#   Rsa-Recovered on calls reclaimed from an earlier page's queue; Accept, and
#   Authorization on its source configuration request.
SDK_HEADERS = (
    *FORM_HEADERS,
    "Accept",
    "X-Retry-Count",
    "AnonymousId",
    "SentAt",
    "Rsa-Recovered",
    "Rsa-Retry-Attempt",
    "Rsa-Since-Last-Attempt",
    "Rsa-Since-First-Attempt",
    "Rsa-Retry-Reason",
)
MAX_AGE = "86400"


def origin_allowed(*, source: Source, origin: str | None) -> bool:
    """No Origin header means a server or an SDK outside a browser: allowed."""
    if not origin:
        return True
    allowed = source.allowed_origins or []
    return "*" in allowed or origin.rstrip("/") in {entry.rstrip("/") for entry in allowed}


def add_cors_headers(response: HttpResponse, *, origin: str | None) -> HttpResponse:
    """Let the browser read the answer of an allowed origin."""
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        patch_vary_headers(response, ["Origin"])
    return response


def preflight_response(
    *,
    origin: str | None,
    methods: Sequence[str] = ("POST",),
    headers: Sequence[str] = FORM_HEADERS,
) -> HttpResponse:
    """Preflights carry no credentials, so they are answered for any origin; the real
    request is checked against the source's allowed origins."""
    response = HttpResponse(status=204)
    response["Access-Control-Allow-Methods"] = ", ".join([*methods, "OPTIONS"])
    response["Access-Control-Allow-Headers"] = ", ".join(headers)
    response["Access-Control-Max-Age"] = MAX_AGE
    return add_cors_headers(response, origin=origin)
