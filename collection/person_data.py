"""What the collection app holds about a person: import files and buffered messages.

Registered in `CollectionConfig.ready()` with the consent app's registry. The person-data
owner (profiles) erases last, so this runs while the person's identities and import events
still exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.utils.translation import gettext_lazy as _

from collection.models import ImportJob
from collection.services.imports.files import import_files_delete, import_job_ids_of
from collection.services.intake import intake_scrub
from consent.registry import PersonData
from profiles.person_data import person_identifier_keys, person_lock


def collection_export(profile_ids: Sequence[int]) -> Mapping[str, Any]:
    """The imports whose rows landed on the person (their files hold those rows)."""
    jobs = ImportJob.objects.filter(pk__in=import_job_ids_of(profile_ids=profile_ids))
    return {
        "import_jobs": [
            {"id": job.pk, "file": job.original_name, "created_at": job.created_at}
            for job in jobs.order_by("pk")
        ]
    }


def collection_erase(profile_ids: Sequence[int]) -> int:
    ids = person_lock(profile_ids)
    # The files of the imports whose rows landed on the person hold those rows (read
    # before their import events are folded away); files go once the erasure commits.
    files = import_files_delete(job_ids=import_job_ids_of(profile_ids=ids))
    # Messages of the person still waiting in the intake buffer go too.
    scrubbed = intake_scrub(keys=person_identifier_keys(ids))
    return files + scrubbed


COLLECTION_PERSON_DATA = PersonData(
    app="collection",
    export=collection_export,
    erase=collection_erase,
    label=_("Collection"),
    labels={"import_jobs": _("imports")},
)
