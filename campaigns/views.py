"""Public endpoints: the open pixel and click redirects people's mail clients reach, and
the signed delivery-events webhook an email service posts bounces and complaints to."""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import os
import time
from typing import Any

from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from campaigns.errors import NotFound
from campaigns.links import click_token_read, open_token_read
from campaigns.services import DeliveryEvent, delivery_event_record, tracking_click, tracking_open
from campaigns.services.delivery_events import TYPES
from campaigns.services.webhooks import webhook_signature

ESP_SECRET_ENV = "CDP_ESP_WEBHOOK_SECRET"  # noqa: S105 - the name of a variable
ESP_TOLERANCE_SECONDS = 300

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@never_cache
@require_http_methods(["GET", "HEAD"])
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    """A 1×1 GIF; a valid token records the open."""
    # The same image for everyone: a pixel tells nothing about a token's validity.
    with contextlib.suppress(NotFound):
        tracking_open(
            message_pk=open_token_read(token=token),
            user_agent=request.headers.get("User-Agent", ""),
            method=request.method or "GET",
        )
    return HttpResponse(PIXEL, content_type="image/gif")


@never_cache
@require_http_methods(["GET", "HEAD"])
def click(request: HttpRequest, token: str) -> HttpResponse:
    """Redirect to the link the email carried (signed with it); record the click."""
    try:
        message_pk, url = click_token_read(token=token)
    except NotFound as error:
        raise Http404(str(error)) from error
    # A message no longer sent (erased since) still takes the reader where the link pointed.
    with contextlib.suppress(NotFound):
        tracking_click(
            message_pk=message_pk,
            url=url,
            user_agent=request.headers.get("User-Agent", ""),
            method=request.method or "GET",
        )
    return HttpResponseRedirect(url)


def _signed(request: HttpRequest) -> bool:
    """The body is signed with the shared secret, within five minutes (no replays later)."""
    secret = os.environ.get(ESP_SECRET_ENV, "")
    header = request.headers.get("X-CDP-Signature", "")
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    stamp = parts.get("t", "")
    if not (secret and stamp.isdigit() and "v1" in parts):
        return False
    if abs(time.time() - int(stamp)) > ESP_TOLERANCE_SECONDS:
        return False
    expected = webhook_signature(secret=secret, timestamp=int(stamp), body=request.body)
    return hmac.compare_digest(expected, f"t={stamp},v1={parts['v1']}")


def _event_errors(event: Any) -> list[str]:
    if not isinstance(event, dict):
        return [_("Each event is an object.")]
    errors = []
    if event.get("type") not in TYPES:
        errors.append(_("type: one of %(types)s.") % {"types": ", ".join(sorted(TYPES))})
    if not isinstance(event.get("message_id"), str) or not event.get("message_id"):
        errors.append(_("message_id: the Message-ID of the email."))
    if not isinstance(event.get("hard", True), bool):
        errors.append(_("hard: true or false."))
    for name in ("status", "user_agent", "url"):
        if not isinstance(event.get(name, ""), str):
            errors.append(_("%(name)s: a string.") % {"name": name})
    if event.get("type") == "clicked" and not event.get("url"):
        errors.append(_("url: the link that was clicked."))
    return errors


@csrf_exempt
@never_cache
@require_POST
def delivery_events(request: HttpRequest) -> HttpResponse:
    """What happened to emails, from an email service or a relay, signed like our own
    webhooks: `{"events": [{"type": "bounced", "message_id": "<…>", "hard": true,
    "status": "5.1.1"}]}`; types as in `campaigns.services.delivery_events`."""
    if not _signed(request):
        return JsonResponse({"detail": _("The signature is missing or wrong.")}, status=401)
    try:
        document = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return JsonResponse({"detail": _("The body is not JSON.")}, status=400)
    events = document.get("events") if isinstance(document, dict) else None
    if not isinstance(events, list) or not events or len(events) > 1000:
        return JsonResponse({"fields": {"events": [_("Give 1 to 1000 events.")]}}, status=400)
    errors = {str(n): e for n, event in enumerate(events) if (e := _event_errors(event))}
    if errors:
        return JsonResponse({"fields": {"events": errors}}, status=400)
    recorded = sum(
        delivery_event_record(
            DeliveryEvent(
                type=event["type"],
                message_id=event["message_id"],
                hard=event.get("hard", True),
                status=event.get("status", "")[:20],
                user_agent=event.get("user_agent", "")[:500],
                url=event.get("url", ""),
                source="cdp",
            )
        )
        for event in events
    )
    return JsonResponse({"recorded": recorded, "unknown": len(events) - recorded})
