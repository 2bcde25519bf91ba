"""Stewards' actions on data-quality issues."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from profiles.models import DataQualityIssue, Profile, ProfileAudit
from profiles.services.quality.config import quality_config
from profiles.services.quality.score import profiles_score


@transaction.atomic
def quality_issues_resolve(*, issue_ids: Sequence[int], actor_id: int | None = None) -> int:
    """Mark open issues resolved by a steward, audit it, and rescore their profiles."""
    issues = DataQualityIssue.objects.filter(pk__in=list(issue_ids), resolved_at__isnull=True)
    rows = list(issues.order_by("pk").values_list("pk", "profile_id", "field"))
    if not rows:
        return 0
    DataQualityIssue.objects.filter(pk__in=[pk for pk, _, _ in rows]).update(
        resolved_at=timezone.now()
    )
    fields: dict[int, set[str]] = {}
    for _, profile_id, name in rows:
        fields.setdefault(profile_id, set()).add(name)
    ProfileAudit.objects.bulk_create(
        [
            ProfileAudit(
                profile_id=profile_id,
                action="issues_resolved",
                fields=sorted(names),
                actor_id=actor_id,
            )
            for profile_id, names in sorted(fields.items())
        ]
    )
    profiles_score(
        profile_ids=sorted(Profile.objects.filter(pk__in=fields).values_list("pk", flat=True)),
        weights=quality_config().weights,
    )
    return len(rows)
