"""URL patterns of the public web-form endpoint, mounted under /api/forms/."""

from django.urls import URLPattern, URLResolver, path

from collection.api.forms.views import FormSubmitView

urlpatterns: list[URLPattern | URLResolver] = [
    path("<slug:slug>/submissions", FormSubmitView.as_view(), name="form-submit"),
]
