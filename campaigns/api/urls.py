"""Staff API of the campaigns app, under /api/campaigns/."""

from django.urls import URLPattern, URLResolver, include, path
from rest_framework.routers import DefaultRouter

from campaigns.api.views import BroadcastViewSet, ProfileMessagesView, TemplateViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("templates", TemplateViewSet, basename="campaign-template")
router.register("broadcasts", BroadcastViewSet, basename="campaign-broadcast")

urlpatterns: list[URLPattern | URLResolver] = [
    path(
        "profiles/<int:pk>/messages/",
        ProfileMessagesView.as_view(),
        name="campaign-profile-messages",
    ),
    path("", include(router.urls)),
]
