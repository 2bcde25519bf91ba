"""Staff API of the campaigns app, under /api/campaigns/."""

from django.urls import URLPattern, URLResolver, include, path
from rest_framework.routers import DefaultRouter

from campaigns.api.journeys import JourneyViewSet, ProfileEnrolmentsView
from campaigns.api.views import BroadcastViewSet, ProfileMessagesView, TemplateViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("templates", TemplateViewSet, basename="campaign-template")
router.register("broadcasts", BroadcastViewSet, basename="campaign-broadcast")
router.register("journeys", JourneyViewSet, basename="campaign-journey")

urlpatterns: list[URLPattern | URLResolver] = [
    path(
        "profiles/<int:pk>/messages/",
        ProfileMessagesView.as_view(),
        name="campaign-profile-messages",
    ),
    path(
        "profiles/<int:pk>/enrolments/",
        ProfileEnrolmentsView.as_view(),
        name="campaign-profile-enrolments",
    ),
    path("", include(router.urls)),
]
