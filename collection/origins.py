"""Browser origins a source accepts posts from (CORS for /v1 and forms)."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils.cache import patch_vary_headers

from profiles.models import Source

PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Content-Encoding",
    "Access-Control-Max-Age": "86400",
}


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


def preflight_response(*, origin: str | None) -> HttpResponse:
    """Preflights carry no credentials, so they are answered for any origin; the real
    request is checked against the source's allowed origins."""
    response = HttpResponse(status=204)
    for name, value in PREFLIGHT_HEADERS.items():
        response[name] = value
    return add_cors_headers(response, origin=origin)
