"""Reports API, mounted under /api/reports/."""

from django.urls import URLPattern, URLResolver, path

from reports.api.views import ReportListView, ReportView

urlpatterns: list[URLPattern | URLResolver] = [
    path("", ReportListView.as_view(), name="report-list"),
    path("<slug:code>/", ReportView.as_view(), name="report-detail"),
]
