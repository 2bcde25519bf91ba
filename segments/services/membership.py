"""Membership: set-based refreshes (full and incremental) and static lists.

A refresh computes the new member set in SQL and applies the difference with two
statements (INSERT ... SELECT for entries, UPDATE ... WHERE for exits), then appends one
"Segment Entered" / "Segment Exited" event per change, also as INSERT ... SELECT. Each
segment is refreshed in its own transaction holding a row lock on the segment, so a full
and an incremental refresh of the same segment never interleave. The incremental refresh
of a few profiles does all of it in one message on PostgreSQL (`incremental.py`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.db import connection, models, transaction
from django.db.models import Case, Count, Exists, F, Min, OuterRef, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Coalesce, Concat
from django.utils import timezone
from django.utils.translation import gettext

from core.prepared import PreparedLost
from core.statistics import statistics_refresh
from profiles.models import Profile
from profiles.services.events import (
    rows_insert_from,
    system_events_append,
    system_events_append_sql,
    system_source_get,
)
from segments.compiler import compile_node, compile_rule, scanned_models
from segments.errors import SegmentKindError, SegmentNotFound
from segments.models import Membership, Segment, SegmentSize
from segments.rules import Node, rule_parse, segment_references
from segments.services.incremental import (
    Assumed,
    one_statement_possible,
    refresh_one_statement,
)

logger = logging.getLogger(__name__)

SYSTEM_SOURCE_SLUG = "cdp-segments"
SYSTEM_SOURCE_NAME = "CDP segments"
ENTERED, EXITED = "Segment Entered", "Segment Exited"
CHUNK = 5000
# An incremental refresh's own transaction commits without waiting for its WAL flush
# (PostgreSQL `synchronous_commit = off`, only when no outer transaction is open):
# memberships are derived data, so a server crash can lose at most the last fraction of
# a second of incremental changes, with their events, all or nothing; the next full
# refresh puts them back. The wait for the disk was most of a one-profile refresh's time.
DURABLE_INCREMENTAL = False


@dataclass(frozen=True)
class RefreshResult:
    segment_id: int
    size: int
    entered: int
    exited: int
    seconds: float


def _active() -> QuerySet[Profile]:
    return Profile.objects.filter(status=Profile.Status.ACTIVE)


def _current(segment_id: int) -> QuerySet[Membership]:
    return Membership.objects.filter(segment_id=segment_id, exited_at__isnull=True)


def _events(*, segment: Segment, name: str, rows: QuerySet[Membership]) -> int:
    prefix = "segment-entered-" if name == ENTERED else "segment-exited-"
    return system_events_append(
        source_slug=SYSTEM_SOURCE_SLUG,
        source_name=SYSTEM_SOURCE_NAME,
        name=name,
        properties={"segment_id": segment.pk, "segment_name": segment.name},
        rows=rows.annotate(
            _message_id=Concat(Value(prefix), Cast("id", output_field=models.CharField()))
        ),
        message_id_field="_message_id",
    )


def _stays_events(*, segment: Segment, name: str, at: Any) -> int:
    """The events of the stays this refresh began (ENTERED) or ended (EXITED) at `at` (a
    database value), as precompiled SQL: the path of a one-profile refresh."""
    prefix, column, current = (
        ("segment-entered-", "entered_at", " AND exited_at IS NULL")
        if name == ENTERED
        else ("segment-exited-", "exited_at", "")
    )
    table = connection.ops.quote_name(Membership._meta.db_table)
    return system_events_append_sql(
        source_slug=SYSTEM_SOURCE_SLUG,
        source_name=SYSTEM_SOURCE_NAME,
        name=name,
        properties={"segment_id": segment.pk, "segment_name": segment.name},
        rows_sql=(
            f"SELECT profile_id, '{prefix}' || CAST(id AS VARCHAR(20)) FROM {table} "  # noqa: S608
            f"WHERE segment_id = %s AND {column} = %s{current}"
        ),
        rows_params=(segment.pk, at),
    )


def _write_ids(
    *, segment: Segment, entering: Sequence[int], leaving: Sequence[int], now: datetime
) -> tuple[int, int]:
    """End the current stays of `leaving`, begin stays for `entering` (those not in yet),
    with their events and the member count: raw parameterised SQL, no ORM compilation;
    the same statements as `_exit` / `_enter` (in, out)."""
    quote = connection.ops.quote_name
    table = quote(Membership._meta.db_table)
    at = Membership._meta.get_field("entered_at").get_db_prep_save(now, connection)
    exited = entered = 0
    with connection.cursor() as cursor:
        if leaving:
            marks = ", ".join(["%s"] * len(leaving))
            cursor.execute(
                f"UPDATE {table} SET exited_at = %s WHERE segment_id = %s "  # noqa: S608
                f"AND exited_at IS NULL AND profile_id IN ({marks})",
                [at, segment.pk, *leaving],
            )
            exited = cursor.rowcount
        if entering:
            marks = ", ".join(["%s"] * len(entering))
            profiles = quote(Profile._meta.db_table)
            pk = quote(Profile._meta.pk.column)
            cursor.execute(
                f"INSERT INTO {table} (segment_id, profile_id, entered_at) "  # noqa: S608
                f"SELECT %s, {profiles}.{pk}, %s FROM {profiles} "
                f"WHERE {profiles}.{pk} IN ({marks}) AND NOT EXISTS (SELECT 1 FROM {table} "
                f"_cur WHERE _cur.segment_id = %s AND _cur.exited_at IS NULL "
                f"AND _cur.profile_id = {profiles}.{pk})",
                [segment.pk, at, *entering, segment.pk],
            )
            entered = cursor.rowcount
    if exited:
        _stays_events(segment=segment, name=EXITED, at=at)
    if entered:
        _stays_events(segment=segment, name=ENTERED, at=at)
    if entered or exited:
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {quote(Segment._meta.db_table)} SET member_count = "  # noqa: S608
                f"member_count + %s WHERE {quote(Segment._meta.pk.column)} = %s",
                [entered - exited, segment.pk],
            )
    return entered, exited


def _enter(
    *,
    segment: Segment,
    members: QuerySet[Profile],
    now: datetime,
    chunk: Sequence[int] | None = None,
) -> int:
    """Insert a stay for each of `members` not in the segment yet, with its event.

    `chunk`: the ids `members` is limited to, when one call of a service enters several
    chunks at the same timestamp (each chunk's events only for its own rows)."""
    entering = (
        members.filter(~Exists(_current(segment.pk).filter(profile_id=OuterRef("pk"))))
        .annotate(
            _segment=Value(segment.pk, output_field=models.BigIntegerField()),
            _at=Value(now, output_field=models.DateTimeField()),
        )
        .values_list("_segment", "pk", "_at")
    )
    entered = rows_insert_from(
        model=Membership, fields=("segment", "profile", "entered_at"), rows=entering
    )
    if entered:
        # The rows this refresh inserted carry its exact timestamp: the events follow them.
        rows = _current(segment.pk).filter(entered_at=now)
        if chunk is not None:
            rows = rows.filter(profile_id__in=chunk)
        _events(segment=segment, name=ENTERED, rows=rows)
    return entered


def _exit(
    *,
    segment: Segment,
    leaving: QuerySet[Membership],
    now: datetime,
    chunk: Sequence[int] | None = None,
) -> int:
    """End the given current stays, with their events (`chunk`: as for `_enter`)."""
    exited = leaving.update(exited_at=now)
    if exited:
        rows = Membership.objects.filter(segment_id=segment.pk, exited_at=now)
        if chunk is not None:
            rows = rows.filter(profile_id__in=chunk)
        _events(segment=segment, name=EXITED, rows=rows)
    return exited


def _apply(
    *, segment: Segment, members: QuerySet[Profile], scope: Sequence[int] | None, now: datetime
) -> tuple[int, int]:
    """Make current membership equal `members` (within `scope` ids if given); (in, out)."""
    current = _current(segment.pk)
    if scope is not None:
        current = current.filter(profile_id__in=scope)
        members = members.filter(pk__in=scope)
    exited = _exit(
        segment=segment,
        leaving=current.filter(~Exists(members.filter(pk=OuterRef("profile_id")))),
        now=now,
    )
    return _enter(segment=segment, members=members, now=now), exited


def _locked(segment_id: int) -> Segment:
    segment = Segment.objects.select_for_update().filter(pk=segment_id).first()
    if segment is None:
        raise SegmentNotFound(gettext("No segment with this id."))
    return segment


BACKFILL_POINTS = 24
BACKFILL_DAYS = 365
BACKFILL_SHORTEST = timedelta(hours=1)


def _sizes_backfill(*, segment: Segment, now: datetime) -> int:
    """At a segment's first refresh, its size in the past as far as the data tells it: at
    each of up to BACKFILL_POINTS dates since its oldest member was first seen (at most
    BACKFILL_DAYS back), how many of its members had been seen by then. One query; the
    rows are marked backfilled (an estimate: the rule is read on today's values)."""
    seen = Coalesce("profile__first_seen_at", "profile__created_at")
    members = _current(segment.pk).annotate(seen=seen)
    oldest = members.aggregate(oldest=Min("seen"))["oldest"]
    if oldest is None:
        return 0
    start = max(oldest, now - timedelta(days=BACKFILL_DAYS))
    if now - start < BACKFILL_SHORTEST:
        return 0  # every member is new: there is no past to tell
    step = (now - start) / BACKFILL_POINTS
    dates = [start + step * n for n in range(BACKFILL_POINTS)]
    counts = members.aggregate(
        **{f"at_{n}": Count("pk", filter=Q(seen__lte=at)) for n, at in enumerate(dates)}
    )
    rows = [
        SegmentSize(segment=segment, at=at, size=counts[f"at_{n}"], backfilled=True)
        for n, at in enumerate(dates)
    ]
    SegmentSize.objects.bulk_create(rows)
    return len(rows)


def segment_members_condition(*, segment: Segment, now: datetime | None = None) -> Q:
    """Who should be in a dynamic segment now: its rule over active profiles."""
    return compile_rule(segment.rule, now=now, segment_id=segment.pk)


@contextmanager
def _materialised(members: QuerySet[Profile], *, name: str) -> Iterator[QuerySet[Profile]]:
    """The member set computed once into a temporary table (CREATE TABLE AS may run in
    parallel on PostgreSQL, INSERT ... SELECT may not); the diff then reads the table."""
    sql, params = members.values(_member_id=F("pk")).query.sql_with_params()
    table = connection.ops.quote_name(name)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(f"CREATE TEMPORARY TABLE {table} AS {sql}", params)
        # Planners misjudge freshly changed membership rows; an index keeps every plan cheap.
        cursor.execute(
            f"CREATE INDEX {connection.ops.quote_name(name + '_idx')} ON {table} (_member_id)"
        )
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {table}")  # autovacuum never sees temporary tables
    try:
        yield Profile.objects.filter(pk__in=RawSQL(f"SELECT {table}._member_id FROM {table}", ()))  # noqa: S608, S611
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")


def segment_refresh(*, segment_id: int) -> RefreshResult:
    """Recompute a dynamic segment: entries and exits as sets, events, a size-history row.

    Stale planner statistics are refreshed first, in a transaction of their own (ANALYZE
    holds its table's lock against other ANALYZEs until its transaction ends).
    """
    started = time.monotonic()
    statistics_refresh(models=scanned_models())
    return _refresh(segment_id, started)


@transaction.atomic
def _refresh(segment_id: int, started: float) -> RefreshResult:
    segment = _locked(segment_id)
    if segment.kind != Segment.Kind.DYNAMIC:
        raise SegmentKindError(gettext("Only a dynamic segment is refreshed from its rule."))
    now = timezone.now()
    members = _active().filter(segment_members_condition(segment=segment, now=now))
    with _materialised(members, name=f"segment_refresh_{segment.pk}") as computed:
        entered, exited = _apply(segment=segment, members=computed, scope=None, now=now)
    size = _current(segment.pk).count()
    Segment.objects.filter(pk=segment.pk).update(member_count=size, last_refreshed_at=now)
    if not SegmentSize.objects.filter(segment_id=segment.pk).exists():
        _sizes_backfill(segment=segment, now=now)
    SegmentSize.objects.create(segment=segment, at=now, size=size, entered=entered, exited=exited)
    result = RefreshResult(segment.pk, size, entered, exited, time.monotonic() - started)
    logger.info(
        "segment %s refreshed: %s members, +%s -%s in %.2fs",
        segment.pk,
        size,
        entered,
        exited,
        result.seconds,
    )
    return result


def refresh_order(segments: Iterable[Segment]) -> list[Segment]:
    """Segments a rule refers to come before the rule's own segment (cycles are refused)."""
    by_id = {segment.pk: segment for segment in segments}
    ordered: list[Segment] = []
    placed: set[int] = set()

    def place(segment: Segment, trail: frozenset[int]) -> None:
        if segment.pk in placed or segment.pk in trail:
            return
        for ref in sorted(segment_references(segment.rule)):
            if ref in by_id:
                place(by_id[ref], trail | {segment.pk})
        placed.add(segment.pk)
        ordered.append(segment)

    for segment in sorted(by_id.values(), key=lambda s: s.pk):
        place(segment, frozenset())
    return ordered


_PARSED: dict[tuple[int, str], Node] = {}
_PARSED_MAX = 1000


def _rule_node(segment: Segment) -> Node:
    """A dynamic segment's validated rule, parsed once per process and rule version."""
    key = (segment.pk, json.dumps(segment.rule, sort_keys=True))
    node = _PARSED.get(key)
    if node is None:
        node = rule_parse(segment.rule, segment_id=segment.pk)
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[key] = node
    return node


def _decision_query(
    *, segments: Sequence[Segment], now: datetime
) -> QuerySet[Profile, dict[str, Any]]:
    """Every profile with, per segment, `in_<id>` (a current member) and `should_<id>`.

    A dynamic segment keeps active profiles matching its rule; a static list keeps its
    active members.
    """
    columns: dict[str, Case | Exists] = {}
    for segment in segments:
        current = Exists(_current(segment.pk).filter(profile_id=OuterRef("pk")))
        if segment.kind == Segment.Kind.DYNAMIC:
            should = compile_node(_rule_node(segment), now=now)
        else:
            should = Q(current)
        columns[f"in_{segment.pk}"] = current
        columns[f"should_{segment.pk}"] = Case(
            When(Q(status=Profile.Status.ACTIVE) & should, then=Value(True)),
            default=Value(False),
            output_field=models.BooleanField(),
        )
    return Profile.objects.order_by().annotate(**columns).values("pk", *columns)


@dataclass(frozen=True)
class _Statement:
    """A decision query's SQL (ids still to be appended) compiled once for a clock `now`;
    `moving` marks the parameters computed from `now` (shifted with the clock), the others
    are the rules' own values."""

    sql: str
    params: tuple[Any, ...]
    moving: tuple[bool, ...]
    now: datetime

    def bind(self, now: datetime) -> list[Any]:
        shift = now - self.now
        return [p + shift if m else p for p, m in zip(self.params, self.moving, strict=True)]


_STATEMENTS: dict[tuple[Any, ...], _Statement | None] = {}
_STATEMENTS_MAX = 100


def _statement(*, segments: Sequence[Segment], now: datetime) -> _Statement | None:
    """The decision query compiled once per set of rules and calendar day (the ORM builds
    it in milliseconds; the SELECT itself takes less). None when it cannot be reused.

    Sound as long as the compiler uses its clock only as `now` ± a duration or through
    the calendar day (test_property checks a reuse 5 s later against the evaluator).
    """
    today = timezone.localdate(now) if timezone.is_aware(now) else now.date()
    key = (
        connection.vendor,
        today,
        tuple((s.pk, s.kind, json.dumps(s.rule, sort_keys=True)) for s in segments),
    )
    if key in _STATEMENTS:
        return _STATEMENTS[key]
    # Compiled at two instants of the same day: parameters that differ follow the clock
    # (`now` minus a number of days), those that agree are constants of the rules.
    later = now + timedelta(microseconds=1)
    sql, params = _decision_query(segments=segments, now=now).query.sql_with_params()
    sql_later, params_later = _decision_query(segments=segments, now=later).query.sql_with_params()
    table = connection.ops.quote_name(Profile._meta.db_table)
    moving = tuple(a != b for a, b in zip(params, params_later, strict=True))
    later_day = timezone.localdate(later) if timezone.is_aware(later) else later.date()
    if later_day != today:  # a microsecond before midnight: compile again next call
        return None
    step = later - now
    reusable = (
        sql == sql_later
        and sql.rstrip().endswith(f"FROM {table}")
        and all(
            isinstance(a, datetime) and b - a == step
            for a, b, m in zip(params, params_later, moving, strict=True)
            if m
        )
    )
    statement = _Statement(sql, tuple(params), moving, now) if reusable else None
    if len(_STATEMENTS) >= _STATEMENTS_MAX:
        _STATEMENTS.clear()
    _STATEMENTS[key] = statement
    return statement


def _should_and_current(
    *, segments: Sequence[Segment], ids: Sequence[int], now: datetime
) -> dict[int, tuple[list[int], list[int]]]:
    """For every segment at once (one SELECT): {segment id: (ids entering, ids leaving)}."""
    statement = _statement(segments=segments, now=now)
    names = ["pk"] + [f"{c}_{s.pk}" for s in segments for c in ("in", "should")]
    if statement is None:
        rows = [
            [row[name] for name in names]
            for row in _decision_query(segments=segments, now=now).filter(pk__in=ids)
        ]
    else:
        table = connection.ops.quote_name(Profile._meta.db_table)
        column = connection.ops.quote_name(Profile._meta.pk.column)
        marks = ", ".join(["%s"] * len(ids))
        with connection.cursor() as cursor:
            cursor.execute(
                f"{statement.sql} WHERE {table}.{column} IN ({marks})",
                [*statement.bind(now), *ids],
            )
            rows = cursor.fetchall()
    decided: dict[int, tuple[list[int], list[int]]] = {s.pk: ([], []) for s in segments}
    for row in rows:
        values = dict(zip(names, row, strict=True))
        for segment in segments:
            member, should = values[f"in_{segment.pk}"], values[f"should_{segment.pk}"]
            if should and not member:
                decided[segment.pk][0].append(values["pk"])
            elif member and not should:
                decided[segment.pk][1].append(values["pk"])
    return decided


def segment_refresh_profiles(*, profile_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Re-evaluate every active segment for just these profiles; {segment id: (in, out)}.

    Dynamic segments follow their rule; static lists only lose people no longer active.
    One transaction per chunk of ids holding every active segment's lock (taken in id
    order). Segments whose rule refers to no other segment are decided together in one
    SELECT and written to only when someone enters or leaves; the others follow one by one,
    after the segments they refer to. On PostgreSQL, when no active segment refers to
    another, a chunk is one round trip: the lock and one prepared statement that decides
    and writes (`segments.services.incremental`), built for the segments the last locked
    pass saw and checked against them.
    """
    global _ASSUMED
    ids = sorted({int(pk) for pk in profile_ids})
    changes: dict[int, tuple[int, int]] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        outermost = not connection.in_atomic_block
        done = _refresh_one_statement(chunk, outermost=outermost)
        if done is not None:
            for pk, (entered, exited) in done.items():
                before = changes.get(pk, (0, 0))
                changes[pk] = (before[0] + entered, before[1] + exited)
            continue
        with transaction.atomic():
            if outermost and connection.vendor == "postgresql" and not DURABLE_INCREMENTAL:
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            active = list(Segment.objects.select_for_update().filter(is_active=True).order_by("pk"))
            if not active:
                _ASSUMED = None
                return changes
            now = timezone.now()
            ordered = refresh_order(active)
            together = [s for s in ordered if s.kind == Segment.Kind.STATIC or not _references(s)]
            if len(together) == len(active) and one_statement_possible():
                # The next calls may take the one-statement path: its events need the source.
                system_source_get(slug=SYSTEM_SOURCE_SLUG, name=SYSTEM_SOURCE_NAME)
                _ASSUMED = Assumed(tuple(active))
            else:
                _ASSUMED = None
            decided = _should_and_current(segments=together, ids=chunk, now=now)
            for segment in ordered:
                if segment.pk in decided:
                    entering, leaving = decided[segment.pk]
                    if not entering and not leaving:
                        continue
                    entered, exited = _write_ids(
                        segment=segment, entering=entering, leaving=leaving, now=now
                    )
                else:
                    members = _active().filter(compile_node(_rule_node(segment), now=now))
                    entered, exited = _apply(segment=segment, members=members, scope=chunk, now=now)
                    if entered or exited:
                        Segment.objects.filter(pk=segment.pk).update(
                            member_count=F("member_count") + entered - exited
                        )
                if entered or exited:
                    before = changes.get(segment.pk, (0, 0))
                    changes[segment.pk] = (before[0] + entered, before[1] + exited)
    return changes


# The active segments seen by the last locked refresh: the one-statement path assumes them
# (its statement checks them and writes nothing when they changed).
_ASSUMED: Assumed | None = None


def _refresh_one_statement(
    ids: Sequence[int], *, outermost: bool
) -> dict[int, tuple[int, int]] | None:
    """The refresh of `ids` in one round trip (PostgreSQL, segments that refer to no other
    segment), or None when it cannot be taken (nothing written)."""
    assumed = _ASSUMED
    if assumed is None or not one_statement_possible():
        return None
    now = timezone.now()
    statement = _statement(segments=assumed.segments, now=now)
    if statement is None:
        return None
    run = partial(
        refresh_one_statement,
        assumed=assumed,
        decision_sql=statement.sql,
        decision_params=statement.bind(now),
        ids=ids,
        now=now,
        source_slug=SYSTEM_SOURCE_SLUG,
    )
    for _ in range(2):
        try:
            if outermost and connection.get_autocommit():
                # One message, one implicit transaction: no BEGIN / COMMIT round trips.
                return run(asynchronous_commit=not DURABLE_INCREMENTAL)
            with transaction.atomic():
                return run(asynchronous_commit=False)
        except PreparedLost:
            continue
    return None


def _references(segment: Segment) -> bool:
    return bool(segment.kind == Segment.Kind.DYNAMIC and segment_references(segment.rule))


def segments_refresh_due(*, now: datetime | None = None) -> list[RefreshResult]:
    """Full refresh of every active dynamic segment whose interval has passed, in order."""
    moment = now or timezone.now()
    due = [
        segment
        for segment in Segment.objects.filter(is_active=True, kind=Segment.Kind.DYNAMIC)
        if segment.last_refreshed_at is None
        or (moment - segment.last_refreshed_at).total_seconds()
        >= segment.refresh_every_minutes * 60 - 30  # beat ticks every minute: allow drift
    ]
    return [segment_refresh(segment_id=segment.pk) for segment in refresh_order(due)]


def _static(segment_id: int) -> Segment:
    segment = _locked(segment_id)
    if segment.kind != Segment.Kind.STATIC:
        raise SegmentKindError(
            gettext("Members are added by hand only to a static list."),
            fields={"segment": [gettext("is a dynamic segment; edit its rule instead")]},
        )
    return segment


@transaction.atomic
def segment_members_add(*, segment_id: int, profile_ids: Sequence[int]) -> int:
    """Add active profiles to a static list (already-members and unknown ids are skipped)."""
    segment = _static(segment_id)
    now = timezone.now()
    ids = sorted({int(pk) for pk in profile_ids})
    entered = 0
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        entered += _enter(
            segment=segment, members=_active().filter(pk__in=chunk), now=now, chunk=chunk
        )
    size = _current(segment.pk).count()
    Segment.objects.filter(pk=segment.pk).update(member_count=size, last_refreshed_at=now)
    SegmentSize.objects.create(segment=segment, at=now, size=size, entered=entered, exited=0)
    return entered


@transaction.atomic
def segment_members_remove(*, segment_id: int, profile_ids: Sequence[int]) -> int:
    """Take profiles off a static list (their stay ends; the history is kept)."""
    segment = _static(segment_id)
    now = timezone.now()
    ids = sorted({int(pk) for pk in profile_ids})
    exited = 0
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        leaving = _current(segment.pk).filter(profile_id__in=chunk)
        exited += _exit(segment=segment, leaving=leaving, now=now, chunk=chunk)
    size = _current(segment.pk).count()
    Segment.objects.filter(pk=segment.pk).update(member_count=size, last_refreshed_at=now)
    SegmentSize.objects.create(segment=segment, at=now, size=size, entered=0, exited=exited)
    return exited


def profile_ids_from_identifiers(
    *, identifiers: Iterable[str | int]
) -> tuple[list[int], list[str]]:
    """Profile ids for a list of ids or email addresses (merges followed); and the unknown."""
    from profiles.models import Identity
    from profiles.normalise import email_key, normalise_email

    ids: set[int] = set()
    emails: dict[str, str] = {}
    unknown: list[str] = []
    for raw in identifiers:
        text = str(raw).strip()
        if not text:
            continue
        if text.isdigit():
            ids.add(int(text))
            continue
        normalised = normalise_email(text)
        if normalised.value:
            emails[email_key(normalised.value)] = text
        else:
            unknown.append(text)
    found = dict(
        Identity.objects.filter(kind=Identity.Kind.EMAIL, value__in=list(emails)).values_list(
            "value", "profile_id"
        )
    )
    unknown.extend(text for value, text in emails.items() if value not in found)
    known_ids = set(Profile.objects.filter(pk__in=ids).values_list("pk", flat=True))
    unknown.extend(str(pk) for pk in sorted(ids - known_ids))
    candidates = known_ids | set(found.values())
    # A merged tombstone stands for its survivor.
    survivors = dict(
        Profile.objects.filter(pk__in=candidates, status=Profile.Status.MERGED).values_list(
            "pk", "merged_into_id"
        )
    )
    return sorted({survivors.get(pk, pk) for pk in candidates}), unknown
