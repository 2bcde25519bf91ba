"""API plumbing shared by every app: one error format and pagination."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext
from rest_framework import exceptions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import DomainError


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def error_body(
    *, status_code: int, code: str, message: str, fields: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The one error shape every endpoint answers with."""
    body: dict[str, Any] = {"status": status_code, "code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def _flatten_detail(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {str(key): _flatten_detail(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten_detail(item) for item in detail]
    return str(detail)


def _validation_response(detail: Any) -> Response:
    fields: dict[str, Any] = {}
    messages: list[str] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key in ("non_field_errors", "__all__"):
                messages.extend(str(v) for v in (value if isinstance(value, list) else [value]))
            else:
                fields[str(key)] = _flatten_detail(value)
    elif isinstance(detail, list):
        messages.extend(str(item) for item in detail)
    else:
        messages.append(str(detail))
    message = " ".join(messages) if messages else gettext("Some fields are invalid.")
    return Response(
        error_body(status_code=400, code="invalid", message=message, fields=fields),
        status=status.HTTP_400_BAD_REQUEST,
    )


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Turn DRF, Django and domain errors into `{"error": {...}}` with field messages."""
    if isinstance(exc, DomainError):
        return Response(
            error_body(
                status_code=exc.status, code=exc.code, message=exc.message, fields=exc.fields
            ),
            status=exc.status,
            headers=exc.headers,
        )
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        return _validation_response(detail)
    if isinstance(exc, exceptions.ValidationError):
        return _validation_response(exc.detail)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    codes = exc.get_codes()
    code = codes if isinstance(codes, str) else "error"
    response.data = error_body(status_code=response.status_code, code=code, message=str(exc.detail))
    return response
