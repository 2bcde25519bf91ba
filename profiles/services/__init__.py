"""Writes of the profiles app. Import from here: `from profiles.services import ...`."""

from profiles.services.ingest import BatchResult, MessageResult, ingest_messages
from profiles.services.merge import merge_preview, profile_merge, profile_merge_undo
from profiles.services.messages import Message
from profiles.services.sources import (
    source_authenticate,
    source_cache_clear,
    source_create,
    source_rotate_key,
)

__all__ = [
    "BatchResult",
    "Message",
    "MessageResult",
    "ingest_messages",
    "merge_preview",
    "profile_merge",
    "profile_merge_undo",
    "source_authenticate",
    "source_cache_clear",
    "source_create",
    "source_rotate_key",
]
