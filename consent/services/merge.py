"""Profile merges: the ledger's rows follow the person, unchanged in content.

`profiles` calls these inside its merge and undo transactions (profile rows locked there).
A record is only re-pointed: its decision, proof and time stay as they were written.
"""

from __future__ import annotations

from collections.abc import Sequence

from consent.models import ConsentRecord


def consent_records_move(*, from_profile_id: int, to_profile_id: int) -> list[int]:
    """Re-point every ledger row of one profile at another; return the ids moved."""
    ids = list(
        ConsentRecord.objects.filter(profile_id=from_profile_id)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if ids:
        ConsentRecord.objects.filter(pk__in=ids).update(profile_id=to_profile_id)
    return ids


def consent_records_restore(*, record_ids: Sequence[int], to_profile_id: int) -> int:
    """Put exactly these ledger rows back on a profile; return how many were re-pointed."""
    if not record_ids:
        return 0
    return ConsentRecord.objects.filter(pk__in=list(record_ids)).update(profile_id=to_profile_id)
