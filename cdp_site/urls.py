"""URL map: admin, health, the API root and its docs. Apps add their API under /api/."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from cdp_site import views
from collection.api.tracking.urls import root_urlpatterns as tracking_root_urlpatterns
from core.permissions import IsActiveStaff


@extend_schema(exclude=True)
@api_view(["GET"])
@permission_classes([IsActiveStaff])
def api_root(request: Request, format: str | None = None) -> Response:
    """Entry points of the API."""
    return Response(
        {
            "schema": reverse("api-schema", request=request, format=format),
            "docs": reverse("api-docs", request=request, format=format),
        }
    )


@extend_schema(exclude=True)
@api_view(["GET", "POST"])
@authentication_classes([])
@permission_classes([AllowAny])
def api_ping(request: Request) -> Response:
    """The API layer answers (no database): for load balancers and as the benchmarks' floor."""
    return Response({"pong": True})


urlpatterns = [
    # The product's front door is the admin (it sends a visitor to its login page).
    path("", RedirectView.as_view(pattern_name="admin:index"), name="home"),
    path("admin/", admin.site.urls),
    path("health/", views.health, name="health"),
    # Django's set_language (POST): the admin's language switch keeps the choice in a cookie.
    path("i18n/", include("django.conf.urls.i18n")),
    path("v1/", include("collection.api.tracking.urls")),
    *tracking_root_urlpatterns,
    path("api/", api_root, name="api-root"),
    path("api/forms/", include("collection.api.forms.urls")),
    path("api/consent/", include("consent.api.urls")),
    path("api/segments/", include("segments.api.urls")),
    path("api/reports/", include("reports.api.urls")),
    path("consent/", include("consent.urls")),
    path("api/campaigns/", include("campaigns.api.urls")),
    path("t/", include("campaigns.urls")),
    path("api/", include("profiles.api.urls")),
    path("api/ping/", api_ping, name="api-ping"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Split: the page's start-up script is served as a file (`?script`), not inline (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

handler404 = "cdp_site.views.not_found"
handler500 = "cdp_site.views.server_error"
