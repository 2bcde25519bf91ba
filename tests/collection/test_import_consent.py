"""Imports' consent columns: decisions go to the ledger with the job, file and row as proof."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from django.core.files import File

from collection.services.imports import (
    columns_errors,
    consent_decision,
    import_job_create,
    import_preview,
    import_run_batch,
    import_start,
)
from consent.models import ConsentRecord
from profiles.models import Profile

pytestmark = pytest.mark.django_db

COLUMNS = {"Email": "email", "Newsletter": "consent.newsletter"}


@pytest.fixture(autouse=True)
def _media_in_tmp(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def crm_source(make_source: Any) -> Any:
    source, _ = make_source("CRM", kind="crm")
    return source


def upload(source: Any, tmp_path: Path, rows: list[list[str]], columns: dict[str, str]) -> Any:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    path = tmp_path / "crm-export.csv"
    path.write_text(buffer.getvalue())
    with path.open("rb") as handle:
        return import_job_create(
            source=source, file=File(handle, name="crm-export.csv"), columns=columns
        )


def run(job: Any) -> Any:
    import_start(job_id=job.pk, run_async=False)
    while import_run_batch(job_id=job.pk).has_more:
        pass
    job.refresh_from_db()
    return job


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("yes", True),
        ("YES", True),
        ("1", True),
        ("True", True),
        ("no", False),
        ("0", False),
        ("false", False),
        ("maybe", None),
        ("", None),
    ],
)
def test_consent_values_are_read_as_decisions(raw: str, expected: bool | None) -> None:
    assert consent_decision(raw) is expected


def test_a_consent_column_records_grants_and_withdrawals_with_import_proof(
    crm_source: Any, purposes: Any, tmp_path: Path
) -> None:
    job = upload(
        crm_source,
        tmp_path,
        [
            ["Email", "Newsletter"],
            ["ada@example.org", "yes"],
            ["bo@example.org", "0"],
            ["cy@example.org", ""],
        ],
        COLUMNS,
    )

    job = run(job)

    assert (job.processed_rows, job.error_rows) == (3, 0)
    records = ConsentRecord.objects.select_related("profile").order_by("profile__email")
    assert [(r.profile.email, r.status, r.method) for r in records] == [
        ("ada@example.org", "granted", "import"),
        ("bo@example.org", "withdrawn", "import"),
    ]
    proof = records[0].proof
    assert (proof["import_job"], proof["file"], proof["row"], proof["channel"]) == (
        job.pk,
        "crm-export.csv",
        2,
        "import",
    )
    assert records[1].proof["row"] == 3  # the file's line numbers: the header is line 1
    assert records[0].source_id == crm_source.pk
    assert Profile.objects.get(email="ada@example.org").traits == {}


def test_a_bad_consent_value_is_a_row_error_and_the_row_writes_nothing(
    crm_source: Any, purposes: Any, tmp_path: Path
) -> None:
    job = upload(
        crm_source,
        tmp_path,
        [["Email", "Newsletter"], ["ada@example.org", "perhaps"], ["bo@example.org", "yes"]],
        COLUMNS,
    )
    job = run(job)
    assert (job.processed_rows, job.error_rows) == (2, 1)
    assert list(Profile.objects.values_list("email", flat=True)) == ["bo@example.org"]
    report = job.error_report.open("rb").read().decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(report)))[1] == [
        "2",
        "Newsletter",
        "consent: yes/no, 1/0 or true/false (or empty)",
        "ada@example.org",
        "perhaps",
    ]


def test_the_preview_shows_the_decision_that_will_be_recorded(
    crm_source: Any, purposes: Any, tmp_path: Path
) -> None:
    job = upload(
        crm_source, tmp_path, [["Email", "Newsletter"], ["ada@example.org", "No"]], COLUMNS
    )
    preview = import_preview(job_id=job.pk)
    assert preview.rows[0].stored == {"Email": "ada@example.org", "Newsletter": "withdrawn"}
    assert ConsentRecord.objects.count() == 0


def test_a_mapping_to_an_unknown_purpose_is_refused(purposes: Any) -> None:
    assert columns_errors({"Email": "email", "Optin": "consent.nope"}) == {
        "Optin": ["'consent.nope': no active consent purpose with the code 'nope'"]
    }
