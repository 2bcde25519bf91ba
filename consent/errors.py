"""Errors of the consent app; the API's exception handler maps them to 4xx answers."""

from __future__ import annotations

from core.errors import DomainError, ErrorCode


class ConsentError(DomainError):
    """Base of the consent app's errors."""


class InvalidDecision(ConsentError):
    """The decision cannot be recorded as given; carries field-level messages."""


class PurposeWithoutWording(ConsentError):
    """A form (or a page) cannot ask for a purpose that has no wording to show."""

    code = ErrorCode.PURPOSE_WITHOUT_WORDING


class InvalidWording(ConsentError):
    code = ErrorCode.INVALID_WORDING


class ProfileNotFound(ConsentError):
    status = 404
    code = ErrorCode.NOT_FOUND


class ProfileUnavailable(ConsentError):
    """The profile was erased: there is nobody left to record a decision for."""

    status = 409
    code = ErrorCode.PROFILE_UNAVAILABLE


class InvalidLink(ConsentError):
    """A confirmation, unsubscribe or preference link that was tampered with."""

    code = ErrorCode.INVALID_LINK


class ExpiredLink(InvalidLink):
    code = ErrorCode.EXPIRED_LINK


class SupersededLink(InvalidLink):
    """A confirmation link whose request was withdrawn or replaced since."""

    status = 409
    code = ErrorCode.SUPERSEDED_LINK


class InvalidRequest(ConsentError):
    """A data-subject request that cannot be recorded or changed as given."""


class RequestNotReady(ConsentError):
    """The step needs an earlier one first (the identity verified), or the request is closed."""

    status = 409
    code = ErrorCode.REQUEST_NOT_READY
