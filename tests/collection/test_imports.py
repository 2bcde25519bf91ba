"""CSV and Excel imports: reading, mapping, preview, the run and its job-level failures."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.core.files import File
from django.core.files.base import ContentFile
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from openpyxl import Workbook

from collection.errors import CollectionError
from collection.models import ImportJob, ImportMapping
from collection.services.imports import (
    ImportJobFailed,
    columns_errors,
    columns_propose,
    import_job_configure,
    import_job_create,
    import_mapping_save,
    import_preview,
    import_run_batch,
    import_start,
    target_suggest,
)
from collection.services.imports.reading import ReadOptions, detect_delimiter, open_table
from profiles.models import Event, FieldProvenance, Identity, Profile

pytestmark = pytest.mark.django_db

LEADS = {"Email": "email", "Prénom": "first_name", "Téléphone": "phone", "Stand": "traits.stand"}


@pytest.fixture(autouse=True)
def _media_in_tmp(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def trade_show(make_source: Any) -> Any:
    source, _ = make_source("Salon 2026", kind="trade_show", default_phone_region="FR")
    return source


def write_csv(
    tmp_path: Path,
    rows: list[list[str]],
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
    name: str = "leads.csv",
) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    path = tmp_path / name
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def upload(
    source: Any, path: Path, columns: dict[str, str] | None = None, **options: str
) -> ImportJob:
    with path.open("rb") as handle:
        return import_job_create(
            source=source, file=File(handle, name=path.name), columns=columns, options=options
        )


def run_to_end(job: ImportJob) -> ImportJob:
    job = import_start(job_id=job.pk, run_async=False)
    while import_run_batch(job_id=job.pk).has_more:
        pass
    job.refresh_from_db()
    return job


def counters(job: ImportJob) -> tuple[str, int | None, int, int, int, int, int]:
    return (
        job.status,
        job.total_rows,
        job.processed_rows,
        job.error_rows,
        job.duplicate_rows,
        job.profiles_created,
        job.profiles_updated,
    )


def report_rows(job: ImportJob) -> list[list[str]]:
    with job.error_report.open("rb") as report:
        return list(csv.reader(io.StringIO(report.read().decode("utf-8-sig"))))


def nothing_written() -> tuple[int, int, int, int]:
    return (
        Profile.objects.count(),
        Identity.objects.count(),
        Event.objects.count(),
        FieldProvenance.objects.count(),
    )


# --- Reading and mapping -------------------------------------------------------------------


def test_a_semicolon_csv_maps_columns_to_profile_fields_and_traits(
    trade_show: Any, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path,
        [
            ["Email", "Prénom", "Téléphone", "Stand", "Notes"],
            [" Ada@Example.ORG ", "ADA", "06 12 34 56 78", "B12", "skip me"],
            ["bo@example.org", "bo", "", "C3", ""],
        ],
        delimiter=";",
    )
    job = upload(trade_show, path, {**LEADS, "Notes": ""})

    job = run_to_end(job)

    assert counters(job) == ("done", 2, 2, 0, 0, 2, 0)
    assert job.options == {"format": "csv", "encoding": "utf-8", "delimiter": ";"}
    assert job.started_at is not None
    assert job.finished_at is not None
    assert not job.error_report
    assert list(
        Profile.objects.order_by("email").values_list("email", "first_name", "phone", "traits")
    ) == [
        ("ada@example.org", "Ada", "+33612345678", {"stand": "B12"}),
        ("bo@example.org", "Bo", "", {"stand": "C3"}),
    ]
    assert list(Event.objects.order_by("id").values_list("type", "source__slug")) == [
        ("import", "salon-2026"),
        ("import", "salon-2026"),
    ]
    assert Event.objects.order_by("id").first().properties == {"import_job_id": job.pk, "row": 2}


def test_a_comma_csv_saved_as_utf8_with_a_byte_order_mark_is_read(
    trade_show: Any, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path,
        [["Email", "Prénom"], ["zoe@example.org", "Zoé"]],
        encoding="utf-8-sig",
    )
    job = upload(trade_show, path, {"Email": "email", "Prénom": "first_name"})

    job = run_to_end(job)

    assert counters(job) == ("done", 1, 1, 0, 0, 1, 0)
    assert job.options == {"format": "csv", "encoding": "utf-8-sig", "delimiter": ","}
    assert list(Profile.objects.values_list("email", "first_name")) == [("zoe@example.org", "Zoé")]


def test_a_windows_1252_csv_is_read(trade_show: Any, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        [["Courriel", "Prénom", "Société"], ["heloise@example.org", "Héloïse", "Crème & Cie"]],
        delimiter=";",
        encoding="cp1252",
    )
    job = upload(
        trade_show, path, {"Courriel": "email", "Prénom": "first_name", "Société": "company"}
    )

    job = run_to_end(job)

    assert counters(job) == ("done", 1, 1, 0, 0, 1, 0)
    assert job.options["encoding"] == "cp1252"
    assert list(Profile.objects.values_list("first_name", "company")) == [
        ("Héloïse", "Crème & Cie")
    ]


def test_the_first_sheet_of_an_xlsx_workbook_is_imported(crm: Any, tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["CRM id", "E-mail", "Last name", "Birthday", "Score"])
    sheet.append([1001, "ADA@example.org", "lovelace", date(1815, 12, 10), 42])
    sheet.append([None, None, None, None, None])
    sheet.append([1002, "grace@example.org", "Hopper", date(1906, 12, 9), 7.5])
    workbook.create_sheet("Ignored").append(["Email"])
    path = tmp_path / "crm.xlsx"
    workbook.save(path)
    columns = {
        "CRM id": "external_id",
        "E-mail": "email",
        "Last name": "last_name",
        "Birthday": "traits.birthday_",
        "Score": "traits.score",
    }
    job = upload(crm, path, columns)

    job = run_to_end(job)

    assert counters(job) == ("done", 2, 2, 0, 0, 2, 0)
    # The runs read the sheet's rows as CSV text, stored when the job started.
    assert job.options == {"format": "csv", "encoding": "utf-8", "delimiter": ","}
    assert (job.original_name, Path(job.file.name).suffix) == ("crm.xlsx", ".csv")
    assert list(Profile.objects.order_by("email").values_list("email", "last_name", "traits")) == [
        ("ada@example.org", "Lovelace", {"birthday_": "1815-12-10", "score": "42"}),
        ("grace@example.org", "Hopper", {"birthday_": "1906-12-09", "score": "7.5"}),
    ]
    assert set(Identity.objects.filter(kind="external_id").values_list("namespace", "value")) == {
        ("crm-export", "1001"),
        ("crm-export", "1002"),
    }


def test_an_xlsx_date_column_fills_the_date_of_birth(crm: Any, tmp_path: Path) -> None:
    workbook = Workbook()
    workbook.active.append(["Email", "Date of birth"])
    workbook.active.append(["ada@example.org", date(1990, 2, 28)])
    path = tmp_path / "crm.xlsx"
    workbook.save(path)
    job = upload(crm, path, {"Email": "email", "Date of birth": "date_of_birth"})

    run_to_end(job)

    assert Profile.objects.get().date_of_birth == date(1990, 2, 28)


def _workbook(tmp_path: Path, rows: list[list[Any]]) -> Path:
    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    path = tmp_path / "salon.xlsx"
    workbook.save(path)
    return path


def test_a_workbook_started_is_kept_as_csv_with_its_row_numbers(
    crm: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    rows: list[list[Any]] = [["Email", "Note"], ["ada@example.org", "line one\nline two"]]
    rows += [[None, None], ["not an email", 'a "quoted" note'], ["bob@example.org", 3.0]]
    job = upload(crm, _workbook(tmp_path, rows), {"Email": "email", "Note": "traits.note"})
    uploaded = job.file.name
    storage = job.file.storage

    with django_capture_on_commit_callbacks(execute=True):
        job = import_start(job_id=job.pk, run_async=False)

    assert not storage.exists(uploaded)  # the workbook went once the start committed
    assert storage.exists(job.file.name)
    while import_run_batch(job_id=job.pk).has_more:
        pass
    job.refresh_from_db()
    assert counters(job) == ("done", 3, 3, 1, 0, 2, 0)
    assert {row[0] for row in report_rows(job)[1:]} == {"4"}  # the sheet's row 4
    notes = {profile.email: profile.traits["note"] for profile in Profile.objects.all()}
    assert notes == {"ada@example.org": "line one line two", "bob@example.org": "3"}


def test_a_workbook_that_cannot_start_keeps_the_uploaded_file_and_leaves_no_csv(
    crm: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    job = upload(crm, _workbook(tmp_path, [["Email"]]), {"Email": "email"})
    storage = job.file.storage
    before = set(storage.listdir(str(Path(job.file.name).parent))[1])

    with django_capture_on_commit_callbacks(execute=True):
        job = import_start(job_id=job.pk, run_async=False)

    assert (job.status, job.message) == ("failed", "The file has a header row but no data rows.")
    assert set(storage.listdir(str(Path(job.file.name).parent))[1]) == before
    assert job.file.name.endswith(".xlsx")


@pytest.mark.parametrize(
    ("header", "target"),
    [
        ("Email", "email"),
        ("E-mail", "email"),
        ("Courriel", "email"),
        ("Adresse e-mail", "email"),
        ("Phone", "phone"),
        ("Tel", "phone"),
        ("Mobile", "phone"),
        ("Téléphone", "phone"),
        ("First name", "first_name"),
        ("Prénom", "first_name"),
        ("Nom", "last_name"),
        ("Last Name", "last_name"),
        ("Société", "company"),
        ("Code postal", "postcode"),
        ("Pays", "country"),
        ("CRM ID", "external_id"),
        ("Full name", "name"),
        ("Stand visited", "traits.stand_visited"),
        ("Zip", "postcode"),
    ],
)
def test_header_names_suggest_targets(header: str, target: str) -> None:
    assert target_suggest(header) == target


def test_a_mapping_saved_for_a_source_is_proposed_for_its_next_file(trade_show: Any) -> None:
    import_mapping_save(
        source=trade_show,
        name="Salon",
        columns={"Adresse pro": "email", "Tel": "traits.office_phone"},
        options={"delimiter": ";"},
    )

    proposal = columns_propose(
        source=trade_show, header=["Adresse pro", "Tel", "Mobile", "Courriel", "Intérêt"]
    )

    assert proposal == {
        "Adresse pro": "email",
        "Tel": "traits.office_phone",
        "Mobile": "phone",
        "Courriel": "traits.courriel",  # email is the saved mapping's already
        "Intérêt": "traits.interet",
    }


def test_saving_a_mapping_under_the_same_name_replaces_it(trade_show: Any, crm: Any) -> None:
    first = import_mapping_save(source=trade_show, name="Leads", columns={"Email": "email"})
    import_mapping_save(source=crm, name="Leads", columns={"Email": "email"})

    second = import_mapping_save(
        source=trade_show,
        name="Leads",
        columns={"Mail": "email", "Tel": ""},
        options={"delimiter": ";", "encoding": "auto"},
    )

    assert second.pk == first.pk
    assert ImportMapping.objects.count() == 2
    second.refresh_from_db()
    assert (second.columns, second.options) == ({"Mail": "email", "Tel": ""}, {"delimiter": ";"})


def test_a_mapping_with_unknown_repeated_or_ambiguous_targets_is_refused() -> None:
    errors = columns_errors(
        {
            "A": "email",
            "B": "emial",
            "C": "email",
            "D": "traits.zip",
            "E": "traits.",
        }
    )

    assert errors == {
        "B": ["unknown target 'emial'"],
        "C": ["'email' is already the target of column 'A'"],
        "D": [
            "'traits.zip' would be read as the profile field postcode; "
            "choose that field or another trait key"
        ],
        "E": ["'traits.': a trait key is 1-100 letters, digits, _ . - or spaces"],
    }


def test_a_mapping_without_an_identifier_is_refused() -> None:
    assert columns_errors({"Name": "name", "Company": "company"}) == {
        "columns": ["map at least one column to email, phone or external_id"]
    }


def test_unknown_reading_options_are_refused(trade_show: Any) -> None:
    with pytest.raises(CollectionError) as refused:
        import_mapping_save(
            source=trade_show,
            name="Odd",
            columns={"Email": "email"},
            options={"delimiter": "#", "encoding": "latin-9"},
        )

    assert refused.value.fields == {
        "delimiter": ["one of , ; | or a tab"],
        "encoding": ["one of utf-8, utf-8-sig, cp1252"],
    }
    assert ImportMapping.objects.count() == 0


def test_configuring_a_job_can_save_its_mapping_for_reuse(trade_show: Any, tmp_path: Path) -> None:
    job = upload(trade_show, write_csv(tmp_path, [["Mail"], ["a@example.org"]]))

    job = import_job_configure(
        job_id=job.pk, columns={"Mail": "email"}, options={"delimiter": ","}, save_as="Badges"
    )

    mapping = ImportMapping.objects.get()
    assert (mapping.source, mapping.name, mapping.columns, mapping.options) == (
        trade_show,
        "Badges",
        {"Mail": "email"},
        {"delimiter": ","},
    )
    assert (job.mapping, job.columns, job.options) == (
        mapping,
        {"Mail": "email"},
        {"delimiter": ","},
    )


# --- Preview ---------------------------------------------------------------------------------


def test_the_preview_maps_the_first_rows_reports_their_errors_and_writes_nothing(
    trade_show: Any, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path,
        [
            ["Email", "Prénom", "Téléphone", "Stand"],
            ["ada@example.org", "Ada", "0612345678", "B12"],
            ["not-an-email", "Bo", "", ""],
            ["", "Cy", "12", "C1"],
            ["dee@example.org", "Dee", "", "A1", "stray"],
            ["eve@example.org", "Eve", "", ""],
        ],
    )
    job = upload(trade_show, path, LEADS)

    preview = import_preview(job_id=job.pk, limit=4)

    assert preview.header == ["Email", "Prénom", "Téléphone", "Stand"]
    assert preview.problems == []
    assert preview.options == {"format": "csv", "encoding": "utf-8", "delimiter": ","}
    assert [(row.number, row.values) for row in preview.rows] == [
        (2, ["ada@example.org", "Ada", "0612345678", "B12"]),
        (3, ["not-an-email", "Bo", "", ""]),
        (4, ["", "Cy", "12", "C1"]),
        (5, ["dee@example.org", "Dee", "", "A1"]),
    ]
    assert [row.errors for row in preview.rows] == [
        {},
        {
            "Email": [
                "invalid email: An email address must have an @-sign.",
            ],
            "": ["needs a valid email, phone or external id"],
        },
        {
            "Téléphone": ["invalid phone: not a valid number"],
            "": ["needs a valid email, phone or external id"],
        },
        {"": ["has 5 values but the header has 4 columns"]},
    ]
    assert preview.error_rows == 3
    assert preview.rows[0].stored == {
        "Email": "ada@example.org",
        "Prénom": "Ada",
        "Téléphone": "+33612345678",
        "Stand": "B12",
    }
    job.refresh_from_db()
    assert (job.status, job.options, job.total_rows) == ("uploaded", {}, None)
    assert nothing_written() == (0, 0, 0, 0)


def test_the_preview_reports_missing_columns_as_a_problem(trade_show: Any, tmp_path: Path) -> None:
    job = upload(trade_show, write_csv(tmp_path, [["Mail", "Name"], ["a@example.org", "A"]]))
    import_job_configure(job_id=job.pk, columns={"Email": "email", "Name": "name"})

    preview = import_preview(job_id=job.pk)

    assert preview.problems == [
        "Mapped columns missing from the file: 'Email'. The file's columns are: 'Mail', 'Name'."
    ]


# --- Row errors, duplicates and identity ------------------------------------------------------


def test_invalid_rows_are_reported_with_their_row_numbers_and_valid_rows_are_kept(
    trade_show: Any, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path,
        [
            ["Email", "Prénom", "Téléphone", "Stand"],
            ["ada@example.org", "Ada", "", "B12"],
            ["bad@", "Bo", "", ""],
            [],
            ["cy@example.org", "Cy", "0612345678", ""],
            ["", "Dee", "", "A1"],
            ["eve@example.org", "Eve", "", "", "stray"],
        ],
    )
    job = upload(trade_show, path, LEADS)

    job = run_to_end(job)

    assert counters(job) == ("done", 5, 5, 3, 0, 2, 0)
    assert sorted(Profile.objects.values_list("email", flat=True)) == [
        "ada@example.org",
        "cy@example.org",
    ]
    assert Event.objects.count() == 2
    assert report_rows(job) == [
        ["row", "column", "message", "Email", "Prénom", "Téléphone", "Stand"],
        [
            "3",
            "Email",
            "invalid email: There must be something after the @-sign.",
            "bad@",
            "Bo",
            "",
            "",
        ],
        ["3", "", "needs a valid email, phone or external id", "bad@", "Bo", "", ""],
        ["6", "", "needs a valid email, phone or external id", "", "Dee", "", "A1"],
        [
            "7",
            "",
            "has 5 values but the header has 4 columns",
            "eve@example.org",
            "Eve",
            "",
            "",
        ],
    ]


def test_the_error_report_never_hands_a_spreadsheet_a_formula(
    trade_show: Any, tmp_path: Path
) -> None:
    path = write_csv(tmp_path, [["Email", "=Stand"], ["-bad", '=HYPERLINK("http://x.example")']])
    job = upload(trade_show, path, {"Email": "email", "=Stand": "traits.stand"})

    job = run_to_end(job)

    assert report_rows(job)[0][3:] == ["Email", "'=Stand"]
    assert {tuple(row[3:]) for row in report_rows(job)[1:]} == {
        ("'-bad", '\'=HYPERLINK("http://x.example")')
    }


def test_importing_the_same_file_again_creates_no_profile_nor_event(
    trade_show: Any, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path,
        [
            ["Email", "Prénom", "Téléphone", "Stand"],
            ["ada@example.org", "Ada", "", "B12"],
            ["bo@example.org", "Bo", "0612345678", ""],
            ["nope", "Cy", "", ""],
        ],
    )
    run_to_end(upload(trade_show, path, LEADS))
    before = nothing_written()

    again = run_to_end(upload(trade_show, path, LEADS))

    assert counters(again) == ("done", 3, 3, 1, 2, 0, 0)
    assert nothing_written() == before == (2, 3, 2, 5)


def test_a_repeated_row_in_one_file_is_counted_as_a_duplicate(
    trade_show: Any, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path,
        [["Email", "Prénom"], ["ada@example.org", "Ada"], [" ada@example.org", "Ada "]],
    )

    job = run_to_end(upload(trade_show, path, {"Email": "email", "Prénom": "first_name"}))

    assert counters(job) == ("done", 2, 2, 0, 1, 1, 0)
    assert Event.objects.count() == 1


def test_the_same_person_in_two_rows_and_two_files_is_one_profile(
    trade_show: Any, crm: Any, tmp_path: Path
) -> None:
    first = write_csv(
        tmp_path,
        [
            ["Email", "Prénom", "Stand"],
            ["ada@example.org", "Ada", "B12"],
            ["ADA@example.org", "", "C3"],
        ],
        name="day1.csv",
    )
    second = write_csv(
        tmp_path,
        [["Email", "Company"], ["Ada@Example.org", "Analytical Engines"]],
        delimiter=";",
        name="crm.csv",
    )

    day1 = run_to_end(
        upload(
            trade_show, first, {"Email": "email", "Prénom": "first_name", "Stand": "traits.stand"}
        )
    )
    export = run_to_end(upload(crm, second, {"Email": "email", "Company": "company"}))

    profile = Profile.objects.get()
    assert counters(day1) == ("done", 2, 2, 0, 0, 1, 0)
    assert counters(export) == ("done", 1, 1, 0, 0, 0, 1)
    assert (profile.email, profile.first_name, profile.company, profile.traits) == (
        "ada@example.org",
        "Ada",
        "Analytical Engines",
        {"stand": "C3"},
    )
    assert Event.objects.filter(profile=profile).count() == 3


# --- Job-level failures -------------------------------------------------------------------------


def assert_failed_and_nothing_written(job: ImportJob, message: str) -> None:
    job.refresh_from_db()
    assert (job.status, job.message, job.processed_rows, job.total_rows) == (
        "failed",
        message,
        0,
        None,
    )
    assert job.finished_at is not None
    assert nothing_written() == (0, 0, 0, 0)


def test_an_empty_file_fails_the_job(trade_show: Any, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    job = upload(trade_show, path, {"Email": "email"})

    job = import_start(job_id=job.pk)

    assert_failed_and_nothing_written(job, "The file is empty.")


def test_a_file_with_only_a_header_fails_the_job(trade_show: Any, tmp_path: Path) -> None:
    job = upload(trade_show, write_csv(tmp_path, [["Email"], [], [""]]), {"Email": "email"})

    job = import_start(job_id=job.pk)

    assert_failed_and_nothing_written(job, "The file has a header row but no data rows.")


def test_a_wrong_delimiter_fails_the_job_with_a_hint(trade_show: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path, [["Email", "Prénom"], ["ada@example.org", "Ada"]], delimiter=";")
    job = upload(trade_show, path, {"Email": "email", "Prénom": "first_name"}, delimiter=",")

    job = import_start(job_id=job.pk)

    assert_failed_and_nothing_written(
        job,
        "Mapped columns missing from the file: 'Email', 'Prénom'. "
        "The file's columns are: 'Email;Prénom'. "
        "Only one column was found: is the delimiter right?",
    )


def test_a_missing_mapped_column_fails_the_job(trade_show: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path, [["Email", "Stand"], ["ada@example.org", "B1"]])
    job = upload(trade_show, path, {"Email": "email", "Phone": "phone", "Stand": "traits.stand"})

    job = import_start(job_id=job.pk)

    assert_failed_and_nothing_written(
        job,
        "Mapped columns missing from the file: 'Phone'. The file's columns are: 'Email', 'Stand'.",
    )


def test_an_undecodable_file_fails_the_job(trade_show: Any, tmp_path: Path) -> None:
    path = tmp_path / "binary.csv"
    # Invalid UTF-8, and 0x81 0x8d 0x90 have no character in Windows-1252 either.
    path.write_bytes(b"Email\r\nada@example.org\r\n\x81\x8d\x90@example.org\r\n")
    job = upload(trade_show, path, {"Email": "email"})

    job = import_start(job_id=job.pk)

    assert_failed_and_nothing_written(
        job,
        "The file is not readable text in UTF-8 or Windows-1252 (cp1252); in the spreadsheet, "
        'use "Save as" > "CSV UTF-8" and upload it again.',
    )


def test_a_file_over_the_size_limit_fails_the_job_and_is_not_stored(
    trade_show: Any, tmp_path: Path, settings: Any
) -> None:
    settings.CDP_IMPORT_MAX_BYTES = 1024 * 1024
    path = write_csv(tmp_path, [["Email"], *([["someone@example.org"]] * 60_000)])

    job = upload(trade_show, path, {"Email": "email"})

    assert_failed_and_nothing_written(
        job,
        "The file is 1.2 MB, over the 1.0 MB limit for imports; split it into smaller files.",
    )
    assert not job.file
    assert not (tmp_path / "media").exists()


def test_an_old_excel_file_fails_the_job(trade_show: Any, tmp_path: Path) -> None:
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512)
    job = upload(trade_show, path, {"Email": "email"})

    job = import_start(job_id=job.pk)

    assert_failed_and_nothing_written(
        job, "Excel 97-2003 files (.xls) are not supported; save the sheet as .xlsx or CSV."
    )


def test_a_started_job_cannot_be_started_again(trade_show: Any, tmp_path: Path) -> None:
    job = upload(
        trade_show, write_csv(tmp_path, [["Email"], ["a@example.org"]]), {"Email": "email"}
    )
    import_start(job_id=job.pk, run_async=False)

    with pytest.raises(CollectionError, match="only an uploaded one starts"):
        import_start(job_id=job.pk, run_async=False)


# --- Batches -----------------------------------------------------------------------------------


def test_running_the_same_slice_twice_imports_it_once(trade_show: Any, tmp_path: Path) -> None:
    rows = [[f"p{n}@example.org"] for n in range(5)]
    job = upload(trade_show, write_csv(tmp_path, [["Email"], *rows]), {"Email": "email"})
    import_start(job_id=job.pk, run_async=False)

    first = import_run_batch(job_id=job.pk, start_row=0, max_rows=3)
    again = import_run_batch(job_id=job.pk, start_row=0, max_rows=3)

    job.refresh_from_db()
    assert (first.processed_rows, first.has_more) == (3, True)
    assert (again.processed_rows, again.has_more) == (3, False)
    assert counters(job) == ("running", 5, 3, 0, 0, 3, 0)
    assert Profile.objects.count() == 3


def test_batches_of_500_rows_commit_their_counters_as_they_go(
    trade_show: Any, tmp_path: Path
) -> None:
    # A row whose only identifier is invalid is refused (an invalid phone beside a valid
    # email would be stored, with a data-quality issue).
    rows = [["bad" if n % 100 == 0 else f"p{n}@example.org", ""] for n in range(1_203)]
    path = write_csv(tmp_path, [["Email", "Phone"], *rows])
    job = upload(trade_show, path, {"Email": "email", "Phone": "phone"})
    import_start(job_id=job.pk, run_async=False)

    progress = import_run_batch(job_id=job.pk, max_rows=1_100)

    job.refresh_from_db()
    assert (progress.processed_rows, progress.has_more) == (1_100, True)
    assert counters(job) == ("running", 1_203, 1_100, 11, 0, 1_089, 0)
    # Two messages a refused row: its invalid email, and no identifier left.
    assert len(report_rows(job)) == 1 + 2 * 11


def test_report_lines_left_by_a_crashed_batch_are_dropped_when_the_job_finishes(
    trade_show: Any, tmp_path: Path
) -> None:
    rows = [["a@example.org"], ["bad"], ["c@example.org"], ["worse"]]
    job = upload(trade_show, write_csv(tmp_path, [["Email"], *rows]), {"Email": "email"})
    import_start(job_id=job.pk, run_async=False)
    import_run_batch(job_id=job.pk, max_rows=2)
    job.refresh_from_db()
    written = report_rows(job)
    # A batch that wrote its report lines but crashed before its commit, then retried.
    with job.error_report.open("ab") as report:
        report.write(b'3,Email,"invalid email: An email address must have an @-sign.",bad\r\n')

    import_run_batch(job_id=job.pk)

    job.refresh_from_db()
    assert [row[:2] for row in written] == [["row", "column"], ["3", "Email"], ["3", ""]]
    assert [row[:2] for row in report_rows(job)] == [
        ["row", "column"],
        ["3", "Email"],
        ["3", ""],
        ["5", "Email"],
        ["5", ""],
    ]
    assert counters(job) == ("done", 4, 4, 2, 0, 2, 0)


# --- Properties of the reader ---------------------------------------------------------------------

_cells = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéàüß0123456789@. -", min_size=1, max_size=12)


@hypothesis_settings(
    max_examples=60,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
    width=st.integers(min_value=2, max_value=6),
    data=st.data(),
)
def test_any_table_written_as_csv_reads_back_the_same(
    delimiter: str, encoding: str, width: int, data: Any
) -> None:
    row = st.lists(_cells, min_size=width, max_size=width).filter(lambda r: r[0].strip() != "")
    header = data.draw(row)
    body = data.draw(st.lists(row, min_size=1, max_size=8))
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows([header, *body])
    file = ContentFile(buffer.getvalue().encode(encoding), name="t.csv")

    with open_table(file, ReadOptions(format="csv", encoding=encoding, delimiter=delimiter)) as t:
        read = list(t.rows)

    assert detect_delimiter(buffer.getvalue()) == delimiter
    assert [values for _, values in read] == body
    assert [number for number, _ in read] == list(range(2, len(body) + 2))


# Cells that make a record span lines (quoted CR, LF, CRLF), quotes, and empty cells.
_tricky_cells = st.one_of(_cells, st.sampled_from(["", "a\nb", "x\r\ny", 'say "hi"', "c\rd"]))


@hypothesis_settings(
    max_examples=60,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
    terminator=st.sampled_from(["\r\n", "\n"]),
    data=st.data(),
)
def test_a_table_resumed_where_a_pass_stopped_reads_on_the_same_rows(
    encoding: str, terminator: str, data: Any
) -> None:
    row = st.lists(_tricky_cells, min_size=3, max_size=3)
    header = ["Email", "Name", "City"]
    # [] writes a blank line; every cell is quoted, so a CR or LF in one is data.
    body = data.draw(st.lists(st.one_of(row, st.just([])), min_size=1, max_size=10))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator=terminator, quoting=csv.QUOTE_ALL)
    writer.writerows([header, *body])
    file = ContentFile(buffer.getvalue().encode(encoding), name="t.csv")
    options = ReadOptions(format="csv", encoding=encoding, delimiter=";")
    with open_table(file, options) as table:
        read, points = [], []
        for numbered in table.rows:
            read.append(numbered)
            points.append(table.resume())
    if not read:
        return  # every body row blank
    stop = data.draw(st.integers(min_value=0, max_value=len(read) - 1))

    with open_table(file, options, resume=points[stop]) as table:
        rest = list(table.rows)

    assert rest == read[stop + 1 :]
    assert table.header == header


def test_a_file_whose_lines_end_at_a_bare_cr_is_read_whole_and_not_resumed() -> None:
    file = ContentFile(b"Email;Name\ra@example.org;A\rb@example.org;B\r", name="mac.csv")
    options = ReadOptions(format="csv", encoding="utf-8", delimiter=";")

    with open_table(file, options) as table:
        rows = list(table.rows)
        assert table.resume() is None
    with open_table(file, options, resume=(10, 1)) as table:
        again = list(table.rows)

    assert rows == again == [(2, ["a@example.org", "A"]), (3, ["b@example.org", "B"])]


def test_a_malformed_row_met_after_resuming_is_reported_with_its_row_number() -> None:
    content = b"Email;Name\na@example.org;A\nb@example.org;B\nc@example.org;C\rD\n"
    file = ContentFile(content, name="t.csv")
    options = ReadOptions(format="csv", encoding="utf-8", delimiter=";")
    with open_table(file, options) as table:
        next(table.rows)
        point = table.resume()

    with (
        pytest.raises(ImportJobFailed, match="malformed near row 4"),
        open_table(file, options, resume=point) as table,
    ):
        list(table.rows)


def test_reading_a_file_that_is_not_a_workbook_fails_clearly() -> None:
    file = ContentFile(b"PK\x03\x04 not really a zip", name="broken.xlsx")

    with (
        pytest.raises(ImportJobFailed, match=r"not a readable Excel workbook \(\.xlsx\)"),
        open_table(file, ReadOptions(format="xlsx")),
    ):
        pass


def test_the_360_view_lists_the_imports_a_profile_came_from(
    trade_show: Any, tmp_path: Path
) -> None:
    from profiles.selectors import profile_360

    path = write_csv(tmp_path, [["Email", "Name"], ["ada@example.org", "Ada"]])
    job = run_to_end(upload(trade_show, path, {"Email": "email", "Name": "first_name"}))

    view = profile_360(profile_id=Profile.objects.get().pk)

    assert [imported["id"] for imported in view["imports"]] == [job.pk]
