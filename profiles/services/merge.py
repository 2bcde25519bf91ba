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
from profiles.services.merge_plan import MERGED_FIELDS, MergePlan, merge_plan_compute, merge_rows
from profiles.services.quality.config import quality_config


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


def _move_provenance(plan: MergePlan, survivor_id: int) -> dict[str, Any]:
    """Move the rows the plan moves; a kept row the plan replaces remembers its old value.

    The rows left behind (the loser of a same-source pair, a value that would take a field
    from the kept profile) stay on the tombstone.
    """
    replaced: list[dict[str, Any]] = []
    for ours, theirs in plan.replaced:
        replaced.append(
            {
                "id": ours.pk,
                "before": [ours.value, ours.observed_at.isoformat()],
                "after": [theirs.value, theirs.observed_at.isoformat()],
            }
        )
        FieldProvenance.objects.filter(pk=ours.pk).update(
            value=theirs.value, observed_at=theirs.observed_at
        )
    if plan.moved:
        FieldProvenance.objects.filter(pk__in=plan.moved).update(profile_id=survivor_id)
    return {"moved": plan.moved, "replaced": replaced}


def _survivor_fields(survivor: Profile, state: dict[str, Any]) -> dict[str, list[Any]]:
    """Set the planned values on the survivor; before/after of each one that changes."""
    changes = {}
    for name in MERGED_FIELDS:
        before = getattr(survivor, name)
        if state[name] != before:
            changes[name] = [_json(before), _json(state[name])]
            setattr(survivor, name, state[name])
    return changes


def merge_preview(*, survivor_id: int, absorbed_id: int) -> MergePlan:
    """What merging `absorbed_id` into `survivor_id` would keep, field by field; writes nothing."""
    if survivor_id == absorbed_id:
        raise SelfMerge(
            gettext("A profile cannot be merged into itself."),
            fields={"absorbed_id": [gettext("is the survivor itself")]},
        )
    profiles = {p.pk: p for p in Profile.objects.filter(pk__in=[survivor_id, absorbed_id])}
    for pk in (survivor_id, absorbed_id):
        if pk not in profiles:
            raise ProfileNotFound(
                gettext("No profile #%(pk)s.") % {"pk": pk},
                fields={"profile_id": [gettext("#%(pk)s does not exist") % {"pk": pk}]},
            )
    plan = _plan(profiles[survivor_id], profiles[absorbed_id])
    _check_identity_limits(survivor_id, absorbed_id)
    return plan


def _plan(survivor: Profile, absorbed: Profile) -> MergePlan:
    _check_mergeable(survivor, "survivor_id")
    _check_mergeable(absorbed, "absorbed_id")
    rows = merge_rows([survivor.pk, absorbed.pk])
    return merge_plan_compute(
        survivor=survivor,
        absorbed=absorbed,
        ours=rows[survivor.pk],
        theirs=rows[absorbed.pk],
        config=quality_config(),
    )


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
    plan = _plan(survivor, absorbed)
    _check_identity_limits(survivor_id, absorbed_id)

    identities = list(
        Identity.objects.filter(profile_id=absorbed_id).order_by("pk").values_list("pk", flat=True)
    )
    Identity.objects.filter(pk__in=identities).update(profile_id=survivor_id)
    events = list(
        Event.objects.filter(profile_id=absorbed_id).order_by("pk").values_list("pk", flat=True)
    )
    Event.objects.filter(pk__in=events).update(profile_id=survivor_id)
    provenance = _move_provenance(plan, survivor_id)
    issues = _move_issues(survivor_id, absorbed_id)
    consents = consent_records_move(from_profile_id=absorbed_id, to_profile_id=survivor_id)
    participants = {
        participant.app: dict(participant.move(survivor_id=survivor_id, absorbed_id=absorbed_id))
        for participant in merge_participants()
    }

    changes = _survivor_fields(survivor, plan.state)
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
        field = cast(Field, Profile._meta.get_field(name))  # one of MERGED_FIELDS
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
