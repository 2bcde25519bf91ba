"""What duplicate detection holds about a person, for data-subject export and erasure.

Blocking keys are derived from personal data (a phonetic name code with a postcode, a date
of birth): erasure deletes them with the person's open candidate pairs. Decided pairs keep
only ids, a score and per-field similarities (numbers), so a "not the same person" decision
survives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from consent.registry import PersonData
from profiles.models import DuplicateCandidate, MatchKey


def _pairs(profile_ids: Sequence[int]) -> Q:
    return Q(profile_low_id__in=profile_ids) | Q(profile_high_id__in=profile_ids)


def duplicates_export(profile_ids: Sequence[int]) -> Mapping[str, Any]:
    """The candidate pairs the person is part of, and what was decided."""
    rows = DuplicateCandidate.objects.filter(_pairs(profile_ids)).order_by("pk")
    return {
        "duplicate_candidates": [
            {
                "profiles": [row.profile_low_id, row.profile_high_id],
                "score": row.score,
                "status": row.status,
                "decided_at": row.decided_at.isoformat() if row.decided_at else None,
            }
            for row in rows
        ]
    }


def duplicates_erase(profile_ids: Sequence[int]) -> int:
    """Delete the person's blocking keys and open candidate pairs."""
    keys, _ = MatchKey.objects.filter(profile_id__in=profile_ids).delete()
    pairs, _ = DuplicateCandidate.objects.filter(
        _pairs(profile_ids), status=DuplicateCandidate.Status.OPEN
    ).delete()
    return keys + pairs


DUPLICATES_PERSON_DATA = PersonData(
    app="profiles_duplicates",
    export=duplicates_export,
    erase=duplicates_erase,
    label=_("Duplicates"),
    labels={"duplicate_candidates": _("duplicate candidates")},
)
