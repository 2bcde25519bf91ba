"""What `ingest_messages` answers: one result per message, and the batch's counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class MessageResult:
    index: int
    status: str  # "ok", "duplicate" or "error"
    message_id: str = ""
    profile_id: int | None = None
    errors: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status != "error"


@dataclass
class BatchResult:
    results: list[MessageResult]
    profiles_created: int = 0
    profiles_updated: int = 0
    events_created: int = 0

    @property
    def accepted(self) -> int:
        return sum(1 for result in self.results if result.ok)

    @property
    def rejected(self) -> int:
        return sum(1 for result in self.results if not result.ok)
