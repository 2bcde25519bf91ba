"""`manage.py cdp_import FILE --source SLUG --mapping MAPPING.json`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from collection.models import ImportJob, ImportMapping, ImportSlice
from profiles.models import Event, Profile
from tests.conftest import current_database_url
from tests.helpers import postgres_only

ROOT = Path(__file__).resolve().parents[2]
LEADS = "Email;Prénom;Stand\r\nada@example.org;Ada;B12\r\nbroken;Bo;C3\r\nbo@example.org;Bo;\r\n"
COLUMNS = {"Email": "email", "Prénom": "first_name", "Stand": "traits.stand"}


@pytest.fixture(autouse=True)
def _media_in_tmp(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def trade_show(make_source: Any) -> Any:
    source, _ = make_source("Salon 2026", kind="trade_show")
    return source


def write(tmp_path: Path, name: str, content: str | dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def cdp_import(*args: Any) -> str:
    out = StringIO()
    call_command("cdp_import", *map(str, args), "--no-progress", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_the_command_imports_a_file_and_prints_a_summary(trade_show: Any, tmp_path: Path) -> None:
    leads = write(tmp_path, "leads.csv", LEADS)
    mapping = write(tmp_path, "mapping.json", COLUMNS)

    output = cdp_import(leads, "--source", "salon-2026", "--mapping", mapping)

    job = ImportJob.objects.get()
    assert output.splitlines() == [
        f"Import #{job.pk} done: 3 rows, 2 profiles created, 0 updated, 0 duplicates, "
        "1 rows with errors.",
        f"Error report: {job.error_report.path}",
    ]
    assert (job.status, job.source, job.original_name) == ("done", trade_show, "leads.csv")
    assert sorted(Profile.objects.values_list("email", flat=True)) == [
        "ada@example.org",
        "bo@example.org",
    ]


@pytest.mark.django_db
def test_the_mapping_file_may_carry_reading_options_and_be_saved(
    trade_show: Any, tmp_path: Path
) -> None:
    leads = write(tmp_path, "leads.csv", LEADS.replace(";", "|"))
    mapping = write(tmp_path, "mapping.json", {"columns": COLUMNS, "options": {"delimiter": "|"}})

    cdp_import(leads, "--source", "salon-2026", "--mapping", mapping, "--save-as", "Badges")

    job = ImportJob.objects.get()
    saved = ImportMapping.objects.get()
    assert (job.status, job.options["delimiter"], job.processed_rows) == ("done", "|", 3)
    assert (saved.name, saved.columns, saved.options, job.mapping) == (
        "Badges",
        COLUMNS,
        {"delimiter": "|"},
        saved,
    )


@pytest.mark.django_db
def test_the_command_run_twice_creates_nothing_new(trade_show: Any, tmp_path: Path) -> None:
    leads = write(tmp_path, "leads.csv", LEADS)
    mapping = write(tmp_path, "mapping.json", COLUMNS)
    cdp_import(leads, "--source", "salon-2026", "--mapping", mapping)

    output = cdp_import(leads, "--source", "salon-2026", "--mapping", mapping)

    assert output.splitlines()[0].endswith(
        "3 rows, 0 profiles created, 0 updated, 2 duplicates, 1 rows with errors."
    )
    assert (Profile.objects.count(), Event.objects.count()) == (2, 2)


@pytest.mark.django_db
def test_a_job_level_failure_stops_the_command_with_its_reason(
    trade_show: Any, tmp_path: Path
) -> None:
    leads = write(tmp_path, "leads.csv", LEADS)
    mapping = write(tmp_path, "mapping.json", {**COLUMNS, "Phone": "phone"})

    with pytest.raises(CommandError) as failure:
        cdp_import(leads, "--source", "salon-2026", "--mapping", mapping)

    job = ImportJob.objects.get()
    assert failure.value.returncode == 1
    assert str(failure.value) == (
        f"Import #{job.pk} failed: Mapped columns missing from the file: 'Phone'. "
        "The file's columns are: 'Email', 'Prénom', 'Stand'."
    )
    assert Profile.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("source", "mapping", "message"),
    [
        ("nope", {"Email": "email"}, "No source with the slug 'nope'."),
        (
            "salon-2026",
            {"Email": "emial"},
            "invalid column mapping: Email: unknown target 'emial'",
        ),
        ("salon-2026", ["Email"], "The mapping file {path} must hold a JSON object."),
    ],
)
def test_bad_arguments_stop_the_command_before_any_job(
    trade_show: Any, tmp_path: Path, source: str, mapping: Any, message: str
) -> None:
    leads = write(tmp_path, "leads.csv", LEADS)
    mapping_path = write(tmp_path, "mapping.json", mapping)

    with pytest.raises(CommandError) as failure:
        cdp_import(leads, "--source", source, "--mapping", mapping_path)

    assert str(failure.value) == message.format(path=mapping_path)
    assert ImportJob.objects.count() == 0


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_command_exits_0_on_success_and_1_on_a_job_level_failure(
    trade_show: Any, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": current_database_url(),
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    leads = write(tmp_path, "leads.csv", LEADS)
    empty = write(tmp_path, "empty.csv", "")
    mapping = write(tmp_path, "mapping.json", COLUMNS)

    def run(path: Path) -> subprocess.CompletedProcess[str]:
        command = ["manage.py", "cdp_import", str(path), "--source", "salon-2026"]
        return subprocess.run(
            [sys.executable, *command, "--mapping", str(mapping)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    done = run(leads)
    failed = run(empty)

    assert done.returncode == 0, done.stderr
    assert "3 rows, 2 profiles created" in done.stdout
    assert "3/3" in done.stderr  # the progress bar
    assert failed.returncode == 1
    assert failed.stderr.strip().endswith("failed: The file is empty.")
    assert Profile.objects.count() == 2


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_workers_import_a_large_files_slices_side_by_side(
    trade_show: Any, tmp_path: Path, settings: Any
) -> None:
    settings.CDP_IMPORT_SLICES, settings.CDP_IMPORT_MIN_SLICE_ROWS = 3, 10
    rows = "".join(f"p{n}@example.org;P{n};S{n % 4}\r\n" for n in range(90))
    path = write(tmp_path, "big.csv", "Email;Prénom;Stand\r\n" + rows + "not an email;X;S1\r\n")
    mapping = write(tmp_path, "mapping.json", COLUMNS)

    out = cdp_import(path, "--source", trade_show.slug, "--mapping", mapping, "--workers", "2")

    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.DONE
    assert (job.processed_rows, job.error_rows, job.profiles_created) == (91, 1, 90)
    assert [part.done_rows for part in ImportSlice.objects.filter(job=job)] == [91, 91, 91]
    assert Profile.objects.count() == 90
    assert "91 rows, 90 profiles created, 0 updated, 0 duplicates, 1 rows with errors" in out
    assert job.error_report


@pytest.mark.django_db
def test_workers_must_be_at_least_one(trade_show: Any, tmp_path: Path) -> None:
    path = write(tmp_path, "leads.csv", LEADS)
    mapping = write(tmp_path, "mapping.json", COLUMNS)

    with pytest.raises(CommandError, match="--workers must be 1 or more"):
        cdp_import(path, "--source", trade_show.slug, "--mapping", mapping, "--workers", "0")
    assert not ImportJob.objects.exists()
