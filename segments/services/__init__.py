"""Writes of the segments app. Import from here: `from segments.services import ...`."""

from segments.services.definitions import (
    persona_create,
    segment_create,
    segment_delete,
    segment_refresh_job,
    segment_refresh_request,
    segment_update,
)
from segments.services.membership import (
    RefreshResult,
    segment_members_add,
    segment_members_remove,
    segment_refresh,
    segment_refresh_profiles,
    segments_refresh_due,
)

__all__ = [
    "RefreshResult",
    "persona_create",
    "segment_create",
    "segment_delete",
    "segment_members_add",
    "segment_members_remove",
    "segment_refresh",
    "segment_refresh_job",
    "segment_refresh_profiles",
    "segment_refresh_request",
    "segment_update",
    "segments_refresh_due",
]
