"""Demo data of the collection app: the website's sign-up form and the trade show's workbook.

Runs after `profiles.demo.profiles_demo_load` (which creates the sources); idempotent.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable

from django.core.files.base import ContentFile
from openpyxl import Workbook

from collection.models import Form, ImportJob
from collection.services.forms import form_save
from collection.services.imports import import_job_create, import_run_batch, import_start
from profiles.demo import demo_person
from profiles.models import Source

DEMO_WORKBOOK = "salon-data-2026-day-2.xlsx"


def _demo_import(source: Source, people: int, log: Callable[[str], None]) -> int:
    """The show's second-day badge list as an uploaded workbook, imported like a steward's:
    people the show already knows, with the stand they visited, and two bad rows for the
    job's error report. Once: a job of that file name for the source stays."""
    if ImportJob.objects.filter(source=source, original_name=DEMO_WORKBOOK).exists():
        return 0
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Badges")
    sheet.append(["E-mail", "First name", "Last name", "Stand visited"])
    for n in range(0, people, 8):
        person = demo_person(random.Random(n), n)  # noqa: S311  (emails and names use no draw)
        sheet.append([person["email"], person["first_name"], person["last_name"], "B12"])
    sheet.append(["no-email-given", "Pat", "Doe", "B12"])  # an invalid email
    sheet.append(["", "", "", "C03"])  # no one to attach the visit to
    content = io.BytesIO()
    workbook.save(content)
    job = import_job_create(
        source=source,
        file=ContentFile(content.getvalue(), name=DEMO_WORKBOOK),
        columns={
            "E-mail": "email",
            "First name": "first_name",
            "Last name": "last_name",
            "Stand visited": "traits.stand_visited",
        },
    )
    import_start(job_id=job.pk, run_async=False)
    while import_run_batch(job_id=job.pk).has_more:
        pass
    job.refresh_from_db()
    log(f"Demo import {DEMO_WORKBOOK!r}: {job.processed_rows} rows, {job.error_rows} in its report")
    return job.processed_rows


def collection_demo_load(*, people: int = 200, log: Callable[[str], None] = print) -> int:
    """The newsletter sign-up form and the trade show's imported workbook; rows imported."""
    if not Form.objects.filter(slug="newsletter-signup").exists():
        form_save(
            form=Form(
                name="Newsletter sign-up",
                slug="newsletter-signup",
                source=Source.objects.get(slug="website"),
                fields=[
                    {
                        "name": "email",
                        "label": "Email",
                        "target": "email",
                        "type": "email",
                        "required": True,
                    },
                    {
                        "name": "first_name",
                        "label": "First name",
                        "target": "first_name",
                        "type": "text",
                        "required": False,
                    },
                    {
                        "name": "company",
                        "label": "Company",
                        "target": "company",
                        "type": "text",
                        "required": False,
                    },
                ],
                consent_purposes=["newsletter"],
                thank_you_url="",
            )
        )
    return _demo_import(Source.objects.get(slug="salon-data-2026"), people, log)
