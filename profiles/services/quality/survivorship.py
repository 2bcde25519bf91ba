"""Survivorship: which source's value of a field a profile shows when sources disagree.

Per field, a `SurvivorshipRule` orders the candidates by trust rank then recency (the
default) or by recency then trust rank; an empty value never wins. Pure functions over
provenance rows, so ingestion, maintenance and the 360° page agree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Protocol

TRUST_THEN_RECENCY = "trust_then_recency"
RECENCY_THEN_TRUST = "recency_then_trust"


class Candidate(Protocol):
    @property
    def profile_id(self) -> int: ...
    @property
    def field(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def observed_at(self) -> datetime: ...
    @property
    def trust_rank(self) -> int: ...


def candidate_rank(row: Candidate, strategy: str) -> tuple[object, ...]:
    """The sort key of a candidate under `strategy`: the greatest wins; empty values lose."""
    if strategy == RECENCY_THEN_TRUST:
        return (bool(row.value), row.observed_at, row.trust_rank)
    return (bool(row.value), row.trust_rank, row.observed_at)


def survivorship_winners(
    rows: Iterable[Candidate], strategies: Mapping[str, str] | None = None
) -> dict[int, dict[str, Candidate]]:
    """The winning row per profile, then field; fields where every value is empty have none."""
    strategies = strategies or {}
    best: dict[tuple[int, str], tuple[tuple[object, ...], Candidate]] = {}
    for row in rows:
        if not row.value:
            continue
        rank = candidate_rank(row, strategies.get(row.field, TRUST_THEN_RECENCY))
        key = (row.profile_id, row.field)
        current = best.get(key)
        if current is None or rank > current[0]:
            best[key] = (rank, row)
    winners: dict[int, dict[str, Candidate]] = defaultdict(dict)
    for (profile_id, name), (_, row) in best.items():
        winners[profile_id][name] = row
    return winners
