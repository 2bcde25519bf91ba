"""Reading an append-only table by id without missing rows that commit late.

PostgreSQL sequence values are not commit-ordered: an id below a reader's position can
become visible after the reader moved past it. A reader remembers the ids it has not seen
below its position as gaps `[low, high, first_seen]` and reads them again on each run,
until they appear or are older than an overlap window (a transaction open longer than
the window is missed; a periodic full pass catches it).
"""

from __future__ import annotations

from collections.abc import Iterable


def id_ranges_missing(low: int, high: int, seen: list[int]) -> list[tuple[int, int]]:
    """Ranges of ids in [low, high] that are not in `seen` (sorted)."""
    ranges: list[tuple[int, int]] = []
    expected = low
    for pk in seen:
        if pk < low or pk > high:
            continue
        if pk > expected:
            ranges.append((expected, pk - 1))
        expected = max(expected, pk + 1)
    if expected <= high:
        ranges.append((expected, high))
    return ranges


def id_gaps_remaining(
    gaps: Iterable[list[float]], seen: list[int], now: float, overlap: float
) -> list[list[float]]:
    """The gaps still open after a read that saw `seen`; those past the window expire."""
    kept: list[list[float]] = []
    for low, high, first_seen in gaps:
        if now - first_seen > overlap:
            continue
        kept.extend([a, b, first_seen] for a, b in id_ranges_missing(int(low), int(high), seen))
    return kept


def id_gaps_after(
    *, gaps: Iterable[list[float]], position: int, seen: list[int], now: float, overlap: float
) -> tuple[int, list[list[float]]]:
    """The new position and gaps after a read of ids above `position` and in `gaps`."""
    new_position = max([position, *seen])
    kept = id_gaps_remaining(gaps, seen, now, overlap)
    if new_position > position:
        kept.extend(
            [low, high, now] for low, high in id_ranges_missing(position + 1, new_position, seen)
        )
    return new_position, kept[-1000:]  # bounded: burnt ids (replays, rollbacks) expire anyway
