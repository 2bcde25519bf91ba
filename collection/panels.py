"""What the collection app adds to the 360° view: the imports a person came from."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext

from collection.models import ImportJob
from collection.services.imports.files import import_job_ids_of
from profiles.hooks import Panel


def _jobs(profile_id: int) -> list[ImportJob]:
    ids = import_job_ids_of(profile_ids=[profile_id])
    return list(ImportJob.objects.filter(pk__in=ids).order_by("-id"))


def collection_facts(*, profile_id: int) -> dict[str, Any]:
    """`imports`: the import jobs whose rows landed on this profile, newest first."""
    return {
        "imports": [
            {"id": job.pk, "file": job.original_name, "created_at": job.created_at}
            for job in _jobs(profile_id)
        ]
    }


def collection_panels(*, profile_id: int) -> list[Panel]:
    """The import jobs whose rows landed on this profile, newest first (none: no panel)."""
    jobs = list(
        ImportJob.objects.filter(pk__in=import_job_ids_of(profile_ids=[profile_id])).order_by("-id")
    )
    if not jobs:
        return []
    rows: list[tuple[object, ...]] = [
        (
            format_html(
                '<a href="{}">{}</a>',
                reverse("admin:collection_importjob_change", args=[job.pk]),
                job,
            ),
            job.created_at.date(),
        )
        for job in jobs
    ]
    return [
        Panel(title=gettext("Imports it came from"), columns=("Import job", "Created"), rows=rows)
    ]
