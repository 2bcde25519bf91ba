"""Errors of the collection app; the API's exception handler maps them to 4xx answers."""

from __future__ import annotations

import math

from django.utils.translation import gettext

from core.errors import DomainError, ErrorCode


class CollectionError(DomainError):
    """Base of the collection app's errors."""


class OriginNotAllowed(CollectionError):
    status = 403
    code = ErrorCode.ORIGIN_NOT_ALLOWED


class PayloadTooLarge(CollectionError):
    status = 413
    code = ErrorCode.PAYLOAD_TOO_LARGE


class FormUnavailable(CollectionError):
    """The form does not exist, is switched off, or its source is."""

    status = 404
    code = ErrorCode.NOT_FOUND


class FormRateLimited(CollectionError):
    status = 429
    code = ErrorCode.THROTTLED

    def __init__(self, retry_after: float) -> None:
        super().__init__(
            gettext("Too many submissions; try again in %(value)s seconds.")
            % {"value": math.ceil(retry_after)}
        )
        self.retry_after = retry_after


class ImportJobFailed(CollectionError):
    """The file as a whole cannot be imported (empty, undecodable, too large, columns missing)."""

    code = ErrorCode.IMPORT_FAILED
