"""Identity rules: which identifiers may match, in which order, and the steward queue.

As Segment Unify's limits: a priority between kinds (a message lands on the profile of its
best identifier), a maximum per kind on one profile (one user id), and values that never
match (generic mailboxes, test numbers, a value already claimed by many profiles). An
identifier that would fuse two profiles is not attached: it goes to the steward queue
(`IdentityConflict`), and a steward merges or dismisses.

Ingestion reads the rules once per batch from a small in-process cache (refreshed every
`CACHE_SECONDS`, and at once in this process when a rule is saved through a service or the
admin), so matching costs no query per message.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q

from profiles.models import BlockedIdentifier, Identity, IdentityConflict, IdentityRule
from profiles.services.messages import KIND_PRIORITY, Key

CACHE_SECONDS = 10.0
# Without a rule row for a kind: the built-in order, and one user id per profile.
_DEFAULT_MAX: dict[str, int] = {Identity.Kind.USER_ID: 1}

Conflict = tuple[int, int, Key, str]  # profile, the other profile, identifier, reason


def identifier_hash(key: Key) -> str:
    """SHA-256 of an identifier: how the queue and the block list name a value."""
    kind, namespace, value = key
    return hashlib.sha256(f"{kind}\x00{namespace}\x00{value}".encode()).hexdigest()


def identifier_mask(key: Key) -> str:
    """Enough of a value to recognise it, not to read it: `a***@lovelace.org`, `+336****78`."""
    kind, _, value = key
    if kind == Identity.Kind.EMAIL and "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"[:80]
    if len(value) <= 4:
        return "*" * len(value)
    return f"{value[:4]}{'*' * min(len(value) - 6, 20)}{value[-2:]}"


@dataclass
class IdentityRules:
    """The rules as ingestion applies them, loaded once."""

    priority: dict[str, int]
    max_per_profile: dict[str, int]
    shared_limit: dict[str, int]
    patterns: dict[str, list[re.Pattern[str]]] = field(default_factory=dict)
    blocked_hashes: dict[str, set[str]] = field(default_factory=dict)  # by kind
    # Values seen with different names (a switchboard, a household line): a match on one
    # needs the record to name the owner.
    names_required: dict[str, set[str]] = field(default_factory=dict)  # by kind

    def blocked(self, key: Key) -> bool:
        """True if the identifier never matches (nor is attached to a profile)."""
        kind = key[0]
        patterns = self.patterns.get(kind)
        if patterns is not None:
            for pattern in patterns:
                if pattern.search(key[2]):
                    return True
        hashes = self.blocked_hashes.get(kind)
        return hashes is not None and identifier_hash(key) in hashes

    def needs_name(self, key: Key) -> bool:
        """True if a match on the identifier needs the record to name the owner too."""
        hashes = self.names_required.get(key[0])
        return hashes is not None and identifier_hash(key) in hashes

    def rank(self, key: Key) -> int:
        return self.priority.get(key[0], len(KIND_PRIORITY))


def identity_rules_load() -> IdentityRules:
    """Read the rules from the database (two small queries)."""
    priority: dict[str, int] = {kind: rank for rank, kind in enumerate(KIND_PRIORITY)}
    maximum: dict[str, int] = dict(_DEFAULT_MAX)
    shared: dict[str, int] = {}
    for rule in IdentityRule.objects.all():
        priority[rule.kind] = rule.priority
        if rule.max_per_profile is None:
            maximum.pop(rule.kind, None)
        else:
            maximum[rule.kind] = rule.max_per_profile
        if rule.shared_limit is not None:
            shared[rule.kind] = rule.shared_limit
    rules = IdentityRules(priority=priority, max_per_profile=maximum, shared_limit=shared)
    for kind, pattern, value_hash, reason in BlockedIdentifier.objects.filter(
        is_active=True
    ).values_list("kind", "pattern", "value_hash", "reason"):
        if value_hash and reason == BlockedIdentifier.Reason.NAMES:
            rules.names_required.setdefault(kind, set()).add(value_hash)
            continue
        if value_hash:
            rules.blocked_hashes.setdefault(kind, set()).add(value_hash)
            continue
        try:
            rules.patterns.setdefault(kind, []).append(re.compile(pattern))
        except re.error:
            continue  # the admin form refuses such a pattern; an old row is skipped
    return rules


_cache: tuple[float, IdentityRules] | None = None


def identity_rules_current() -> IdentityRules:
    """The rules, from the in-process cache (at most CACHE_SECONDS old)."""
    global _cache
    now = time.monotonic()
    if _cache is None or now - _cache[0] > CACHE_SECONDS:
        _cache = (now, identity_rules_load())
    return _cache[1]


def identity_rules_invalidate() -> None:
    """Forget the cached rules: the next batch reads them again (after a rule changes)."""
    global _cache
    _cache = None


@transaction.atomic
def identity_conflicts_record(*, conflicts: Iterable[Conflict]) -> None:
    """Queue conflicts for a steward (once per pair and value); block values now too shared.

    A value claimed by more distinct profiles than its kind's `shared_limit` is added to
    the block list: it never matches again.
    """
    rows = {}
    for profile_id, other_id, key, reason in conflicts:
        if profile_id == other_id:
            continue
        value_hash = identifier_hash(key)
        rows[(profile_id, other_id, key[0], value_hash)] = IdentityConflict(
            profile_id=profile_id,
            other_profile_id=other_id,
            kind=key[0],
            value_hash=value_hash,
            value_masked=identifier_mask(key),
            reason=reason,
        )
    if not rows:
        return
    IdentityConflict.objects.bulk_create(list(rows.values()), ignore_conflicts=True)
    limits = identity_rules_current().shared_limit
    hashes = {(kind, value_hash) for _, _, kind, value_hash in rows if kind in limits}
    if hashes:
        _block_shared(hashes, limits)


def identifiers_shared_record(*, keys: Iterable[Key]) -> None:
    """Flag values seen with different people's names: from now on a match needs a name.

    The steward sees them in the block list (reason "names") and may deactivate one.
    """
    rows = {
        identifier_hash(key): BlockedIdentifier(
            kind=key[0],
            value_hash=identifier_hash(key),
            reason=BlockedIdentifier.Reason.NAMES,
            note=f"{identifier_mask(key)}: seen with different names"[:200],
        )
        for key in keys
    }
    if rows:
        BlockedIdentifier.objects.bulk_create(list(rows.values()), ignore_conflicts=True)
        transaction.on_commit(identity_rules_invalidate)


def _block_shared(hashes: set[tuple[str, str]], limits: dict[str, int]) -> None:
    condition = Q()
    for kind, value_hash in hashes:
        condition |= Q(kind=kind, value_hash=value_hash)
    claimants: dict[tuple[str, str], set[int]] = {}
    for kind, value_hash, profile_id, other_id in IdentityConflict.objects.filter(
        condition
    ).values_list("kind", "value_hash", "profile_id", "other_profile_id"):
        claimants.setdefault((kind, value_hash), set()).update((profile_id, other_id))
    shared = [
        BlockedIdentifier(
            kind=kind,
            value_hash=value_hash,
            reason=BlockedIdentifier.Reason.SHARED,
            note=f"Claimed by {len(profiles)} profiles",
        )
        for (kind, value_hash), profiles in claimants.items()
        if len(profiles) > limits[kind]
    ]
    if shared:
        BlockedIdentifier.objects.bulk_create(shared, ignore_conflicts=True)
        transaction.on_commit(identity_rules_invalidate)
