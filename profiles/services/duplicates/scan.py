"""Finding probable duplicates: keys for changed profiles, blocked pairs, scores, candidates.

Work goes in bounded batches, each one transaction: the keys of a batch of profiles are
rewritten, the profiles sharing a small block with them are scored, and candidate rows are
created, re-scored or dropped. Decided pairs are never reopened, and a "not the same
person" decision also holds for the profiles merged into either side since.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from profiles.errors import ProfilesError
from profiles.models import (
    DuplicateCandidate,
    DuplicateScan,
    DuplicateSettings,
    MatchKey,
    Profile,
    ProfileAudit,
)
from profiles.services.duplicates.matching import (
    MATCH_FIELDS,
    Record,
    keys_for,
    pair_score,
    record_from,
)

log = logging.getLogger(__name__)

BATCH_PROFILES = 1_000  # profiles keyed and compared per transaction
CURSOR_ROWS = 2_000  # audit rows an incremental batch reads
HOLE_SECONDS = 3_600  # an audit id missing this long belonged to a rolled-back transaction
MAX_HOLES = 500
_READ_CHUNK = 5_000
_MATCH_FIELD_SET = frozenset(MATCH_FIELDS)
# Broad blocking keys: birthday + name code, first-name code + postcode. A pair sharing only
# one of them (and no other key) is not scored.
WEAK_KINDS = frozenset({"dob_md", "first_pc"})
Pair = tuple[int, int]


@dataclass
class ScanCounts:
    profiles_scanned: int = 0
    pairs_compared: int = 0
    candidates_found: int = 0
    auto_merged: int = 0
    has_more: bool = False
    candidate_ids: list[int] = field(default_factory=list)

    def add(self, other: ScanCounts) -> None:
        self.profiles_scanned += other.profiles_scanned
        self.pairs_compared += other.pairs_compared
        self.candidates_found += other.candidates_found
        self.auto_merged += other.auto_merged


def duplicate_settings_get() -> DuplicateSettings:
    """The one settings row, created with the defaults on first use."""
    found, _ = DuplicateSettings.objects.get_or_create(pk=DuplicateSettings.SINGLETON)
    return found


def _chunks(ids: Sequence[int], size: int = _READ_CHUNK) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _records(ids: Iterable[int]) -> dict[int, Record]:
    """Active profiles among `ids`, folded for matching."""
    wanted = sorted(set(ids))
    out: dict[int, Record] = {}
    for chunk in _chunks(wanted):
        for row in Profile.objects.filter(pk__in=chunk, status=Profile.Status.ACTIVE).values(
            "id", *MATCH_FIELDS
        ):
            out[row["id"]] = record_from(row)
    return out


def _rekey(ids: Sequence[int], records: dict[int, Record]) -> None:
    """Replace the keys of `ids`: active ones get fresh keys, the others none."""
    table = connection.ops.quote_name(MatchKey._meta.db_table)
    with connection.cursor() as cursor:
        for chunk in _chunks(ids):
            condition, params = _in("profile_id", chunk)
            cursor.execute(f"DELETE FROM {table} WHERE {condition}", params)  # noqa: S608
    rows = [
        (record.id, kind, key[:64]) for record in records.values() for kind, key in keys_for(record)
    ]
    if not rows:
        return
    columns = "(profile_id, kind, key)"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY: a dozen times faster than building model instances for ~7 keys a profile.
            with cursor.cursor.copy(f"COPY {table} {columns} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(
                f"INSERT INTO {table} {columns} VALUES (%s, %s, %s)",  # noqa: S608
                rows,
            )


def _in(column: str, ids: Sequence[int]) -> tuple[str, list[object]]:
    """`column IN ids` as SQL and parameters; one array parameter on PostgreSQL."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(ids)]
    return f"{column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def _pairs(ids: Sequence[int], *, max_block: int, lower_only: bool) -> set[Pair]:
    """Pairs (low, high) sharing a block of at most `max_block` profiles with one of `ids`.

    `lower_only`: only pairs whose other profile has a lower id (a full scan in id order
    then compares each pair once).
    """
    if not ids:
        return set()
    table = connection.ops.quote_name(MatchKey._meta.db_table)
    condition, params = _in("profile_id", ids)
    if connection.vendor == "postgresql":
        # At most max_block + 1 members a block: an oversized block (a common value in a
        # big base) is recognised without reading all of it, so the rows read per profile
        # stay bounded as the base grows.
        sql = f"""
            SELECT mine.kind, mine.key, m.profile_id
            FROM (SELECT DISTINCT kind, key FROM {table} WHERE {condition}) mine
            CROSS JOIN LATERAL (
                SELECT profile_id FROM {table}
                WHERE kind = mine.kind AND key = mine.key LIMIT %s
            ) m
        """  # noqa: S608
        params = [*params, max_block + 1]
    else:
        sql = f"""
            SELECT m.kind, m.key, m.profile_id FROM {table} m
            JOIN (SELECT DISTINCT kind, key FROM {table} WHERE {condition}) mine
              ON m.kind = mine.kind AND m.key = mine.key
        """  # noqa: S608
    blocks: dict[tuple[str, str], list[int]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for kind, key, profile_id in cursor.fetchall():
            blocks[(kind, key)].append(profile_id)
    mine = set(ids)
    shared: dict[Pair, int] = defaultdict(int)
    strong: set[Pair] = set()
    for (kind, _), members in blocks.items():
        if not 2 <= len(members) <= max_block:
            continue
        found = {
            (a, b) if a < b else (b, a)
            for a in members
            if a in mine
            for b in members
            if a != b and (b < a or not lower_only)
        }
        if kind in WEAK_KINDS:
            for pair in found:
                shared[pair] += 1
        else:
            strong |= found
    # A pair met through one weak key only is mostly chance (at 100k synthetic profiles:
    # 54k such pairs, 62 above the review threshold); two shared keys make it worth a score.
    return strong | {pair for pair, n in shared.items() if n >= 2}


def _roots(ids: Iterable[int]) -> dict[int, int]:
    """Tombstone id -> the profile it was merged into (merges forward in one hop)."""
    out: dict[int, int] = {}
    wanted = sorted(set(ids))
    for chunk in _chunks(wanted):
        out.update(
            Profile.objects.filter(pk__in=chunk, merged_into__isnull=False).values_list(
                "pk", "merged_into_id"
            )
        )
    return out


def _known(ids: Sequence[int]) -> tuple[dict[Pair, DuplicateCandidate], set[Pair]]:
    """Existing candidate rows touching `ids`, and the pairs a "not the same person" blocks.

    A decision about a profile since merged away still holds for the profile it became.
    """
    absorbed = dict(
        Profile.objects.filter(merged_into_id__in=ids).values_list("pk", "merged_into_id")
    )
    everyone = sorted({*ids, *absorbed})
    rows: dict[int, DuplicateCandidate] = {}
    for chunk in _chunks(everyone, 2_000):
        for row in DuplicateCandidate.objects.filter(
            Q(profile_low_id__in=chunk) | Q(profile_high_id__in=chunk)
        ):
            rows[row.pk] = row
    existing = {(row.profile_low_id, row.profile_high_id): row for row in rows.values()}
    refused = [row for row in rows.values() if row.status == row.Status.NOT_SAME_PERSON]
    root = _roots(end for row in refused for end in (row.profile_low_id, row.profile_high_id))
    blocked: set[Pair] = set()
    for row in refused:
        a = root.get(row.profile_low_id, row.profile_low_id)
        b = root.get(row.profile_high_id, row.profile_high_id)
        if a != b:
            blocked.add((min(a, b), max(a, b)))
    return existing, blocked


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


def _scan_ids(
    ids: Sequence[int], *, settings: DuplicateSettings, lower_only: bool = False
) -> ScanCounts:
    """Key, compare and record candidates for these profiles (inside the caller's transaction)."""
    ids = sorted(set(ids))
    counts = ScanCounts()
    if not ids:
        return counts
    now = timezone.now()
    records = _records(ids)
    _rekey(ids, records)
    inactive = [pk for pk in ids if pk not in records]
    if inactive:
        DuplicateCandidate.objects.filter(
            Q(profile_low_id__in=inactive) | Q(profile_high_id__in=inactive),
            status=DuplicateCandidate.Status.OPEN,
        ).delete()
    active = sorted(records)
    pairs = _pairs(active, max_block=settings.max_block_size, lower_only=lower_only)
    existing, blocked = _known(active)
    partners = {pk for pair in pairs for pk in pair if pk not in records}
    records.update(_records(partners))
    new: list[DuplicateCandidate] = []
    changed: list[DuplicateCandidate] = []
    dropped: list[int] = []
    to_merge: list[DuplicateCandidate] = []
    for low, high in sorted(pairs):
        row = existing.get((low, high))
        if (low, high) in blocked or (row is not None and row.status != row.Status.OPEN):
            continue
        a, b = records.get(low), records.get(high)
        if a is None or b is None:
            continue
        score, features = pair_score(a, b)
        counts.pairs_compared += 1
        if score < settings.review_threshold:
            if row is not None:
                dropped.append(row.pk)
            continue
        if row is None:
            row = DuplicateCandidate(
                profile_low_id=low,
                profile_high_id=high,
                score=score,
                features=features,
                found_at=now,
                scored_at=now,
            )
            new.append(row)
        else:
            row.score, row.features, row.scored_at = score, features, now
            changed.append(row)
        if settings.auto_merge_enabled and score >= settings.auto_merge_threshold:
            to_merge.append(row)
    if dropped:
        DuplicateCandidate.objects.filter(pk__in=dropped, status="open").delete()
    if changed:
        DuplicateCandidate.objects.bulk_update(
            changed, ["score", "features", "scored_at"], batch_size=1_000
        )
    if new:
        DuplicateCandidate.objects.bulk_create(new, batch_size=1_000, ignore_conflicts=True)
    if to_merge:
        # ignore_conflicts leaves no primary keys: read them back for the merges.
        wanted = {(row.profile_low_id, row.profile_high_id) for row in to_merge}
        to_merge = [
            row
            for row in DuplicateCandidate.objects.filter(
                profile_low_id__in={low for low, _ in wanted}, status="open"
            )
            if (row.profile_low_id, row.profile_high_id) in wanted
        ]
        counts.auto_merged = _auto_merge(to_merge, now)
    counts.profiles_scanned = len(ids)
    counts.candidates_found = len(new)
    return counts


@transaction.atomic
def duplicates_scan_profiles(*, profile_ids: Sequence[int]) -> ScanCounts:
    """Re-key and compare the given profiles now (one transaction per call)."""
    settings = duplicate_settings_get()
    counts = ScanCounts()
    ids = sorted(set(profile_ids))
    for chunk in _chunks(ids, BATCH_PROFILES):
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
    for chunk in _chunks(ids, BATCH_PROFILES):
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
    """Compare new and changed profiles: the given ones, else those the audit log names."""
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


@transaction.atomic
def duplicates_full_scan_start() -> DuplicateScan:
    """Start a full scan (or return the running one); its batches compare every profile."""
    running = (
        DuplicateScan.objects.select_for_update()
        .filter(kind=DuplicateScan.Kind.FULL, status=DuplicateScan.Status.RUNNING)
        .first()
    )
    if running is not None:
        return running
    MatchKey.objects.exclude(profile__status=Profile.Status.ACTIVE).delete()
    return DuplicateScan.objects.create(
        kind=DuplicateScan.Kind.FULL,
        total=Profile.objects.filter(status=Profile.Status.ACTIVE).count(),
    )


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
