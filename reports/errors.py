"""Errors of the reports app; the API's exception handler maps them to 4xx answers."""

from __future__ import annotations

from core.errors import DomainError, ErrorCode


class ReportsError(DomainError):
    """Base of the reports app's errors."""


class ReportNotFound(ReportsError):
    status = 404
    code = ErrorCode.NOT_FOUND
