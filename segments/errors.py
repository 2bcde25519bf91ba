"""Errors of the segments app; the API's exception handler maps them to 4xx answers."""

from __future__ import annotations

from core.errors import DomainError, ErrorCode


class SegmentsError(DomainError):
    """Base of the segments app's errors."""


class RuleError(SegmentsError):
    """A rule tree is invalid; `path` names the offending node, e.g. `rule.all[2].op`."""

    code = ErrorCode.INVALID_RULE

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}", fields={path: [message]})
        self.path = path
        self.detail = message


class SegmentNotFound(SegmentsError):
    status = 404
    code = ErrorCode.NOT_FOUND


class SegmentKindError(SegmentsError):
    status = 409
    code = ErrorCode.WRONG_SEGMENT_KIND
