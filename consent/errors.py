"""Errors of the consent app; the API's exception handler maps them to 4xx answers."""

from __future__ import annotations

from typing import Any


class ConsentError(Exception):
    http_status = 400
    code = "invalid"

    def __init__(self, message: str, *, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.fields = fields


class InvalidDecision(ConsentError):
    """The decision cannot be recorded as given; carries field-level messages."""


class PurposeWithoutWording(ConsentError):
    """A form (or a page) cannot ask for a purpose that has no wording to show."""

    code = "purpose_without_wording"


class InvalidWording(ConsentError):
    code = "invalid_wording"


class ProfileNotFound(ConsentError):
    http_status = 404
    code = "not_found"


class ProfileUnavailable(ConsentError):
    """The profile was erased: there is nobody left to record a decision for."""

    http_status = 409
    code = "profile_unavailable"


class InvalidLink(ConsentError):
    """A confirmation, unsubscribe or preference link that was tampered with."""

    code = "invalid_link"


class ExpiredLink(InvalidLink):
    code = "expired_link"


class SupersededLink(InvalidLink):
    """A confirmation link whose request was withdrawn or replaced since."""

    http_status = 409
    code = "superseded_link"


class InvalidRequest(ConsentError):
    """A data-subject request that cannot be recorded or changed as given."""


class RequestNotReady(ConsentError):
    """The step needs an earlier one first (the identity verified), or the request is closed."""

    http_status = 409
    code = "request_not_ready"
