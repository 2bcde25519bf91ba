"""Staff API of the segments app, under /api/segments/."""

from django.urls import URLPattern, URLResolver, include, path
from rest_framework.routers import DefaultRouter

from segments.api.views import (
    PersonaViewSet,
    ProfileSegmentsView,
    SegmentMembersView,
    SegmentViewSet,
)

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("personas", PersonaViewSet, basename="persona")
router.register("", SegmentViewSet, basename="segment")

urlpatterns: list[URLPattern | URLResolver] = [
    path("<int:pk>/members/", SegmentMembersView.as_view(), name="segment-members"),
    path("profiles/<int:pk>/", ProfileSegmentsView.as_view(), name="segment-profile"),
    path("", include(router.urls)),
]
