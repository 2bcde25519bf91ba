"""Tracking endpoints people's mail clients reach: the open pixel and click redirects."""

from __future__ import annotations

import base64
import contextlib

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from campaigns.errors import NotFound
from campaigns.links import click_token_read, open_token_read
from campaigns.services import tracking_click, tracking_open

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
