"""Incremental refresh: read the event log by cursor and re-evaluate the people in it.

Ingestion knows nothing of segments; a frequent beat task reads the events appended since
the last run and re-evaluates just their profiles. A lost task only delays the work.
PostgreSQL sequence values are not commit-ordered, so an id below the cursor can become
visible late: the ids missing below the cursor are remembered as gaps and read again on
each run, until they appear or are older than the overlap window (a transaction that
stays open longer than the window would be missed; the periodic full refresh still
catches it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Max, Q

from core.cursor import id_gaps_after
from profiles.models import Event
from segments.models import EventCursor
from segments.services.membership import segment_refresh_profiles

CURSOR = "segments"


@dataclass(frozen=True)
class CatchUp:
    events: int
    profiles: int
    position: int
    gaps: int
    changed: int = 0  # memberships that changed (each with its Segment Entered/Exited event)


@transaction.atomic
def segments_catch_up(*, overlap_seconds: int = 600, max_events: int = 200_000) -> CatchUp:
    """Re-evaluate every segment for the profiles of events not read yet (and late commits).

    The first run starts at the end of the log (the full refresh covers the past).
    Safe to run twice: the cursor row is locked while it is read and moved.
    """
    cursor, created = EventCursor.objects.select_for_update().get_or_create(name=CURSOR)
    if created:
        cursor.position = Event.objects.aggregate(top=Max("id"))["top"] or 0
        cursor.save(update_fields=["position", "updated_at"])
        return CatchUp(0, 0, cursor.position, 0)
    now = time.time()
    upper = cursor.position + max_events
    where = Q(id__gt=cursor.position, id__lte=upper)
    for low, high, _ in cursor.gaps:
        where |= Q(id__gte=int(low), id__lte=int(high))
    rows = list(Event.objects.filter(where).order_by("id").values_list("id", "profile_id"))
    seen = [pk for pk, _ in rows]
    new_position, gaps = id_gaps_after(
        gaps=cursor.gaps, position=cursor.position, seen=seen, now=now, overlap=overlap_seconds
    )
    profile_ids = sorted({profile_id for _, profile_id in rows})
    changes = segment_refresh_profiles(profile_ids=profile_ids)
    cursor.position = new_position
    cursor.gaps = gaps
    cursor.save(update_fields=["position", "gaps", "updated_at"])
    changed = sum(entered + exited for entered, exited in changes.values())
    return CatchUp(len(rows), len(profile_ids), new_position, len(cursor.gaps), changed)
