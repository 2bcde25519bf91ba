"""Import files hold personal data: deleted after the retention, and on a person's erasure."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from collection.models import ImportJob
from collection.tasks import import_files_expire_task
from consent.services import person_erase
from profiles.models import Profile
from tests.collection.test_imports import LEADS, run_to_end, upload, write_csv

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media_in_tmp(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def trade_show(make_source: Any) -> Any:
    source, _ = make_source("Salon 2026", kind="trade_show", default_phone_region="FR")
    return source


def _job(source: Any, tmp_path: Path, name: str, rows: list[list[str]]) -> ImportJob:
    header = ["Email", "Prénom", "Téléphone", "Stand"]
    return run_to_end(upload(source, write_csv(tmp_path, [header, *rows], name=name), LEADS))


def _on_disk(job: ImportJob) -> list[bool]:
    return [Path(job.file.path).exists(), Path(job.error_report.path).exists()]


def test_files_of_jobs_finished_before_the_retention_are_deleted_and_the_job_stays(
    trade_show: Any, tmp_path: Path, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.CDP_IMPORT_FILE_RETENTION_DAYS = 30
    old = _job(trade_show, tmp_path, "old.csv", [["ada@example.org", "Ada", "", ""], ["bad@"]])
    recent = _job(trade_show, tmp_path, "new.csv", [["bo@example.org", "Bo", "", ""], ["x@"]])
    ImportJob.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(days=31))
    ImportJob.objects.filter(pk=recent.pk).update(finished_at=timezone.now() - timedelta(days=29))
    old_paths = [Path(old.file.path), Path(old.error_report.path)]
    assert _on_disk(old) == [True, True]

    with django_capture_on_commit_callbacks(execute=True):
        expired = import_files_expire_task()

    assert expired == 1
    assert [path.exists() for path in old_paths] == [False, False]
    old.refresh_from_db()
    assert (old.file.name, old.error_report.name, old.status) == ("", "", "done")
    assert (old.processed_rows, old.error_rows, old.profiles_created) == (2, 1, 1)
    recent.refresh_from_db()
    assert _on_disk(recent) == [True, True]
    with django_capture_on_commit_callbacks(execute=True):
        assert import_files_expire_task() == 0


def test_erasing_a_person_deletes_the_files_of_the_imports_that_brought_them(
    trade_show: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    theirs = _job(trade_show, tmp_path, "a.csv", [["ada@example.org", "Ada", "", ""], ["bad@"]])
    other = _job(trade_show, tmp_path, "b.csv", [["bo@example.org", "Bo", "", ""], ["x@"]])
    theirs_paths = [Path(theirs.file.path), Path(theirs.error_report.path)]
    ada = Profile.objects.get(email="ada@example.org")

    with django_capture_on_commit_callbacks(execute=True):
        person_erase(profile_ids=[ada.pk])

    assert [path.exists() for path in theirs_paths] == [False, False]
    theirs.refresh_from_db()
    assert (theirs.file.name, theirs.error_report.name, theirs.processed_rows) == ("", "", 2)
    other.refresh_from_db()
    assert _on_disk(other) == [True, True]
