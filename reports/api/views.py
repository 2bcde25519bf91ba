"""Reports API: the same numbers as the admin's report pages and the scheduled emails."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reports.api.serializers import (
    DefinitionSerializer,
    PeriodInputSerializer,
    ReportSerializer,
)
from reports.builtin import DEFINITIONS, report_build
from reports.errors import ReportNotFound

# Roles that may read reports (viewer, steward, admin); checked by core.permissions.
READ_REPORTS = {"get": ("reports.view_dailyevents",)}


class ReportListView(APIView):
    required_permissions = READ_REPORTS

    @extend_schema(responses=DefinitionSerializer(many=True), tags=["reports"])
    def get(self, request: Request) -> Response:
        """The built-in reports."""
        return Response(DefinitionSerializer(list(DEFINITIONS.values()), many=True).data)


class ReportView(APIView):
    required_permissions = READ_REPORTS

    @extend_schema(parameters=[PeriodInputSerializer], responses=ReportSerializer, tags=["reports"])
    def get(self, request: Request, code: str) -> Response:
        """One report over `start`..`end` (inclusive), compared with the period before."""
        if code not in DEFINITIONS:
            raise ReportNotFound(gettext("No report %(code)s.") % {"code": repr(code)})
        period = PeriodInputSerializer(data=request.query_params)
        period.is_valid(raise_exception=True)
        data: dict[str, Any] = period.validated_data
        report = report_build(code=code, start=data["start"], end=data["end"])
        return Response(ReportSerializer(report).data)
