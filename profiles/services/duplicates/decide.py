"""The steward's decisions on a candidate pair, and the thresholds."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from profiles.errors import CandidateDecided, CandidateNotFound, ProfilesError
from profiles.models import DuplicateCandidate, DuplicateSettings
from profiles.services.duplicates.scan import duplicate_settings_get

MERGE = "merge"
NOT_SAME_PERSON = "not_same_person"
DECISIONS = (MERGE, NOT_SAME_PERSON)


@transaction.atomic
def duplicate_decide(
    *,
    candidate_id: int,
    decision: str,
    actor: Any = None,
    survivor_id: int | None = None,
    reason: str = "",
) -> DuplicateCandidate:
    """Merge the pair (survivor: the given side, else the older) or remember it as two people."""
    if decision not in DECISIONS:
        raise ProfilesError(
            gettext("unknown decision"),
            fields={"decision": [gettext("one of %(value)s") % {"value": ", ".join(DECISIONS)}]},
        )
    try:
        candidate = DuplicateCandidate.objects.select_for_update().get(pk=candidate_id)
    except DuplicateCandidate.DoesNotExist:
        raise CandidateNotFound(
            gettext("no duplicate candidate #%(candidate_id)s") % {"candidate_id": candidate_id}
        ) from None
    if candidate.status != DuplicateCandidate.Status.OPEN:
        raise CandidateDecided(
            gettext("this pair was already decided: %(value)s")
            % {"value": candidate.get_status_display()},
            fields={"decision": [gettext("already decided")]},
        )
    pair = (candidate.profile_low_id, candidate.profile_high_id)
    if decision == MERGE:
        from profiles.services.merge import profile_merge

        survivor = pair[0] if survivor_id is None else survivor_id
        if survivor not in pair:
            raise ProfilesError(
                gettext("the survivor must be one of the pair"),
                fields={
                    "survivor_id": [
                        gettext("one of %(value)s, %(value2)s")
                        % {"value": pair[0], "value2": pair[1]}
                    ]
                },
            )
        absorbed = pair[1] if survivor == pair[0] else pair[0]
        profile_merge(
            survivor_id=survivor,
            absorbed_id=absorbed,
            actor=actor,
            rule="duplicates:steward",
            reason=reason or "probable duplicate confirmed by a steward",
            score=candidate.score,
        )
        candidate.status = DuplicateCandidate.Status.MERGED
    else:
        candidate.status = DuplicateCandidate.Status.NOT_SAME_PERSON
    candidate.decided_by = actor if getattr(actor, "pk", None) else None
    candidate.decided_at = timezone.now()
    candidate.save(update_fields=["status", "decided_by", "decided_at"])
    return candidate


@transaction.atomic
def duplicate_settings_update(
    *,
    review_threshold: float | None = None,
    auto_merge_threshold: float | None = None,
    auto_merge_enabled: bool | None = None,
    max_block_size: int | None = None,
) -> DuplicateSettings:
    """Change the thresholds: 0 < review <= auto-merge <= 1, blocks of at least 2."""
    current = duplicate_settings_get()
    values = {
        "review_threshold": review_threshold,
        "auto_merge_threshold": auto_merge_threshold,
        "auto_merge_enabled": auto_merge_enabled,
        "max_block_size": max_block_size,
    }
    for name, value in values.items():
        if value is not None:
            setattr(current, name, value)
    errors: dict[str, list[str]] = {}
    if not 0 < current.review_threshold <= 1:
        errors["review_threshold"] = [gettext("must be above 0 and at most 1")]
    if not 0 < current.auto_merge_threshold <= 1:
        errors["auto_merge_threshold"] = [gettext("must be above 0 and at most 1")]
    elif current.review_threshold > current.auto_merge_threshold:
        errors["auto_merge_threshold"] = [gettext("must be at least the review threshold")]
    if current.max_block_size < 2:
        errors["max_block_size"] = [gettext("must be at least 2")]
    if errors:
        raise ProfilesError(gettext("invalid duplicate settings"), fields=errors)
    current.save()
    return current
