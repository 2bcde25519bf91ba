"""Reports API: the same numbers as the admin's report pages and the scheduled emails."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import BasePermission, IsAuthenticated
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


class MayReadReports(BasePermission):
    """Roles that may read reports (viewer, steward, admin); nobody else."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and request.user.has_perm("reports.view_dailyevents"))


class ReportListView(APIView):
    permission_classes = [IsAuthenticated, MayReadReports]

    @extend_schema(responses=DefinitionSerializer(many=True), tags=["reports"])
    def get(self, request: Request) -> Response:
        """The built-in reports."""
        return Response(DefinitionSerializer(list(DEFINITIONS.values()), many=True).data)


class ReportView(APIView):
    permission_classes = [IsAuthenticated, MayReadReports]

    @extend_schema(parameters=[PeriodInputSerializer], responses=ReportSerializer, tags=["reports"])
    def get(self, request: Request, code: str) -> Response:
        """One report over `start`..`end` (inclusive), compared with the period before."""
        if code not in DEFINITIONS:
            raise ReportNotFound(f"No report {code!r}.")
        period = PeriodInputSerializer(data=request.query_params)
        period.is_valid(raise_exception=True)
        data: dict[str, Any] = period.validated_data
        report = report_build(code=code, start=data["start"], end=data["end"])
        return Response(ReportSerializer(report).data)
