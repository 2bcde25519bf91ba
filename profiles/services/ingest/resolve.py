"""Deterministic identity resolution of one batch, in memory, in batch order.

The identity rules (`profiles.services.identity_rules`) shape it: identifiers are tried in
the rules' priority order, blocked values neither match nor attach, and an identifier that
belongs to another profile, or would pass its kind's maximum on this one, is not attached:
it is queued as a conflict for a steward, and the message lands on its best match.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

from profiles.models import Identity, IdentityConflict, Profile
from profiles.services.identity_rules import Conflict, IdentityRules
from profiles.services.messages import Key, Prepared
from profiles.services.names import Names, names_compare

_OWNED_BY_OTHER = IdentityConflict.Reason.OWNED_BY_OTHER
_DIFFERENT = IdentityConflict.Reason.DIFFERENT_IDENTIFIER
# Kinds several people may share (a switchboard, a household line, a role mailbox the
# block list missed): a match on one must not contradict the names.
NAMED_KINDS = frozenset({Identity.Kind.EMAIL, Identity.Kind.PHONE})


# Kinds whose other value on the owner says nothing of who the message is: user ids have
# `one_user_id`; an external id is a record id of one source (a CRM holding one person under
# two contact ids, a second source's own id), never a second person's.
_NOT_PERSONAL = frozenset(
    {Identity.Kind.USER_ID, Identity.Kind.ANONYMOUS_ID, Identity.Kind.EXTERNAL_ID}
)


def item_names(item: Prepared) -> Names:
    return item.fields.get("first_name", ""), item.fields.get("last_name", "")


@dataclass
class Known:
    """What the database already knows about a batch's identifiers."""

    owners: dict[Key, int] = field(default_factory=dict)  # identifier -> active profile
    user_ids: dict[int, str] = field(default_factory=dict)  # profile id -> its user id
    anonymous: set[int] = field(default_factory=set)  # profiles known only by anonymous ids
    # (profile, kind) -> identifiers held: read only when a rule needs it (see the pipeline)
    counts: dict[tuple[int, str], int] = field(default_factory=dict)
    # profile id -> (first, last): owners of email and phone values of named messages
    names: dict[int, Names] = field(default_factory=dict)

    def update(self, other: Known) -> None:
        self.owners.update(other.owners)
        self.user_ids.update(other.user_ids)
        self.anonymous |= other.anonymous
        self.counts.update(other.counts)
        self.names.update(other.names)


@dataclass
class NewProfile:
    """A profile this batch will create; negative ids stand for it until it is inserted."""

    temp_id: int
    lifecycle: str


def key_lock_ids(keys: Iterable[Key]) -> list[int]:
    """Advisory-lock ids of identifiers, sorted so that lockers always queue in one order."""
    ids = set()
    for kind, namespace, value in keys:
        digest = hashlib.blake2b(f"{kind}\x00{namespace}\x00{value}".encode(), digest_size=8)
        ids.add(int.from_bytes(digest.digest(), "big", signed=True))
    return sorted(ids)


class Resolver:
    """Assigns each prepared message a profile, deterministically, in batch order."""

    def __init__(self, known: Known, rules: IdentityRules) -> None:
        self.owners = known.owners
        self.user_ids = known.user_ids
        self.anonymous = known.anonymous
        self.counts = known.counts
        self.names = known.names
        self.rules = rules
        self.one_user_id = rules.max_per_profile.get(Identity.Kind.USER_ID) == 1
        self.limited = {kind for kind in rules.max_per_profile if kind != Identity.Kind.USER_ID}
        self.conflicts: list[Conflict] = []  # profile, other profile, identifier, reason
        self.new_profiles: dict[int, NewProfile] = {}
        self.new_identities: dict[Key, int] = {}
        self.stitches: dict[int, int] = {}  # absorbed anonymous profile -> survivor
        self.shared: set[Key] = set()  # values this batch saw with different names
        self._temp = itertools.count(-1, -1)

    def survivor(self, profile_id: int) -> int:
        while profile_id in self.stitches:
            profile_id = self.stitches[profile_id]
        return profile_id

    def _owner(self, key: Key) -> int | None:
        owner = self.owners.get(key)
        return None if owner is None else self.survivor(owner)

    def _at_limit(self, profile_id: int, kind: str) -> bool:
        """Does the profile hold its kind's maximum (kinds in `limited`; user ids apart)?"""
        return self.counts.get((profile_id, kind), 0) >= self.rules.max_per_profile[kind]

    def _holds_other(self, owner: int, matched: Key, keys: list[Key]) -> bool:
        """Does the owner hold another value of a kind the message ranks above `matched`?

        Then the lower identifier (a switchboard number, a shared device) does not pull the
        message onto that profile: two colleagues, one with each email, stay two people.
        """
        rank = self.rules.rank(matched)
        for key in keys:
            if self.rules.rank(key) >= rank:
                return False
            kind = key[0]
            if kind in _NOT_PERSONAL:
                continue
            if self._owner(key) != owner and self.counts.get((owner, kind), 0) > 0:
                return True
        return False

    def _named_apart(self, owner: int, key: Key, names: Names) -> bool:
        """Do the names say the message is not the owner of this shared-able value?

        Clearly different names: two people, and the value is flagged as shared. A value
        already flagged needs the message to name the owner.
        """
        verdict = names_compare(names, self.names[owner]) if owner in self.names else None
        if verdict is False:
            self.shared.add(key)
            return True
        return verdict is not True and (key in self.shared or self.rules.needs_name(key))

    def resolve(self, item: Prepared) -> int:  # noqa: C901  (per-message hot path, kept inline)
        rules = self.rules
        names = item_names(item)
        keys = [key for key in item.keys if not rules.blocked(key)]
        if len(keys) > 1:
            keys.sort(key=rules.rank)
        user_id = next((key[2] for key in keys if key[0] == Identity.Kind.USER_ID), "")
        profile_id: int | None = None
        passed: set[int] = set()  # owners passed over: they hold another identifier
        named_apart: set[int] = set()  # owners passed over: another person's names
        for key in keys:
            owner = self._owner(key)
            if owner is None:
                continue
            if key[0] in NAMED_KINDS and self._named_apart(owner, key, names):
                named_apart.add(owner)
                continue
            # Two different user ids never fuse into one profile.
            if self.one_user_id and user_id and self.user_ids.get(owner, user_id) != user_id:
                passed.add(owner)
                continue
            if self._holds_other(owner, key, keys):
                passed.add(owner)
                continue
            profile_id = owner
            break
        # A blocked email still tells us the person is known, not anonymous.
        known = any(key[0] != Identity.Kind.ANONYMOUS_ID for key in item.keys)
        if profile_id is None:
            profile_id = next(self._temp)
            self.new_profiles[profile_id] = NewProfile(
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
        if (names[0] or names[1]) and profile_id not in self.names:
            self.names[profile_id] = names
        stitch_keys = list(keys)
        if item.alias_of is not None and not rules.blocked(item.alias_of):
            stitch_keys.append(item.alias_of)
        for key in stitch_keys:
            owner = self._owner(key)
            if owner is None:
                if key is item.alias_of:
                    continue
                if key[0] in self.limited and self._at_limit(profile_id, key[0]):
                    continue  # the profile holds its kind's maximum: not attached
                self.owners[key] = profile_id
                self.new_identities[key] = profile_id
                self.counts[(profile_id, key[0])] = self.counts.get((profile_id, key[0]), 0) + 1
            elif owner != profile_id and owner in self.anonymous and known:
                # An anonymous visitor identified themself: their history joins the profile.
                self.stitches[owner] = profile_id
                self.anonymous.discard(owner)
            elif owner in named_apart:
                continue  # another person's value: flagged shared, not a steward's pair
            elif (
                owner != profile_id
                and key[0] in NAMED_KINDS
                and self._named_apart(owner, key, names)
            ):
                continue  # the same, for a value the message's better identifier passed by
            elif owner != profile_id and key[0] != Identity.Kind.ANONYMOUS_ID:
                # Two people behind one identifier (a switchboard, a shared mailbox): the
                # identifier stays with its owner and a steward decides.
                reason = _DIFFERENT if owner in passed else _OWNED_BY_OTHER
                self.conflicts.append((profile_id, owner, key, reason))
        return profile_id
