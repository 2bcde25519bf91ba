"""A person's data across every app, through the registry: export and erase."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from consent.registry import person_data_handlers

EXPORT_FORMAT = "cdp.person-export/1"


def person_export(*, profile_ids: Sequence[int]) -> dict[str, Any]:
    """Everything every app holds about these profiles, as plain JSON (apps by name)."""
    data: dict[str, Any] = {"format": EXPORT_FORMAT, "exported_at": timezone.now().isoformat()}
    for handler in person_data_handlers():
        data[handler.app] = handler.export(list(profile_ids)) if profile_ids else {}
    # Dates, decimals and UUIDs become strings: the export is machine-readable JSON.
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def person_records_count(*, profile_ids: Sequence[int]) -> dict[str, dict[str, int]]:
    """Per app and kind of record ("events", "records" ...), how many rows hold the person.

    Read from the same exports an access request gives, so it counts what erasure removes
    or anonymises; kinds with no row are left out.
    """
    counts: dict[str, dict[str, int]] = {}
    for handler in person_data_handlers():
        data = handler.export(list(profile_ids)) if profile_ids else {}
        kinds = {
            kind: len(rows) if isinstance(rows, list | tuple) else 1
            for kind, rows in data.items()
            if rows
        }
        if kinds:
            counts[handler.app] = kinds
    return counts


@transaction.atomic
def person_erase(*, profile_ids: Sequence[int]) -> dict[str, int]:
    """Erase or irreversibly anonymise these profiles in every app; rows touched per app.

    Profile rows stay (blanked, status erased) so that no app's foreign key breaks. The
    owner of people erases last: the other apps may still read who the person is (their
    identities, their events). All of it in the caller's transaction.
    """
    if not profile_ids:
        return {}
    ids = sorted(set(profile_ids))
    handlers = sorted(person_data_handlers(), key=lambda handler: handler.locate is not None)
    return {handler.app: handler.erase(ids) for handler in handlers}
