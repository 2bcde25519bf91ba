"""Staff API of the profiles app, under /api/."""

from django.urls import URLPattern, URLResolver, include, path
from rest_framework.routers import DefaultRouter

from profiles.api.views import MergeViewSet, ProfileEventsView, ProfileViewSet, SourceViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("profiles", ProfileViewSet, basename="profile")
router.register("sources", SourceViewSet, basename="source")
router.register("merges", MergeViewSet, basename="merge")

urlpatterns: list[URLPattern | URLResolver] = [
    path("profiles/<int:pk>/events/", ProfileEventsView.as_view(), name="profile-events"),
    path("", include(router.urls)),
]
