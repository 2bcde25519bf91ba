"""A URL whose view fails on a database constraint, as an unforeseen bug would (test_logs)."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from profiles.models import Identity, Profile


def store_twice(request: HttpRequest) -> HttpResponse:
    """The same identifier stored for two profiles: the database refuses the second."""
    for _ in range(2):
        profile = Profile.objects.create(email="ada.lovelace@example.org")
        Identity.objects.create(profile=profile, kind="email", value="ada.lovelace@example.org")
    return HttpResponse("stored twice")  # not reached: the second identity is refused


urlpatterns = [path("api/store-twice/", store_twice)]
