"""The scan's reads and writes: profiles' matching fields, blocking keys, blocks, candidates.

Set-based and bounded per profile, so a batch costs the same in a base of 5k or 1M:
PostgreSQL gets one array parameter per list of ids, and the per-id look-ups run as
`LATERAL` index probes, whose plan does not depend on table statistics (right after a big
import there are none, and an `= ANY(list)` on a never-analysed table is planned as a
sequential scan of the whole table, once per batch).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import Any, cast

from django.db import connection
from django.db.models import Field, Model

from profiles.models import DuplicateCandidate, MatchKey, Profile
from profiles.services.duplicates.matching import MATCH_FIELDS, Record, keys_for, record_from
from profiles.services.identity_rules import IdentityRules, identity_rules_current

READ_CHUNK = 5_000
# Broad blocking keys: birthday + name code, first-name code + postcode. A pair sharing only
# one of them (and no other key) is not scored.
WEAK_KINDS = frozenset({"dob_md", "first_pc"})
# A block of more profiles than this is broad too, whatever its kind: a common name, or a
# date of birth shared by chance in a big base. At 100k synthetic profiles, a pair meeting
# only in such a block was one person once in ~1,000 pairs (vs 1-4 % in blocks of 2-5),
# and these pairs were a third of all pairs scored. So a profile meets at most
# STRONG_BLOCK - 1 others per key on one key alone, and at most max_block_size - 1 per
# key at all: the comparisons per profile stay bounded as the base grows.
STRONG_BLOCK = 8
Pair = tuple[int, int]
Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Known:
    """A stored candidate pair: its id and status."""

    pk: int
    status: str


@dataclass
class Blocks:
    """The pairs to score, and what blocking saw (for the scan's figures)."""

    pairs: set[Pair]
    largest: int = 0  # members of the largest block compared
    skipped: int = 0  # blocks over the limit, not compared


def chunks(ids: Sequence[int], size: int = READ_CHUNK) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _in(column: str, ids: Sequence[int]) -> tuple[str, list[int | list[int]]]:
    """`column IN ids` as SQL and parameters; one array parameter on PostgreSQL."""
    if _postgres():
        return f"{column} = ANY(%s)", [list(ids)]
    return f"{column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def records_read(ids: Iterable[int]) -> dict[int, Record]:
    """Active profiles among `ids`, folded for matching (a primary-key look-up, no models)."""
    columns = ["id", *(cast(Field, Profile._meta.get_field(name)).column for name in MATCH_FIELDS)]
    names = ["id", *MATCH_FIELDS]
    select = ", ".join(connection.ops.quote_name(column) for column in columns)
    out: dict[int, Record] = {}
    rules = identity_rules_current()
    with connection.cursor() as cursor:
        for chunk in chunks(sorted(set(ids))):
            condition, params = _in("id", chunk)
            cursor.execute(
                f"SELECT {select} FROM {_table(Profile)} WHERE {condition} AND status = %s",  # noqa: S608
                [*params, Profile.Status.ACTIVE],
            )
            for row in cursor.fetchall():
                out[row[0]] = record_from(_unblocked(dict(zip(names, row, strict=True)), rules))
    return out


def _unblocked(row: dict[str, Any], rules: IdentityRules) -> dict[str, Any]:
    """A role mailbox or a test number is no identifier of one person: matching weighs a
    shared role mailbox lightly, and ignores a test number."""
    for name in ("email", "phone"):
        if row[name] and rules.blocked((name, "", row[name])):
            if name == "email":
                row["role_email"] = row[name]
            row[name] = ""
    return row


def keys_rewrite(ids: Sequence[int], records: dict[int, Record]) -> None:
    """Replace the keys of `ids`: active ones get fresh keys, the others none."""
    table = _table(MatchKey)
    with connection.cursor() as cursor:
        for chunk in chunks(ids):
            condition, params = _in("profile_id", chunk)
            cursor.execute(f"DELETE FROM {table} WHERE {condition}", params)  # noqa: S608
    rows = [
        (record.id, kind, key[:64]) for record in records.values() for kind, key in keys_for(record)
    ]
    if not rows:
        return
    columns = "(profile_id, kind, key)"
    with connection.cursor() as cursor:
        if _postgres():
            # COPY: a dozen times faster than building model instances for ~7 keys a profile.
            with cursor.cursor.copy(f"COPY {table} {columns} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(
                f"INSERT INTO {table} {columns} VALUES (%s, %s, %s)",  # noqa: S608
                rows,
            )


def _members(ids: Sequence[int], limit: int) -> list[tuple[str, str, int]]:
    """(kind, key, profile id) of at most `limit` members of each block of `ids`."""
    table = _table(MatchKey)
    condition, params = _in("profile_id", ids)
    mine = f"SELECT DISTINCT kind, key FROM {table} WHERE {condition}"  # noqa: S608
    with connection.cursor() as cursor:
        if _postgres():
            # One index probe per block, at most `limit` rows each: an oversized block (a
            # common value in a big base) is recognised without reading it all.
            cursor.execute(
                f"""
                SELECT mine.kind, mine.key, m.profile_id FROM ({mine}) mine
                CROSS JOIN LATERAL (
                    SELECT profile_id FROM {table}
                    WHERE kind = mine.kind AND key = mine.key LIMIT %s
                ) m
                """,  # noqa: S608
                [*params, limit],
            )
        else:
            cursor.execute(
                f"SELECT m.kind, m.key, m.profile_id FROM {table} m "  # noqa: S608
                f"JOIN ({mine}) mine ON m.kind = mine.kind AND m.key = mine.key",
                params,
            )
        return cursor.fetchall()


def block_pairs(ids: Sequence[int], *, max_block: int, lower_only: bool) -> Blocks:
    """Pairs (low, high) sharing a block of at most `max_block` profiles with one of `ids`.

    A block over `max_block` is not evidence (thousands of "Smith|John" say nothing about
    which two are one person) and is skipped: its members still meet through their finer
    keys (name code with postcode, date of birth with an initial, street, email, phone). A
    block over STRONG_BLOCK is broad, like the WEAK_KINDS: a pair meeting there is scored
    only if it shares a second broad key (or any strong one). So a profile is compared with
    at most `max_block - 1` others per key, whatever the size of the base. `lower_only`:
    only pairs whose other profile has a lower id (a full scan in id order then compares
    each pair once).
    """
    blocks: dict[Key, list[int]] = defaultdict(list)
    for kind, key, profile_id in _members(ids, max_block + 1):
        blocks[(kind, key)].append(profile_id)
    mine = set(ids)
    strong: dict[int, list[list[int]]] = defaultdict(list)
    broad: dict[int, list[list[int]]] = defaultdict(list)
    found = Blocks(pairs=set())
    for (kind, _), members in blocks.items():
        size = len(members)
        if size > max_block:
            found.skipped += 1
            continue
        if size < 2:
            continue
        found.largest = max(found.largest, size)
        side = broad if kind in WEAK_KINDS or size > STRONG_BLOCK else strong
        for a in members:
            if a in mine:
                side[a].append(members)
    for a in mine:
        others = set(chain.from_iterable(strong.get(a, ())))
        if a in broad:
            # A pair met through one broad key only is mostly chance (at 100k synthetic
            # profiles: 54k such pairs, 62 above the review threshold); two shared keys
            # make it worth a score.
            shared = Counter(chain.from_iterable(broad[a]))
            others.update(b for b, n in shared.items() if n >= 2)
        others.discard(a)
        for b in others:
            if b < a:
                found.pairs.add((b, a))
            elif not lower_only:
                found.pairs.add((a, b))
    return found


def _probe(sql: str, ids: Sequence[int]) -> list[tuple]:
    """Run a PostgreSQL `... FROM unnest(%s::bigint[]) AS t(id) ...` query over `ids`.

    The `LATERAL` subqueries carry `OFFSET 0` so the planner keeps them as one index probe
    per id: pulled up into a join, they become a merge or hash join over the whole table
    whenever its statistics are missing or stale.
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(ids)])
        return cursor.fetchall()


def absorbed_read(ids: Sequence[int]) -> dict[int, int]:
    """Profiles merged into one of `ids`: absorbed id -> survivor id."""
    if not ids:
        return {}
    if _postgres():
        table = _table(Profile)
        return dict(
            _probe(
                f"""
                SELECT p.id, p.merged_into_id FROM unnest(%s::bigint[]) AS t(id)
                CROSS JOIN LATERAL (
                    SELECT id, merged_into_id FROM {table} WHERE merged_into_id = t.id OFFSET 0
                ) p
                """,  # noqa: S608
                ids,
            )
        )
    return dict(Profile.objects.filter(merged_into_id__in=ids).values_list("pk", "merged_into_id"))


def roots_read(ids: Iterable[int]) -> dict[int, int]:
    """Tombstone id -> the profile it was merged into (merges forward in one hop)."""
    out: dict[int, int] = {}
    for chunk in chunks(sorted(set(ids))):
        out.update(
            Profile.objects.filter(pk__in=chunk, merged_into__isnull=False).values_list(
                "pk", "merged_into_id"
            )
        )
    return out


def candidates_read(ids: Sequence[int]) -> dict[Pair, Known]:
    """Stored candidate pairs with one side among `ids`."""
    out: dict[Pair, Known] = {}
    table = _table(DuplicateCandidate)
    for chunk in chunks(sorted(set(ids)), 2_000):
        if _postgres():
            rows = _probe(
                f"""
                SELECT c.id, c.profile_low_id, c.profile_high_id, c.status
                FROM unnest(%s::bigint[]) AS t(id)
                CROSS JOIN LATERAL (
                    (SELECT id, profile_low_id, profile_high_id, status FROM {table}
                     WHERE profile_low_id = t.id OFFSET 0)
                    UNION ALL
                    (SELECT id, profile_low_id, profile_high_id, status FROM {table}
                     WHERE profile_high_id = t.id OFFSET 0)
                ) c
                """,  # noqa: S608
                chunk,
            )
        else:
            low, low_params = _in("profile_low_id", chunk)
            high, high_params = _in("profile_high_id", chunk)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT id, profile_low_id, profile_high_id, status FROM {table} "  # noqa: S608
                    f"WHERE {low} OR {high}",
                    [*low_params, *high_params],
                )
                rows = cursor.fetchall()
        for pk, low_id, high_id, status in rows:
            out[(low_id, high_id)] = Known(pk=pk, status=status)
    return out


@dataclass(frozen=True, slots=True)
class Scored:
    """A pair's score to store as an open candidate."""

    low: int
    high: int
    score: float
    features: dict[str, float]


def candidates_write(rows: Sequence[Scored], now: datetime) -> tuple[dict[Pair, int], int]:
    """Insert or re-score open candidate pairs in one statement per 1,000.

    A pair decided meanwhile keeps its row as it is (the upsert only touches open rows).
    Returns the ids of the rows written by pair, and how many of them are new.
    """
    table = _table(DuplicateCandidate)
    upsert = f"""
        ON CONFLICT (profile_low_id, profile_high_id) DO UPDATE
        SET score = excluded.score, features = excluded.features, scored_at = excluded.scored_at
        WHERE {table}.status = 'open'
        RETURNING id, profile_low_id, profile_high_id, found_at = %s
    """  # noqa: S608
    columns = "(profile_low_id, profile_high_id, score, features, status, found_at, scored_at)"
    written: dict[Pair, int] = {}
    new = 0
    stamp = connection.ops.adapt_datetimefield_value(now)  # raw SQL: as the ORM stores it
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 1_000):
            part = rows[start : start + 1_000]
            features = [json.dumps(row.features) for row in part]
            if _postgres():
                sql = f"""
                    INSERT INTO {table} {columns}
                    SELECT l, h, s, f::jsonb, 'open', %s, %s
                    FROM unnest(%s::bigint[], %s::bigint[], %s::float8[], %s::text[])
                        AS v(l, h, s, f)
                    {upsert}
                """  # noqa: S608
                params: list[Any] = [stamp, stamp, [r.low for r in part], [r.high for r in part]]
                params += [[r.score for r in part], features, stamp]
            else:
                values = ", ".join(["(%s, %s, %s, %s, 'open', %s, %s)"] * len(part))
                sql = f"INSERT INTO {table} {columns} VALUES {values} {upsert}"  # noqa: S608
                params = [
                    value
                    for row, text in zip(part, features, strict=True)
                    for value in (row.low, row.high, row.score, text, stamp, stamp)
                ]
                params.append(stamp)
            cursor.execute(sql, params)
            for pk, low, high, inserted in cursor.fetchall():
                written[(low, high)] = pk
                new += bool(inserted)
    return written, new
