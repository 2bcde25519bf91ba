"""Errors of the profiles app; the API's exception handler maps them to 4xx answers."""

from __future__ import annotations

from core.errors import DomainError, ErrorCode


class ProfilesError(DomainError):
    """Base of the profiles app's errors."""


class InvalidWriteKey(ProfilesError):
    status = 401
    code = ErrorCode.INVALID_WRITE_KEY


class InvalidMessage(ProfilesError):
    """One message of a batch is invalid; carries field-level messages."""


class ProfileNotFound(ProfilesError):
    status = 404
    code = ErrorCode.NOT_FOUND


class MergeNotFound(ProfilesError):
    status = 404
    code = ErrorCode.NOT_FOUND


class MergeRefused(ProfilesError):
    """A merge or an undo that would break a rule; nothing was changed."""

    status = 409
    code = ErrorCode.MERGE_REFUSED


class SelfMerge(MergeRefused):
    status = 400
    code = ErrorCode.SELF_MERGE


class MergeIntoTombstone(MergeRefused):
    code = ErrorCode.MERGED_PROFILE


class MergeIdentityLimit(MergeRefused):
    code = ErrorCode.IDENTITY_LIMIT


class MergeAlreadyUndone(MergeRefused):
    code = ErrorCode.ALREADY_UNDONE


class SurvivorMergedSince(MergeRefused):
    code = ErrorCode.SURVIVOR_MERGED_SINCE


class CandidateNotFound(ProfilesError):
    status = 404
    code = ErrorCode.NOT_FOUND


class CandidateDecided(ProfilesError):
    """A probable-duplicate pair was already merged or marked as two people."""

    status = 409
    code = ErrorCode.ALREADY_DECIDED
