"""Staff API of the consent app, under /api/consent/."""

from django.urls import URLPattern, URLResolver, include, path
from rest_framework.routers import DefaultRouter

from consent.api.requests import DataSubjectRequestViewSet
from consent.api.views import ConsentRecordViewSet, ProfileConsentView, PurposeViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("purposes", PurposeViewSet, basename="consent-purpose")
router.register("records", ConsentRecordViewSet, basename="consent-record")
router.register("requests", DataSubjectRequestViewSet, basename="consent-request")

urlpatterns: list[URLPattern | URLResolver] = [
    path("profiles/<int:pk>/", ProfileConsentView.as_view(), name="consent-profile"),
    path("", include(router.urls)),
]
