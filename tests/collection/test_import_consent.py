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
    columns_propose,
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
    ("raw", "opt_in", "no_withdraws"),
    [
        ("yes", True, True),
        ("YES", True, True),
        ("Oui", True, True),
        ("1", True, True),
        ("True", True, True),
        ("no", None, False),
        ("non", None, False),
        ("0", None, False),
        ("false", None, False),
        ("", None, None),
        ("maybe", None, None),
    ],
)
def test_consent_values_are_read_as_decisions(
    raw: str, opt_in: bool | None, no_withdraws: bool | None
) -> None:
    assert consent_decision(raw) is opt_in
    assert consent_decision(raw, no_withdraws=True) is no_withdraws


def test_an_opt_in_column_records_grants_and_a_no_is_no_consent_given(
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
            ["di@example.org", "non"],
            ["ed@example.org", "no"],
            ["fa@example.org", "false"],
        ],
        COLUMNS,
    )

    job = run(job)

    assert (job.processed_rows, job.error_rows) == (6, 0)
    records = ConsentRecord.objects.select_related("profile").order_by("profile__email")
    assert [(r.profile.email, r.status, r.method) for r in records] == [
        ("ada@example.org", "granted", "import"),
    ]
    assert records[0].proof["row"] == 2  # the file's line numbers: the header is line 1


def test_a_no_withdraws_only_in_a_column_mapped_as_a_withdrawal(
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
        {"Email": "email", "Newsletter": "consent_or_withdrawal.newsletter"},
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
    assert records[1].proof["row"] == 3
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
        "consent: yes/no, oui/non, 1/0 or true/false (or empty)",
        "ada@example.org",
        "perhaps",
    ]


def test_the_preview_shows_the_decision_that_will_be_recorded(
    crm_source: Any, purposes: Any, tmp_path: Path
) -> None:
    job = upload(
        crm_source,
        tmp_path,
        [["Email", "Newsletter"], ["ada@example.org", "No"], ["bo@example.org", "Oui"]],
        {"Email": "email", "Newsletter": "consent_or_withdrawal.newsletter"},
    )
    preview = import_preview(job_id=job.pk)
    assert preview.rows[0].stored == {"Email": "ada@example.org", "Newsletter": "withdrawn"}
    assert preview.rows[1].stored == {"Email": "bo@example.org", "Newsletter": "granted"}
    assert ConsentRecord.objects.count() == 0


def test_one_purpose_takes_one_column_whichever_kind(purposes: Any) -> None:
    errors = columns_errors(
        {"Email": "email", "A": "consent.newsletter", "B": "consent_or_withdrawal.newsletter"}
    )

    assert errors == {"B": ["'consent.newsletter' is already the target of column 'A'"]}


@pytest.mark.parametrize(
    ("header", "target"),
    [
        ("Opt-in newsletter", "consent.newsletter"),
        ("Consent partners (y/n)", "consent.partners"),
        ("Newsletter opt-in", "consent.newsletter"),
        ("Consentement email", "traits.consentement_email"),  # two email purposes: no guess
        ("Newsletter", "traits.newsletter"),  # not consent-looking: a trait
    ],
)
def test_a_consent_looking_header_is_suggested_as_consent(
    crm_source: Any, purposes: Any, header: str, target: str
) -> None:
    proposal = columns_propose(source=crm_source, header=["Email", header], columns={})

    assert proposal == {"Email": "email", header: target}


def test_a_consent_header_names_the_only_purpose_of_its_channel(
    crm_source: Any, purposes: Any
) -> None:
    purposes["partners"].channel = "sms"
    purposes["partners"].save()

    proposal = columns_propose(source=crm_source, header=["Consentement email"], columns={})

    assert proposal == {"Consentement email": "consent.newsletter"}


def test_a_mapping_to_an_unknown_purpose_is_refused(purposes: Any) -> None:
    assert columns_errors({"Email": "email", "Optin": "consent.nope"}) == {
        "Optin": ["'consent.nope': no active consent purpose with the code 'nope'"]
    }
