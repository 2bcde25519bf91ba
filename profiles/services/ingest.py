"""The one way in: validate -> normalise -> resolve identity -> upsert with provenance -> events.

Every channel (the /v1 API, forms, imports, CRM sync, admin) calls `ingest_messages` with a
batch. The batch is handled as a set: a handful of queries whatever its size, valid
messages kept, invalid ones reported, and one message never half-written.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from profiles.errors import InvalidMessage
from profiles.models import Event, FieldProvenance, Identity, Profile, ProfileAudit, Source
from profiles.services.messages import (
    KIND_PRIORITY,
    PROFILE_FIELDS,
    Key,
    Message,
    Prepared,
    message_prepare,
)

_RANK = {kind: rank for rank, kind in enumerate(KIND_PRIORITY)}


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


@dataclass
class _NewProfile:
    """A profile this batch will create; negative ids stand for it until it is inserted."""

    temp_id: int
    lifecycle: str


def _key_lock_ids(keys: Iterable[Key]) -> list[int]:
    ids = set()
    for kind, namespace, value in keys:
        digest = hashlib.blake2b(f"{kind}\x00{namespace}\x00{value}".encode(), digest_size=8)
        ids.add(int.from_bytes(digest.digest(), "big", signed=True))
    return sorted(ids)


def _lock_new_keys(keys: Iterable[Key]) -> None:
    """Serialise creators of the same new identifiers (PostgreSQL; SQLite has one writer)."""
    if connection.vendor != "postgresql":
        return
    lock_ids = _key_lock_ids(keys)
    if not lock_ids:
        return
    with connection.cursor() as cursor:
        # Sorted, so two batches sharing identifiers always lock in the same order.
        cursor.execute(
            "SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k ORDER BY k",
            [lock_ids],
        )


def _owners(keys: set[Key]) -> dict[Key, int]:
    """Which active profile owns each identifier (following merged tombstones)."""
    if not keys:
        return {}
    grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
    for kind, namespace, value in keys:
        grouped[(kind, namespace)].append(value)
    condition = Q()
    for (kind, namespace), values in grouped.items():
        condition |= Q(kind=kind, namespace=namespace, value__in=values)
    rows = Identity.objects.filter(condition).values_list(
        "kind", "namespace", "value", "profile_id", "profile__status", "profile__merged_into_id"
    )
    owners = {}
    for kind, namespace, value, profile_id, status, merged_into in rows:
        owners[(kind, namespace, value)] = (
            merged_into if status == Profile.Status.MERGED and merged_into else profile_id
        )
    return owners


class _Resolver:
    """Assigns each prepared message a profile, deterministically, in batch order."""

    def __init__(self, owners: dict[Key, int], user_ids: dict[int, str], anonymous: set[int]):
        self.owners = owners
        self.user_ids = user_ids  # profile id -> its user id
        self.anonymous = anonymous  # profiles known only by anonymous ids
        self.new_profiles: dict[int, _NewProfile] = {}
        self.new_identities: dict[Key, int] = {}
        self.stitches: dict[int, int] = {}  # absorbed anonymous profile -> survivor
        self._temp = itertools.count(-1, -1)

    def _survivor(self, profile_id: int) -> int:
        while profile_id in self.stitches:
            profile_id = self.stitches[profile_id]
        return profile_id

    def _owner(self, key: Key) -> int | None:
        owner = self.owners.get(key)
        return None if owner is None else self._survivor(owner)

    def resolve(self, item: Prepared) -> int:
        keys = sorted(item.keys, key=lambda key: _RANK[key[0]])
        user_id = next((key[2] for key in keys if key[0] == Identity.Kind.USER_ID), "")
        profile_id: int | None = None
        for key in keys:
            owner = self._owner(key)
            if owner is None:
                continue
            # Two different user ids never fuse into one profile.
            if user_id and self.user_ids.get(owner, user_id) != user_id:
                continue
            profile_id = owner
            break
        known = any(key[0] != Identity.Kind.ANONYMOUS_ID for key in keys)
        if profile_id is None:
            profile_id = next(self._temp)
            self.new_profiles[profile_id] = _NewProfile(
                temp_id=profile_id,
                lifecycle=Profile.Lifecycle.LEAD if known else Profile.Lifecycle.ANONYMOUS,
            )
            if not known:
                self.anonymous.add(profile_id)
        if known and profile_id in self.anonymous:
            self.anonymous.discard(profile_id)
            if profile_id in self.new_profiles:
                self.new_profiles[profile_id].lifecycle = Profile.Lifecycle.LEAD
        if user_id:
            self.user_ids.setdefault(profile_id, user_id)
        stitch_keys = list(keys)
        if item.alias_of is not None:
            stitch_keys.append(item.alias_of)
        for key in stitch_keys:
            owner = self._owner(key)
            if owner is None:
                if key is not item.alias_of:
                    self.owners[key] = profile_id
                    self.new_identities[key] = profile_id
            elif owner != profile_id and owner in self.anonymous and known:
                # An anonymous visitor identified themself: their history joins the profile.
                self.stitches[owner] = profile_id
                self.anonymous.discard(owner)
        return profile_id


def _prepare_all(
    messages: Sequence[Message], source: Source, now: datetime
) -> tuple[list[Prepared], list[MessageResult | None]]:
    results: list[MessageResult | None] = [None] * len(messages)
    prepared: list[Prepared] = []
    for index, message in enumerate(messages):
        try:
            prepared.append(message_prepare(message=message, index=index, source=source, now=now))
        except InvalidMessage as exc:
            results[index] = MessageResult(
                index=index,
                status="error",
                message_id=str(message.message_id or ""),
                errors=exc.fields or {"message": [str(exc)]},
            )
    return prepared, results


def _drop_duplicates(
    prepared: list[Prepared], source: Source, results: list[MessageResult | None]
) -> list[Prepared]:
    ids = [item.message_id for item in prepared]
    seen = set(
        Event.objects.filter(source=source, message_id__in=ids).values_list("message_id", flat=True)
    )
    fresh = []
    for item in prepared:
        if item.message_id in seen:
            results[item.index] = MessageResult(
                index=item.index, status="duplicate", message_id=item.message_id
            )
        else:
            seen.add(item.message_id)
            fresh.append(item)
    return fresh


def _stitch(absorbed: dict[int, int]) -> None:
    """Move anonymous profiles' identities and events to the profile they turned out to be."""
    for anonymous_id, survivor in sorted(absorbed.items()):
        Identity.objects.filter(profile_id=anonymous_id).update(profile_id=survivor)
        Event.objects.filter(profile_id=anonymous_id).update(profile_id=survivor)
        taken = set(
            FieldProvenance.objects.filter(profile_id=survivor).values_list("field", "source_id")
        )
        for row in FieldProvenance.objects.filter(profile_id=anonymous_id):
            if (row.field, row.source_id) not in taken:
                row.profile_id = survivor
                row.save(update_fields=["profile"])
        FieldProvenance.objects.filter(profile_id=anonymous_id).delete()
        Profile.objects.filter(pk=anonymous_id).update(
            status=Profile.Status.MERGED, merged_into_id=survivor, updated_at=timezone.now()
        )
        ProfileAudit.objects.create(profile_id=anonymous_id, action="stitched", fields=[])


def _winners(rows: Iterable[tuple[int, str, str, datetime, int]]) -> dict[tuple[int, str], str]:
    """Survivorship: the highest trust rank wins, then the most recent, then non-empty."""
    best: dict[tuple[int, str], tuple[int, datetime, str]] = {}
    for profile_id, name, value, observed_at, trust in rows:
        if not value:
            continue
        candidate = (trust, observed_at, value)
        current = best.get((profile_id, name))
        if current is None or candidate[:2] > current[:2]:
            best[(profile_id, name)] = candidate
    return {key: value for key, (_, _, value) in best.items()}


def _apply_fields(assigned: list[tuple[Prepared, int]], source: Source, created: set[int]) -> int:
    """Upsert provenance, recompute survivorship and write changed profile fields."""
    touched = sorted({profile_id for _, profile_id in assigned})
    # Row locks in primary-key order: concurrent batches on the same people never deadlock.
    profiles = {
        profile.pk: profile
        for profile in Profile.objects.select_for_update().filter(pk__in=touched).order_by("pk")
    }
    observations: dict[tuple[int, str], tuple[str, datetime]] = {}
    for item, profile_id in assigned:
        for name, value in item.fields.items():
            current = observations.get((profile_id, name))
            if current is None or item.occurred_at >= current[1]:
                observations[(profile_id, name)] = (value, item.occurred_at)
    existing = {
        (row[0], row[1]): row
        for row in FieldProvenance.objects.filter(
            profile_id__in=touched, source=source
        ).values_list("profile_id", "field", "value", "observed_at")
    }
    upserts = []
    for (profile_id, name), (value, observed_at) in observations.items():
        old = existing.get((profile_id, name))
        if old is not None and (old[3] > observed_at or old[2] == value):
            continue  # an older replay never overwrites a newer observation
        upserts.append(
            FieldProvenance(
                profile_id=profile_id,
                field=name,
                source=source,
                value=value,
                observed_at=observed_at,
            )
        )
    if upserts:
        FieldProvenance.objects.bulk_create(
            upserts,
            update_conflicts=True,
            unique_fields=["profile", "field", "source"],
            update_fields=["value", "observed_at"],
            batch_size=1000,
        )
    winners = _winners(
        FieldProvenance.objects.filter(profile_id__in=touched).values_list(
            "profile_id", "field", "value", "observed_at", "source__trust_rank"
        )
    )
    by_profile: dict[int, list[Prepared]] = defaultdict(list)
    for item, profile_id in assigned:
        by_profile[profile_id].append(item)
    changed_profiles = []
    audits = []
    update_fields: set[str] = set()
    for profile_id, items in by_profile.items():
        profile = profiles[profile_id]
        changed = []
        for name in PROFILE_FIELDS:
            value = winners.get((profile_id, name))
            if value is None:
                continue
            if name == "date_of_birth":
                value = datetime.fromisoformat(value).date()  # type: ignore[assignment]
            if getattr(profile, name) != value:
                setattr(profile, name, value)
                changed.append(name)
        traits = dict(profile.traits)
        for item in sorted(items, key=lambda item: item.occurred_at):
            traits.update(item.traits)
        if traits != profile.traits:
            profile.traits = traits
            changed.append("traits")
        last_seen = max(item.occurred_at for item in items)
        first_seen = min(item.occurred_at for item in items)
        if profile.last_seen_at is None or last_seen > profile.last_seen_at:
            profile.last_seen_at = last_seen
            update_fields.add("last_seen_at")
        if profile.first_seen_at is None or first_seen < profile.first_seen_at:
            profile.first_seen_at = first_seen
            update_fields.add("first_seen_at")
        known = any(key[0] != Identity.Kind.ANONYMOUS_ID for item in items for key in item.keys)
        if known and profile.lifecycle_stage == Profile.Lifecycle.ANONYMOUS:
            profile.lifecycle_stage = Profile.Lifecycle.LEAD
            changed.append("lifecycle_stage")
        update_fields.update(changed)
        changed_profiles.append(profile)
        if changed:
            audits.append(
                ProfileAudit(
                    profile_id=profile_id,
                    action="created" if profile_id in created else "ingested",
                    fields=sorted(changed),
                    source=source,
                )
            )
    if changed_profiles and update_fields:
        for profile in changed_profiles:
            profile.updated_at = timezone.now()
        # An upsert on the primary key: one multi-row statement, far cheaper than
        # bulk_update's CASE WHEN per field and row.
        Profile.objects.bulk_create(
            changed_profiles,
            update_conflicts=True,
            unique_fields=["id"],
            update_fields=sorted(update_fields | {"updated_at"}),
            batch_size=500,
        )
    ProfileAudit.objects.bulk_create(audits, batch_size=1000)
    return sum(1 for audit in audits if audit.action == "ingested")


def _event_for(item: Prepared, profile_id: int, source: Source, now: datetime) -> Event:
    return Event(
        profile_id=profile_id,
        source=source,
        type=item.type,
        name=item.name,
        properties=item.properties,
        context=item.context,
        message_id=item.message_id,
        occurred_at=item.occurred_at,
        received_at=now,
        **item.utm,
    )


@transaction.atomic
def ingest_messages(*, source: Source, messages: Sequence[Message]) -> BatchResult:
    """Store a batch: valid messages land on one profile each, invalid ones are reported."""
    now = timezone.now()
    prepared, results = _prepare_all(messages, source, now)
    prepared = _drop_duplicates(prepared, source, results)
    all_keys = {key for item in prepared for key in item.keys}
    all_keys |= {item.alias_of for item in prepared if item.alias_of is not None}
    owners = _owners(all_keys)
    missing = all_keys - owners.keys()
    if missing:
        _lock_new_keys(missing)
        owners.update(_owners(missing))  # a concurrent batch may have created them meanwhile
    known_profiles = set(owners.values())
    user_ids = dict(
        Identity.objects.filter(
            profile_id__in=known_profiles, kind=Identity.Kind.USER_ID
        ).values_list("profile_id", "value")
    )
    anonymous = set(
        Profile.objects.filter(
            pk__in=known_profiles, lifecycle_stage=Profile.Lifecycle.ANONYMOUS
        ).values_list("pk", flat=True)
    )
    resolver = _Resolver(owners, user_ids, anonymous)
    assigned_temp = [(item, resolver.resolve(item)) for item in prepared]

    new = list(resolver.new_profiles.values())
    created_rows = Profile.objects.bulk_create(
        [Profile(lifecycle_stage=entry.lifecycle) for entry in new], batch_size=1000
    )
    real_id = {entry.temp_id: row.pk for entry, row in zip(new, created_rows, strict=True)}

    def final(profile_id: int) -> int:
        profile_id = resolver._survivor(profile_id)
        return real_id.get(profile_id, profile_id)

    Identity.objects.bulk_create(
        [
            Identity(
                profile_id=final(owner), kind=kind, namespace=namespace, value=value, source=source
            )
            for (kind, namespace, value), owner in resolver.new_identities.items()
        ],
        ignore_conflicts=True,
        batch_size=1000,
    )
    stitches = {
        real_id.get(absorbed, absorbed): final(survivor)
        for absorbed, survivor in resolver.stitches.items()
    }
    _stitch(stitches)
    assigned = [(item, final(profile_id)) for item, profile_id in assigned_temp]
    updated = _apply_fields(assigned, source, set(real_id.values()))
    events = [_event_for(item, profile_id, source, now) for item, profile_id in assigned]
    # A replay racing this batch is dropped by the (source, message_id) constraint.
    Event.objects.bulk_create(events, ignore_conflicts=True, batch_size=1000)
    for item, profile_id in assigned:
        results[item.index] = MessageResult(
            index=item.index, status="ok", message_id=item.message_id, profile_id=profile_id
        )
    return BatchResult(
        results=[result for result in results if result is not None],
        profiles_created=len(created_rows),
        profiles_updated=updated,
        events_created=len(events),
    )
