"""Merge two profiles into one, and undo a merge exactly.

A merge moves the absorbed profile's identities, events, field provenance, consent records
and every registered participant's rows (segments, journeys: `profiles.hooks`) to the
survivor, recomputes the survivor's fields with the pipeline's survivorship, and keeps the
absorbed profile as a tombstone pointing at the survivor. The merge log stores the ids of
every row moved and every value replaced, so undo puts exactly those back.

Events by origin: undo returns the events the merge moved (by id) to the absorbed profile.
Events that arrived after the merge landed on the survivor; an event row does not record
which identifier matched it, so guessing its origin would repeat the risk of a wrong merge:
they stay on the survivor, and the undo's audit row counts them.

Locks: both profile rows, in primary-key order, before anything is read or written (as
ingestion does), and no other profile row: concurrent merges and batches queue instead of
deadlocking. So an older tombstone of the absorbed keeps pointing at it (a chain); its
identities moved with it, so ingestion never needs to follow more than one hop.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

from django.db import transaction
from django.db.models import Field
from django.utils import timezone
from django.utils.translation import gettext

from consent.services import consent_records_move, consent_records_restore
from profiles.errors import (
    MergeAlreadyUndone,
    MergeIdentityLimit,
    MergeIntoTombstone,
    MergeNotFound,
    MergeRefused,
    ProfileNotFound,
    SelfMerge,
    SurvivorMergedSince,
)
from profiles.fields import PROFILE_FIELDS
from profiles.hooks import merge_participants
from profiles.models import (
    DataQualityIssue,
    Event,
    FieldProvenance,
    Identity,
    Profile,
    ProfileAudit,
    ProfileMerge,
)
from profiles.services.identity_rules import identity_rules_current
from profiles.services.ingest.pipeline import profile_field_winners, profile_fields_apply
from profiles.services.ingest.store import ProvenanceRow
from profiles.services.quality.config import quality_config

# A merged profile keeps the furthest stage either profile reached.
_STAGE_RANK: dict[str, int] = {
    Profile.Lifecycle.ANONYMOUS: 0,
    Profile.Lifecycle.LEAD: 1,
    Profile.Lifecycle.PROSPECT: 2,
    Profile.Lifecycle.CUSTOMER: 3,
    Profile.Lifecycle.CHURNED: 3,
}
# Survivorship sets the job function with the job title (`profile_fields_apply`), so both
# are read and written together.
_MERGED_FIELDS = (
    *PROFILE_FIELDS,
    "job_function",
    "traits",
    "first_seen_at",
    "last_seen_at",
    "lifecycle_stage",
)


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def _lock(profile_ids: list[int]) -> dict[int, Profile]:
    # FOR NO KEY UPDATE: as exclusive as ingestion's FOR UPDATE between writers, yet it
    # lets other transactions insert rows pointing at these profiles (their foreign-key
    # checks take KEY SHARE), so such an insert never waits on a merge while holding a lock
    # the merge needs.
    locked = (
        Profile.objects.select_for_update(no_key=True).filter(pk__in=profile_ids).order_by("pk")
    )
    profiles = {profile.pk: profile for profile in locked}
    missing = [pk for pk in profile_ids if pk not in profiles]
    if missing:
        raise ProfileNotFound(
            gettext("No profile #%(value)s.") % {"value": missing[0]},
            fields={"profile_id": [gettext("#%(value)s does not exist") % {"value": missing[0]}]},
        )
    return profiles


def _check_mergeable(profile: Profile, role: str) -> None:
    if profile.status == Profile.Status.MERGED:
        raise MergeIntoTombstone(
            gettext(
                "Profile #%(pk)s was merged into #%(merged_into_id)s; "
                "merge with that profile instead."
            )
            % {"pk": profile.pk, "merged_into_id": profile.merged_into_id},
            fields={
                role: [gettext("#%(pk)s is a merged profile (tombstone)") % {"pk": profile.pk}]
            },
        )
    if profile.status == Profile.Status.ERASED:
        raise MergeRefused(
            gettext("Profile #%(pk)s was erased.") % {"pk": profile.pk},
            fields={role: [gettext("#%(pk)s is erased") % {"pk": profile.pk}]},
        )


def _check_identity_limits(survivor_id: int, absorbed_id: int) -> None:
    limits = identity_rules_current().max_per_profile
    if not limits:
        return
    counts: dict[tuple[int, str], int] = {}
    for profile_id, kind in Identity.objects.filter(
        profile_id__in=[survivor_id, absorbed_id], kind__in=list(limits)
    ).values_list("profile_id", "kind"):
        counts[(profile_id, kind)] = counts.get((profile_id, kind), 0) + 1
    for kind, limit in sorted(limits.items()):
        total = counts.get((survivor_id, kind), 0) + counts.get((absorbed_id, kind), 0)
        if total > limit:
            label = Identity.Kind(kind).label.lower()
            raise MergeIdentityLimit(
                gettext(
                    "Together the profiles have %(total)s identifiers of kind %(label)s; "
                    "a profile may have %(limit)s."
                )
                % {"total": total, "label": label, "limit": limit},
                fields={
                    "absorbed_id": [
                        gettext("at most %(limit)s %(label)s per profile")
                        % {"limit": limit, "label": label}
                    ]
                },
            )


def _move_issues(survivor_id: int, absorbed_id: int) -> list[int]:
    """Data-quality issues follow the person; one the survivor already has stays behind."""
    taken = set(
        DataQualityIssue.objects.filter(profile_id=survivor_id).values_list(
            "field", "code", "source_id"
        )
    )
    moved = [
        pk
        for pk, *key in DataQualityIssue.objects.filter(profile_id=absorbed_id)
        .order_by("pk")
        .values_list("pk", "field", "code", "source_id")
        if tuple(key) not in taken
    ]
    DataQualityIssue.objects.filter(pk__in=moved).update(profile_id=survivor_id)
    return moved


def _move_provenance(survivor_id: int, absorbed_id: int) -> dict[str, Any]:
    """Move the absorbed's provenance; where both have a (field, source), the newer wins.

    The loser of such a pair stays on the tombstone; a survivor row overwritten by a newer
    absorbed value is remembered with its old value.
    """
    taken = {
        (row.field, row.source_id): row
        for row in FieldProvenance.objects.filter(profile_id=survivor_id)
    }
    moved: list[int] = []
    replaced: list[dict[str, Any]] = []
    for row in FieldProvenance.objects.filter(profile_id=absorbed_id).order_by("pk"):
        ours = taken.get((row.field, row.source_id))
        if ours is None:
            moved.append(row.pk)
        elif row.observed_at > ours.observed_at:
            replaced.append(
                {
                    "id": ours.pk,
                    "before": [ours.value, ours.observed_at.isoformat()],
                    "after": [row.value, row.observed_at.isoformat()],
                }
            )
            ours.value, ours.observed_at = row.value, row.observed_at
            ours.save(update_fields=["value", "observed_at"])
    if moved:
        FieldProvenance.objects.filter(pk__in=moved).update(profile_id=survivor_id)
    return {"moved": moved, "replaced": replaced}


def _survivor_fields(survivor: Profile, absorbed: Profile) -> dict[str, list[Any]]:
    """Recompute the survivor's fields from the provenance both now share; before/after."""
    provenance = [
        ProvenanceRow(*row)
        for row in FieldProvenance.objects.filter(profile_id=survivor.pk)
        .order_by("pk")
        .values_list(
            "profile_id", "field", "source_id", "value", "observed_at", "source__trust_rank"
        )
    ]
    state = {name: getattr(survivor, name) for name in _MERGED_FIELDS}
    config = quality_config()
    profile_fields_apply(
        state,
        [],
        profile_field_winners(provenance, config.survivorship).get(survivor.pk, {}),
        config,
    )
    for name in (*PROFILE_FIELDS, "job_function"):
        # Values no source stated (a steward's edit) fill only what the survivor lacks.
        if state[name] in ("", None) and getattr(absorbed, name) not in ("", None):
            state[name] = getattr(absorbed, name)
    state["traits"] = {**absorbed.traits, **state["traits"]}
    seen = [value for value in (state["first_seen_at"], absorbed.first_seen_at) if value]
    state["first_seen_at"] = min(seen) if seen else None
    seen = [value for value in (state["last_seen_at"], absorbed.last_seen_at) if value]
    state["last_seen_at"] = max(seen) if seen else None
    if _STAGE_RANK[absorbed.lifecycle_stage] > _STAGE_RANK[state["lifecycle_stage"]]:
        state["lifecycle_stage"] = absorbed.lifecycle_stage
    changes = {}
    for name in _MERGED_FIELDS:
        before = getattr(survivor, name)
        if state[name] != before:
            changes[name] = [_json(before), _json(state[name])]
            setattr(survivor, name, state[name])
    return changes


def _audit(
    survivor: Profile,
    absorbed: Profile,
    actions: tuple[str, str],
    fields: list[str],
    actor: Any,
    now: datetime,
) -> None:
    """Write both profiles' rows, then both audit rows (the survivor's names its fields)."""
    survivor.updated_at = absorbed.updated_at = now
    survivor.save(update_fields=[*fields, "updated_at"])
    absorbed.save(update_fields=["status", "merged_into", "updated_at"])
    ProfileAudit.objects.bulk_create(
        [
            ProfileAudit(profile_id=survivor.pk, action=actions[0], fields=fields, actor=actor),
            ProfileAudit(profile_id=absorbed.pk, action=actions[1], fields=[], actor=actor),
        ]
    )


@transaction.atomic
def profile_merge(
    *,
    survivor_id: int,
    absorbed_id: int,
    actor: Any = None,
    rule: str = "",
    reason: str = "",
    score: float | None = None,
) -> ProfileMerge:
    """Move everything of the absorbed profile to the survivor; the absorbed stays a tombstone."""
    if survivor_id == absorbed_id:
        raise SelfMerge(
            gettext("A profile cannot be merged into itself."),
            fields={"absorbed_id": [gettext("is the survivor itself")]},
        )
    profiles = _lock(sorted([survivor_id, absorbed_id]))
    survivor, absorbed = profiles[survivor_id], profiles[absorbed_id]
    _check_mergeable(survivor, "survivor_id")
    _check_mergeable(absorbed, "absorbed_id")
    _check_identity_limits(survivor_id, absorbed_id)

    identities = list(
        Identity.objects.filter(profile_id=absorbed_id).order_by("pk").values_list("pk", flat=True)
    )
    Identity.objects.filter(pk__in=identities).update(profile_id=survivor_id)
    events = list(
        Event.objects.filter(profile_id=absorbed_id).order_by("pk").values_list("pk", flat=True)
    )
    Event.objects.filter(pk__in=events).update(profile_id=survivor_id)
    provenance = _move_provenance(survivor_id, absorbed_id)
    issues = _move_issues(survivor_id, absorbed_id)
    consents = consent_records_move(from_profile_id=absorbed_id, to_profile_id=survivor_id)
    participants = {
        participant.app: dict(participant.move(survivor_id=survivor_id, absorbed_id=absorbed_id))
        for participant in merge_participants()
    }

    changes = _survivor_fields(survivor, absorbed)
    absorbed.status = Profile.Status.MERGED
    absorbed.merged_into_id = survivor_id
    _audit(survivor, absorbed, ("merged", "merged_into"), sorted(changes), actor, timezone.now())
    return ProfileMerge.objects.create(
        survivor_id=survivor_id,
        absorbed_id=absorbed_id,
        actor=actor,
        rule=rule,
        reason=reason,
        score=score,
        snapshot={
            "identities": identities,
            "events": events,
            "provenance": provenance,
            "quality_issues": issues,
            "consent_records": consents,
            "survivor_fields": changes,
            "participants": participants,
        },
    )


def _restore_provenance(snapshot: dict[str, Any], survivor_id: int, absorbed_id: int) -> None:
    FieldProvenance.objects.filter(pk__in=snapshot["moved"], profile_id=survivor_id).update(
        profile_id=absorbed_id
    )
    for entry in snapshot["replaced"]:
        # Only if untouched since: a newer observation made after the merge is kept.
        value, observed_at = entry["after"]
        old_value, old_observed_at = entry["before"]
        FieldProvenance.objects.filter(
            pk=entry["id"], value=value, observed_at=datetime.fromisoformat(observed_at)
        ).update(value=old_value, observed_at=datetime.fromisoformat(old_observed_at))


def _restore_survivor_fields(survivor: Profile, changes: dict[str, list[Any]]) -> list[str]:
    """Put back the survivor's values the merge replaced, unless they changed since."""
    restored = []
    for name, (before, after) in changes.items():
        if _json(getattr(survivor, name)) != after:
            continue
        field = cast(Field, Profile._meta.get_field(name))  # one of _MERGED_FIELDS
        setattr(survivor, name, field.to_python(before))
        restored.append(name)
    return restored


@transaction.atomic
def profile_merge_undo(*, merge_id: int, actor: Any = None) -> ProfileMerge:
    """Undo a merge exactly: both profiles, their identities, events, consent and provenance."""
    found = ProfileMerge.objects.filter(pk=merge_id).values_list("survivor_id", "absorbed_id")
    if not found:
        raise MergeNotFound(
            gettext("No merge #%(merge_id)s.") % {"merge_id": merge_id},
            fields={"merge_id": [gettext("does not exist")]},
        )
    survivor_id, absorbed_id = found[0]
    # The profiles first, as merges lock them; then the log row.
    profiles = _lock(sorted([survivor_id, absorbed_id]))
    merge = ProfileMerge.objects.select_for_update().get(pk=merge_id)
    survivor, absorbed = profiles[survivor_id], profiles[absorbed_id]
    if merge.undone_at is not None:
        raise MergeAlreadyUndone(
            gettext("Merge #%(merge_id)s was undone on %(undone_at)s UTC.")
            % {"merge_id": merge_id, "undone_at": format(merge.undone_at, "%Y-%m-%d %H:%M")},
            fields={"merge_id": [gettext("already undone")]},
        )
    if survivor.status == Profile.Status.MERGED:
        raise SurvivorMergedSince(
            gettext(
                "The survivor #%(survivor_id)s was since merged into #%(merged_into_id)s: "
                "undo that merge first."
            )
            % {"survivor_id": survivor_id, "merged_into_id": survivor.merged_into_id},
            fields={
                "merge_id": [
                    gettext("survivor merged into #%(merged_into_id)s since")
                    % {"merged_into_id": survivor.merged_into_id}
                ]
            },
        )
    if survivor.status == Profile.Status.ERASED or absorbed.merged_into_id != survivor_id:
        raise MergeRefused(
            gettext("Profile #%(absorbed_id)s is no longer merged into #%(survivor_id)s.")
            % {"absorbed_id": absorbed_id, "survivor_id": survivor_id},
            fields={"merge_id": [gettext("the profiles changed since the merge")]},
        )

    snapshot = merge.snapshot
    for participant in reversed(merge_participants()):
        if participant.app in snapshot["participants"]:
            participant.restore(
                survivor_id=survivor_id,
                absorbed_id=absorbed_id,
                snapshot=snapshot["participants"][participant.app],
            )
    consent_records_restore(record_ids=snapshot["consent_records"], to_profile_id=absorbed_id)
    _restore_provenance(snapshot["provenance"], survivor_id, absorbed_id)
    DataQualityIssue.objects.filter(
        pk__in=snapshot.get("quality_issues", []), profile_id=survivor_id
    ).update(profile_id=absorbed_id)
    Event.objects.filter(pk__in=snapshot["events"], profile_id=survivor_id).update(
        profile_id=absorbed_id
    )
    Identity.objects.filter(pk__in=snapshot["identities"], profile_id=survivor_id).update(
        profile_id=absorbed_id
    )
    restored = _restore_survivor_fields(survivor, snapshot["survivor_fields"])
    absorbed.status = Profile.Status.ACTIVE
    absorbed.merged_into_id = None
    now = timezone.now()
    _audit(survivor, absorbed, ("merge_undone", "unmerged"), restored, actor, now)
    merge.undone_at = now
    merge.undone_by = actor
    merge.save(update_fields=["undone_at", "undone_by"])
    return merge
