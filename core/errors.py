"""The one base of every domain error, and the one vocabulary of error codes.

A service raises a `DomainError` subclass of its app (`profiles.errors`, `consent.errors`,
...); the API's exception handler (`core.api.exception_handler`) answers with its status
and `{"error": {"status", "code", "message", "fields"}}`, and admin pages show its message.
A code names what went wrong, not which app noticed it: a missing profile, segment or
merge is `not_found` everywhere (the URL says which).
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Every code a client may see in `error.code` (DRF's own codes come on top)."""

    # Generic
    INVALID = "invalid"
    NOT_FOUND = "not_found"
    THROTTLED = "throttled"
    INVALID_TOKEN = "invalid_token"  # noqa: S105 - an error code
    SERVER_ERROR = "server_error"
    # Collection: who may send, and how much
    INVALID_WRITE_KEY = "invalid_write_key"
    ORIGIN_NOT_ALLOWED = "origin_not_allowed"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    IMPORT_FAILED = "import_failed"
    # Profiles: merges and duplicate decisions
    MERGE_REFUSED = "merge_refused"
    SELF_MERGE = "self_merge"
    MERGED_PROFILE = "merged_profile"
    IDENTITY_LIMIT = "identity_limit"
    ALREADY_UNDONE = "already_undone"
    SURVIVOR_MERGED_SINCE = "survivor_merged_since"
    ALREADY_DECIDED = "already_decided"
    # Consent
    PURPOSE_WITHOUT_WORDING = "purpose_without_wording"
    INVALID_WORDING = "invalid_wording"
    PROFILE_UNAVAILABLE = "profile_unavailable"
    INVALID_LINK = "invalid_link"
    EXPIRED_LINK = "expired_link"
    SUPERSEDED_LINK = "superseded_link"
    REQUEST_NOT_READY = "request_not_ready"
    # Segments
    INVALID_RULE = "invalid_rule"
    WRONG_SEGMENT_KIND = "wrong_segment_kind"
    # Campaigns
    INVALID_TEMPLATE = "invalid_template"
    BROADCAST_STATE = "broadcast_state"
    INVALID_JOURNEY = "invalid_journey"
    JOURNEY_STATE = "journey_state"


class DomainError(Exception):
    """A business rule refused the action; nothing was written.

    `status` is the HTTP status the API answers with, `code` one of `ErrorCode`, the
    message is for people, and `fields` maps a field name to its messages.
    """

    status: int = 400
    code: ErrorCode = ErrorCode.INVALID

    def __init__(self, message: str, *, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.fields = fields

    @property
    def message(self) -> str:
        return str(self)

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers the answer carries."""
        return {}


class TooManyFailures(DomainError):
    """Too many bad credentials from one client: wait `retry_after` seconds."""

    status = 429
    code = ErrorCode.THROTTLED

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(f"Too many failed attempts; retry in {self.retry_after} seconds.")

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}
