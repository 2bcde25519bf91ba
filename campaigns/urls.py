"""Public tracking endpoints, under /t/."""

from django.urls import URLPattern, path

from campaigns import esp, views

app_name = "campaigns"

urlpatterns: list[URLPattern] = [
    path("o/<str:token>/", views.open_pixel, name="open"),
    path("c/<str:token>/", views.click, name="click"),
    path("delivery-events/", views.delivery_events, name="delivery_events"),
    *(
        path(f"esp/{service}/tracking/", view, name=f"esp_{service}")
        for service, view in esp.esp_views.items()
    ),
]
