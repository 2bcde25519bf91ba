"""Finding probable duplicates: keys for changed profiles, blocked pairs, scores, candidates.

Work goes in bounded batches, each one transaction: the keys of a batch of profiles are
rewritten, the profiles sharing a small block with them are scored, and candidate rows are
created, re-scored or dropped. Decided pairs are never reopened, and a "not the same
person" decision also holds for the profiles merged into either side since.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.leases import job_lease_owe
from core.planner import no_jit
from profiles.errors import ProfilesError
from profiles.models import (
    DuplicateCandidate,
    DuplicateScan,
    DuplicateSettings,
    MatchKey,
    Profile,
    ProfileAudit,
)
from profiles.services.duplicates.conflicts import identity_conflicts_score
from profiles.services.duplicates.matching import MATCH_FIELDS, pair_score
from profiles.services.duplicates.store import (
    Known,
    Pair,
    Scored,
    absorbed_read,
    block_pairs,
    candidates_read,
    candidates_write,
    chunks,
    keys_rewrite,
    records_read,
    roots_read,
)

log = logging.getLogger(__name__)

BATCH_PROFILES = 1_000  # profiles keyed and compared per transaction
CURSOR_ROWS = 2_000  # audit rows an incremental batch reads
HOLE_SECONDS = 3_600  # an audit id missing this long belonged to a rolled-back transaction
MAX_HOLES = 500
_MATCH_FIELD_SET = frozenset(MATCH_FIELDS)
OPEN = DuplicateCandidate.Status.OPEN
NOT_SAME = DuplicateCandidate.Status.NOT_SAME_PERSON


@dataclass
class ScanCounts:
    profiles_scanned: int = 0
    pairs_compared: int = 0
    candidates_found: int = 0
    auto_merged: int = 0
    has_more: bool = False
    largest_block: int = 0  # members of the largest block compared
    blocks_skipped: int = 0  # blocks over the size limit, not compared

    def add(self, other: ScanCounts) -> None:
        self.profiles_scanned += other.profiles_scanned
        self.pairs_compared += other.pairs_compared
        self.candidates_found += other.candidates_found
        self.auto_merged += other.auto_merged
        self.largest_block = max(self.largest_block, other.largest_block)
        self.blocks_skipped += other.blocks_skipped


def duplicate_settings_get() -> DuplicateSettings:
    """The one settings row, created with the defaults on first use."""
    found, _ = DuplicateSettings.objects.get_or_create(pk=DuplicateSettings.SINGLETON)
    return found


def _auto_merge(candidates: list[DuplicateCandidate], now: datetime) -> int:
    """Merge the given pairs (the older profile survives); a refused merge stays open."""
    from profiles.services.merge import profile_merge

    merged = 0
    gone: set[int] = set()
    for candidate in sorted(candidates, key=lambda c: -c.score):
        low, high = candidate.profile_low_id, candidate.profile_high_id
        if low in gone or high in gone:
            continue  # the survivor is re-scanned after its merge (the merge is audited)
        try:
            with transaction.atomic():
                profile_merge(
                    survivor_id=low,
                    absorbed_id=high,
                    rule="duplicates:auto",
                    reason="probable duplicate above the auto-merge threshold",
                    score=candidate.score,
                )
                DuplicateCandidate.objects.filter(pk=candidate.pk).update(
                    status=DuplicateCandidate.Status.AUTO_MERGED, decided_at=now
                )
        except ProfilesError as exc:  # refused (e.g. two user ids): left for review
            log.info("auto-merge of candidate %s refused: %s", candidate.pk, exc.code)
            continue
        gone.add(high)
        merged += 1
    return merged


def _blocked(ids: Sequence[int], known: dict[Pair, Known]) -> set[Pair]:
    """Pairs a "not the same person" decision forbids, also for profiles merged since."""
    refused = [pair for pair, row in known.items() if row.status == NOT_SAME]
    root = roots_read(end for pair in refused for end in pair)
    blocked: set[Pair] = set()
    for low, high in refused:
        a, b = root.get(low, low), root.get(high, high)
        if a != b:
            blocked.add((min(a, b), max(a, b)))
    return blocked


def _scan_ids(
    ids: Sequence[int], *, settings: DuplicateSettings, lower_only: bool = False
) -> ScanCounts:
    """Key, compare and record candidates for these profiles (inside the caller's transaction)."""
    ids = sorted(set(ids))
    if not ids:
        return ScanCounts()
    with no_jit():
        return _scan_sorted(ids, settings=settings, lower_only=lower_only)


def _scan_sorted(ids: list[int], *, settings: DuplicateSettings, lower_only: bool) -> ScanCounts:
    counts = ScanCounts()
    now = timezone.now()
    records = records_read(ids)
    keys_rewrite(ids, records)
    inactive = [pk for pk in ids if pk not in records]
    if inactive:
        DuplicateCandidate.objects.filter(
            Q(profile_low_id__in=inactive) | Q(profile_high_id__in=inactive),
            status=DuplicateCandidate.Status.OPEN,
        ).delete()
    active = sorted(records)
    blocks = block_pairs(active, max_block=settings.max_block_size, lower_only=lower_only)
    # A decision about a profile since merged away still holds for the profile it became.
    known = candidates_read([*active, *absorbed_read(active)])
    blocked = _blocked(active, known)
    records.update(records_read({pk for pair in blocks.pairs for pk in pair} - records.keys()))
    scored: list[Scored] = []
    dropped: list[int] = []
    for low, high in sorted(blocks.pairs):
        row = known.get((low, high))
        if (low, high) in blocked or (row is not None and row.status != OPEN):
            continue
        a, b = records.get(low), records.get(high)
        if a is None or b is None:
            continue
        score, features = pair_score(a, b)
        counts.pairs_compared += 1
        if score >= settings.review_threshold:
            scored.append(Scored(low, high, score, features))
        elif row is not None:
            dropped.append(row.pk)
    if dropped:
        DuplicateCandidate.objects.filter(pk__in=dropped, status=OPEN).delete()
    written, counts.candidates_found = candidates_write(scored, now)
    if settings.auto_merge_enabled:
        wanted = {
            written[(row.low, row.high)]: row.score
            for row in scored
            if row.score >= settings.auto_merge_threshold and (row.low, row.high) in written
        }
        if wanted:
            to_merge = list(DuplicateCandidate.objects.filter(pk__in=wanted, status=OPEN))
            counts.auto_merged = _auto_merge(to_merge, now)
    counts.profiles_scanned = len(ids)
    counts.largest_block = blocks.largest
    counts.blocks_skipped = blocks.skipped
    return counts


@transaction.atomic
def duplicates_scan_profiles(*, profile_ids: Sequence[int]) -> ScanCounts:
    """Re-key and compare the given profiles now (one transaction per call)."""
    settings = duplicate_settings_get()
    counts = ScanCounts()
    ids = sorted(set(profile_ids))
    for chunk in chunks(ids, BATCH_PROFILES):
        counts.add(_scan_ids(chunk, settings=settings))
    return counts


def _relevant(action: str, fields: object) -> bool:
    """An audit row that may change a match: anything but an ingestion of other fields."""
    if action != "ingested":
        return True
    return isinstance(fields, list) and not _MATCH_FIELD_SET.isdisjoint(fields)


def _holes_after(
    holes: list[list], start: int, seen: Sequence[int], now: datetime
) -> tuple[list[list], int]:
    """Missing id ranges after reading `seen` (sorted ids > start); returns (holes, new start)."""
    stamp = now.isoformat()
    previous = start
    for pk in seen:
        if pk > previous + 1:
            holes.append([previous + 1, pk - 1, stamp])
        previous = pk
    return holes, previous


def _holes_fill(holes: list[list], found: Sequence[int], now: datetime) -> list[list]:
    """Split hole ranges around the ids found in them; forget expired ones."""
    expiry = (now - timedelta(seconds=HOLE_SECONDS)).isoformat()
    found_sorted = sorted(found)
    kept: list[list] = []
    for low, high, seen_at in holes:
        if seen_at < expiry:
            continue
        inside = [pk for pk in found_sorted if low <= pk <= high]
        edge = low
        for pk in inside:
            if pk > edge:
                kept.append([edge, pk - 1, seen_at])
            edge = pk + 1
        if edge <= high:
            kept.append([edge, high, seen_at])
    return kept[-MAX_HOLES:]


def _cursor() -> DuplicateScan:
    try:
        return DuplicateScan.objects.select_for_update().get(kind=DuplicateScan.Kind.CURSOR)
    except DuplicateScan.DoesNotExist:
        DuplicateScan.objects.bulk_create(
            [DuplicateScan(kind=DuplicateScan.Kind.CURSOR)], ignore_conflicts=True
        )
        return DuplicateScan.objects.select_for_update().get(kind=DuplicateScan.Kind.CURSOR)


@transaction.atomic
def duplicates_scan_batch(*, limit: int = CURSOR_ROWS) -> ScanCounts:
    """One incremental batch: profiles created or changed since the last one (audit log)."""
    cursor = _cursor()
    now = timezone.now()
    rows = list(
        ProfileAudit.objects.filter(pk__gt=cursor.position)
        .order_by("pk")
        .values_list("pk", "profile_id", "action", "fields")[:limit]
    )
    holes = list(cursor.holes)
    late: list[tuple[int, int, str, object]] = []
    if holes:
        condition = Q()
        for low, high, _ in holes:
            condition |= Q(pk__gte=low, pk__lte=high)
        late = list(
            ProfileAudit.objects.filter(condition).values_list(
                "pk", "profile_id", "action", "fields"
            )
        )
        holes = _holes_fill(holes, [row[0] for row in late], now)
    start = cursor.position
    if start == 0 and rows:
        start = rows[0][0] - 1  # the first read: ids below the oldest row are history
    holes, position = _holes_after(holes, start, [row[0] for row in rows], now)
    ids = sorted(
        {profile for _, profile, action, fields in [*rows, *late] if _relevant(action, fields)}
    )
    settings = duplicate_settings_get()
    counts = ScanCounts()
    for chunk in chunks(ids, BATCH_PROFILES):
        counts.add(_scan_ids(chunk, settings=settings))
    cursor.position = position
    cursor.holes = holes[-MAX_HOLES:]
    cursor.profiles_scanned += counts.profiles_scanned
    cursor.pairs_compared += counts.pairs_compared
    cursor.candidates_found += counts.candidates_found
    cursor.auto_merged += counts.auto_merged
    cursor.save()
    counts.has_more = len(rows) == limit
    return counts


def duplicates_scan(
    *,
    profile_ids: Sequence[int] | None = None,
    max_batches: int = 50,
    batch_rows: int = CURSOR_ROWS,
) -> ScanCounts:
    """Compare new and changed profiles: the given ones, else those the audit log names.

    The identity conflicts queued since the last scan are scored too.
    """
    identity_conflicts_score()
    if profile_ids is not None:
        return duplicates_scan_profiles(profile_ids=profile_ids)
    total = ScanCounts()
    for _ in range(max_batches):
        counts = duplicates_scan_batch(limit=batch_rows)
        total.add(counts)
        total.has_more = counts.has_more
        if not counts.has_more:
            break
    return total


def full_scan_job(scan_id: int) -> str:
    """The job-lease name of a full scan."""
    return f"profiles.duplicates_full:{scan_id}"


@transaction.atomic
def duplicates_full_scan_start() -> DuplicateScan:
    """Start a full scan (or return the running one); its batches compare every profile.

    The scan owes a job lease until it is done: a scan whose worker died is queued again.
    """
    running = (
        DuplicateScan.objects.select_for_update()
        .filter(kind=DuplicateScan.Kind.FULL, status=DuplicateScan.Status.RUNNING)
        .first()
    )
    if running is None:
        MatchKey.objects.exclude(profile__status=Profile.Status.ACTIVE).delete()
        running = DuplicateScan.objects.create(
            kind=DuplicateScan.Kind.FULL,
            total=Profile.objects.filter(status=Profile.Status.ACTIVE).count(),
        )
    job_lease_owe(
        job=full_scan_job(running.pk),
        task="profiles.tasks.duplicates_full_scan_task",
        kwargs={"scan_id": running.pk},
    )
    return running


@transaction.atomic
def duplicates_full_scan_batch(*, scan_id: int, batch: int = BATCH_PROFILES) -> ScanCounts:
    """The next batch of a full scan, in profile id order; each pair is compared once."""
    scan = DuplicateScan.objects.select_for_update().get(pk=scan_id, kind=DuplicateScan.Kind.FULL)
    counts = ScanCounts()
    if scan.status != DuplicateScan.Status.RUNNING:
        return counts
    ids = list(
        Profile.objects.filter(pk__gt=scan.position, status=Profile.Status.ACTIVE)
        .order_by("pk")
        .values_list("pk", flat=True)[:batch]
    )
    if ids:
        counts = _scan_ids(ids, settings=duplicate_settings_get(), lower_only=True)
        scan.position = ids[-1]
    scan.profiles_scanned += counts.profiles_scanned
    scan.pairs_compared += counts.pairs_compared
    scan.candidates_found += counts.candidates_found
    scan.auto_merged += counts.auto_merged
    counts.has_more = len(ids) == batch
    if not counts.has_more:
        scan.status = DuplicateScan.Status.DONE
        scan.finished_at = timezone.now()
    scan.save()
    return counts
