"""The identity-conflict queue, ranked as the duplicate queue is: each pair scored."""

from __future__ import annotations

from profiles.models import IdentityConflict
from profiles.services.duplicates.matching import pair_score
from profiles.services.duplicates.store import records_read

SCORE_BATCH = 500


def identity_conflicts_score(*, limit: int = SCORE_BATCH) -> int:
    """Score open conflicts not scored yet with the duplicate scorer; how many were scored.

    A conflict whose profile is no longer active (merged, erased) scores 0: it sinks.
    """
    conflicts = list(
        IdentityConflict.objects.filter(
            status=IdentityConflict.Status.OPEN, score__isnull=True
        ).order_by("pk")[:limit]
    )
    if not conflicts:
        return 0
    records = records_read(
        {c.profile_id for c in conflicts} | {c.other_profile_id for c in conflicts}
    )
    for conflict in conflicts:
        a, b = records.get(conflict.profile_id), records.get(conflict.other_profile_id)
        if a is None or b is None:
            conflict.score, conflict.features = 0.0, {}
        else:
            conflict.score, conflict.features = pair_score(a, b)
    IdentityConflict.objects.bulk_update(conflicts, ["score", "features"])
    return len(conflicts)
