"""Site-level views: health."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from cdp_site.selectors import health_status
from core.api import error_body


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """200 when database, broker and at least one worker are alive, 503 otherwise."""
    healthy, checks = health_status()
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(("/api/", "/v1/"))


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """JSON 404 in the API's error format under /api/ and /v1/, Django's page elsewhere."""
    if _is_api(request):
        return JsonResponse(
            error_body(status_code=404, code="not_found", message=gettext("Not found.")), status=404
        )
    return defaults.page_not_found(request, exception or Http404())


def server_error(request: HttpRequest) -> HttpResponse:
    """JSON 500 under /api/ and /v1/ (never with details), Django's page elsewhere."""
    if _is_api(request):
        return JsonResponse(
            error_body(status_code=500, code="server_error", message=gettext("Server error.")),
            status=500,
        )
    return defaults.server_error(request)
