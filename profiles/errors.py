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


class ProfileNotFound(ProfilesError):
    http_status = 404
    code = "profile_not_found"


class MergeNotFound(ProfilesError):
    http_status = 404
    code = "merge_not_found"


class MergeRefused(ProfilesError):
    """A merge or an undo that would break a rule; nothing was changed."""

    http_status = 409
    code = "merge_refused"


class SelfMerge(MergeRefused):
    http_status = 400
    code = "self_merge"


class MergeIntoTombstone(MergeRefused):
    code = "merged_profile"


class MergeIdentityLimit(MergeRefused):
    code = "identity_limit"


class MergeAlreadyUndone(MergeRefused):
    code = "already_undone"


class SurvivorMergedSince(MergeRefused):
    code = "survivor_merged_since"


class CandidateNotFound(ProfilesError):
    http_status = 404
    code = "not_found"


class CandidateDecided(ProfilesError):
    """A probable-duplicate pair was already merged or marked as two people."""

    http_status = 409
    code = "already_decided"
