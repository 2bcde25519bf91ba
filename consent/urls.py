"""Public pages of the consent app, under /consent/."""

from django.urls import URLPattern, path

from consent import views

app_name = "consent"

urlpatterns: list[URLPattern] = [
    path("confirm/<str:token>/", views.confirm, name="confirm"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("preferences/<str:token>/", views.preferences, name="preferences"),
    path("return/<str:token>/", views.come_back, name="return"),
]
