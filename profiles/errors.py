"""Errors of the profiles app; the API's exception handler maps them to 4xx answers."""

from __future__ import annotations

from typing import Any


class ProfilesError(Exception):
    http_status = 400
    code = "invalid"

    def __init__(self, message: str, *, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.fields = fields


class InvalidWriteKey(ProfilesError):
    http_status = 401
    code = "invalid_write_key"


class OriginNotAllowed(ProfilesError):
    http_status = 403
    code = "origin_not_allowed"


class PayloadTooLarge(ProfilesError):
    http_status = 413
    code = "payload_too_large"


class InvalidMessage(ProfilesError):
    """One message of a batch is invalid; carries field-level messages."""
