"""The reports app on an erasure: it holds no personal data, only anonymous counts.

An erasure folds the person's events into anonymous counts and deletes them. Events the
rollup cursor has not read yet would then never reach the daily rollups; they are counted
here, before the owner of people (profiles, which erases last) deletes them, under the
cursor's lock so that a concurrent catch-up counts each event once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db.models import Q

from consent.registry import PersonData
from core.counts import counts_add
from profiles.models import Event
from reports.models import RollupCursor
from reports.services.conversions import conversions_add
from reports.services.messages import messages_erase
from reports.services.rollups import LEDGERS, grouped_rows


def reports_export(profile_ids: Sequence[int]) -> Mapping[str, Any]:
    """Nothing: daily counts name no one."""
    return {}


def reports_erase(profile_ids: Sequence[int]) -> int:
    """Count the person's events the rollup has not read yet (and attribute the
    conversions among them); returns how many."""
    ledger = next(ledger for ledger in LEDGERS if ledger.name == "events")
    cursor = RollupCursor.objects.select_for_update().filter(name=ledger.name).first()
    if cursor is None or cursor.rebuilt_at is None:
        messages_erase(profile_ids=profile_ids, unread=Q(id__gte=0))
        return 0  # the first catch-up counts the whole ledger, folded counts included
    unread = Q(id__gt=cursor.position)
    for low, high, _ in cursor.gaps:
        unread |= Q(id__gte=int(low), id__lte=int(high))
    rows = Event.objects.filter(unread, profile_id__in=profile_ids)
    # Their conversions too, attributed while their touches still exist.
    conversions_add(rows.values_list("id", flat=True))
    # Their message counts move to erased rows, which a rebuild keeps.
    messages_erase(profile_ids=profile_ids, unread=unread)
    return counts_add(
        model=ledger.rollup, keys=("day", *ledger.keys), rows=grouped_rows(ledger, rows)
    )


REPORTS_PERSON_DATA = PersonData(app="reports", export=reports_export, erase=reports_erase)
