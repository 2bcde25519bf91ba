"""Errors of the segments app; the API's exception handler maps them to 4xx answers."""

from __future__ import annotations

from typing import Any


class SegmentsError(Exception):
    http_status = 400
    code = "invalid"

    def __init__(self, message: str, *, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.fields = fields


class RuleError(SegmentsError):
    """A rule tree is invalid; `path` names the offending node, e.g. `rule.all[2].op`."""

    code = "invalid_rule"

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}", fields={path: [message]})
        self.path = path
        self.detail = message


class SegmentNotFound(SegmentsError):
    http_status = 404
    code = "not_found"


class SegmentKindError(SegmentsError):
    http_status = 409
    code = "wrong_segment_kind"
