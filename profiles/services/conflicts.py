"""The steward queue of identity conflicts: merge the two profiles, or dismiss."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from profiles.errors import MergeRefused
from profiles.models import IdentityConflict, ProfileMerge
from profiles.services.merge import profile_merge


def _open_conflict(conflict_id: int) -> IdentityConflict:
    conflict = IdentityConflict.objects.select_for_update().filter(pk=conflict_id).first()
    if conflict is None:
        raise MergeRefused(
            gettext("No conflict #%(conflict_id)s.") % {"conflict_id": conflict_id},
            fields={"conflict_id": [gettext("not found")]},
        )
    if conflict.status != IdentityConflict.Status.OPEN:
        raise MergeRefused(
            gettext("Conflict #%(conflict_id)s is %(status)s already.")
            % {"conflict_id": conflict_id, "status": conflict.status},
            fields={"conflict_id": [f"already {conflict.status}"]},
        )
    return conflict


@transaction.atomic
def identity_conflict_merge(
    *, conflict_id: int, actor: Any = None, reason: str = ""
) -> ProfileMerge:
    """A steward decides the two profiles are one: the identifier's owner survives."""
    conflict = _open_conflict(conflict_id)
    merge = profile_merge(
        survivor_id=conflict.other_profile_id,
        absorbed_id=conflict.profile_id,
        actor=actor,
        reason=reason or f"identity conflict #{conflict.pk} ({conflict.kind})",
    )
    conflict.status = IdentityConflict.Status.MERGED
    conflict.merge = merge
    conflict.resolved_at = timezone.now()
    conflict.resolved_by = actor
    conflict.save(update_fields=["status", "merge", "resolved_at", "resolved_by"])
    return merge


@transaction.atomic
def identity_conflict_dismiss(*, conflict_ids: Iterable[int], actor: Any = None) -> int:
    """A steward decides the profiles are different people; returns how many were open."""
    return IdentityConflict.objects.filter(
        pk__in=list(conflict_ids), status=IdentityConflict.Status.OPEN
    ).update(
        status=IdentityConflict.Status.DISMISSED, resolved_at=timezone.now(), resolved_by=actor
    )
