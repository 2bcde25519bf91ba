"""What segments hold about a person, for merges, data-subject requests and the 360° page."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext

from profiles.hooks import Panel
from segments.models import Membership, Persona


def memberships_move(*, survivor_id: int, absorbed_id: int) -> Mapping[str, Any]:
    """Merge: the absorbed profile's current stays go to the survivor (or end if doubled)."""
    current = Membership.objects.filter(profile_id=absorbed_id, exited_at__isnull=True)
    doubled = current.filter(
        Exists(
            Membership.objects.filter(
                segment_id=OuterRef("segment_id"), profile_id=survivor_id, exited_at__isnull=True
            )
        )
    )
    closed = list(doubled.values_list("pk", flat=True))
    doubled.update(exited_at=timezone.now())
    moved = list(current.values_list("pk", flat=True))
    current.update(profile_id=survivor_id)
    return {"moved": moved, "closed": closed}


def memberships_restore(*, survivor_id: int, absorbed_id: int, snapshot: Mapping[str, Any]) -> None:
    """Undo of a merge: the moved stays go back; the ended ones are current again."""
    Membership.objects.filter(pk__in=snapshot.get("moved", []), profile_id=survivor_id).update(
        profile_id=absorbed_id
    )
    Membership.objects.filter(pk__in=snapshot.get("closed", []), profile_id=absorbed_id).update(
        exited_at=None
    )


def memberships_export(profile_ids: Sequence[int]) -> Mapping[str, Any]:
    """Data-subject export: every stay in a segment, current or past."""
    rows = (
        Membership.objects.filter(profile_id__in=list(profile_ids))
        .select_related("segment")
        .order_by("entered_at", "pk")
    )
    return {
        "memberships": [
            {
                "segment": row.segment.name,
                "entered_at": row.entered_at.isoformat(),
                "exited_at": row.exited_at.isoformat() if row.exited_at else None,
            }
            for row in rows
        ]
    }


def memberships_erase(profile_ids: Sequence[int]) -> int:
    """Data-subject erasure: the person's stays are deleted (sizes keep only counts)."""
    deleted, _ = Membership.objects.filter(profile_id__in=list(profile_ids)).delete()
    return deleted


def profile_panels(*, profile_id: int) -> list[Panel]:
    """The 360° page's panels: the segments the person is in, and their personas."""
    stays = list(
        Membership.objects.filter(profile_id=profile_id, exited_at__isnull=True)
        .select_related("segment")
        .order_by("segment__name")
    )
    personas = Persona.objects.filter(
        segment_id__in=[stay.segment_id for stay in stays]
    ).select_related("segment")
    return [
        Panel(
            title=gettext("Segments"),
            columns=(gettext("Segment"), gettext("Kind"), gettext("Member since")),
            rows=[
                (stay.segment.name, stay.segment.get_kind_display(), stay.entered_at)
                for stay in stays
            ],
        ),
        Panel(
            title=gettext("Personas"),
            columns=(gettext("Persona"), gettext("Segment"), gettext("Messaging guidance")),
            rows=[(p.name, p.segment.name, p.messaging) for p in personas],
        ),
    ]
