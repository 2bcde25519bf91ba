"""Deterministic identity resolution of one batch, in memory, in batch order."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

from profiles.models import Identity, Profile
from profiles.services.messages import KIND_PRIORITY, Key, Prepared

_RANK = {kind: rank for rank, kind in enumerate(KIND_PRIORITY)}


@dataclass
class Known:
    """What the database already knows about a batch's identifiers."""

    owners: dict[Key, int] = field(default_factory=dict)  # identifier -> active profile
    user_ids: dict[int, str] = field(default_factory=dict)  # profile id -> its user id
    anonymous: set[int] = field(default_factory=set)  # profiles known only by anonymous ids

    def update(self, other: Known) -> None:
        self.owners.update(other.owners)
        self.user_ids.update(other.user_ids)
        self.anonymous |= other.anonymous


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

    def __init__(self, known: Known) -> None:
        self.owners = known.owners
        self.user_ids = known.user_ids
        self.anonymous = known.anonymous
        self.new_profiles: dict[int, NewProfile] = {}
        self.new_identities: dict[Key, int] = {}
        self.stitches: dict[int, int] = {}  # absorbed anonymous profile -> survivor
        self._temp = itertools.count(-1, -1)

    def survivor(self, profile_id: int) -> int:
        while profile_id in self.stitches:
            profile_id = self.stitches[profile_id]
        return profile_id

    def _owner(self, key: Key) -> int | None:
        owner = self.owners.get(key)
        return None if owner is None else self.survivor(owner)

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
