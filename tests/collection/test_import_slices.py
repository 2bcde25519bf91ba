"""Large imports cut into slices that workers run side by side: same rows, counts and report."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from django.core.files import File
from django.db import connection

from collection.models import ImportJob, ImportSlice
from collection.services.imports import (
    import_files_delete,
    import_job_create,
    import_job_fail,
    import_requeue,
    import_run_batch,
    import_run_slice,
    import_slices,
    import_start,
)
from collection.services.imports.mapping import RowMapper
from collection.tasks import import_run_task
from profiles.models import Event, Identity, Profile
from tests.helpers import in_parallel, postgres_only

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _small_slices(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CDP_IMPORT_SLICES = 2
    settings.CDP_IMPORT_MIN_SLICE_ROWS = 10


def _rows(count: int) -> list[list[str]]:
    """Leads with a bad email every 7th row, a bad shape every 11th and a repeat every 13th."""
    rows = []
    for n in range(count):
        email = f"p{n} at example.org" if n % 7 == 3 else f"p{n}@example.org"
        row = [email, f"Name{n}", "+33612" + f"{n:06d}"]
        if n % 13 == 0:
            row = ["same@example.org", "Same", "+33612999999"]
        if n % 11 == 5:
            row.append("extra")
        rows.append(row)
    return rows


def _job(source: Any, tmp_path: Path, rows: list[list[str]], name: str) -> ImportJob:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([["Email", "First name", "Phone"], *rows])
    path = tmp_path / name
    path.write_text(buffer.getvalue())
    columns = {"Email": "email", "First name": "first_name", "Phone": "phone"}
    with path.open("rb") as handle:
        return import_job_create(source=source, file=File(handle), columns=columns)


def _counts(job: ImportJob) -> tuple[str, int, int, int, int]:
    job.refresh_from_db()
    return (
        job.status,
        job.processed_rows,
        job.error_rows,
        job.duplicate_rows,
        job.profiles_created,
    )


def _report(job: ImportJob) -> bytes:
    job.refresh_from_db()
    with job.error_report.open("rb") as report:
        return report.read()


def test_a_large_job_is_cut_into_slices_and_queues_one_task_each(
    make_source: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    source, _ = make_source("Salon 2026", kind="trade_show")
    job = _job(source, tmp_path, _rows(45), "leads.csv")

    with django_capture_on_commit_callbacks() as callbacks:
        import_start(job_id=job.pk)

    slices = list(job.slices.values_list("number", "start_row", "end_row", "done_rows"))
    # Each slice reads the whole file and imports its own people's rows.
    assert slices == [(0, 0, 45, 0), (1, 0, 45, 0)]
    assert [(c.func, c.keywords) for c in callbacks] == [
        (import_run_task.apply_async, {"kwargs": {"job_id": job.pk, "slice_number": 0}}),
        (import_run_task.apply_async, {"kwargs": {"job_id": job.pk, "slice_number": 1}}),
    ]


def test_by_default_a_job_is_sliced_on_postgresql_only(settings: Any) -> None:
    del settings.CDP_IMPORT_SLICES

    assert import_slices() == {"postgresql": 2, "sqlite": 1}[connection.vendor]


def _unsliced_run(source: Any, tmp_path: Path, rows: list[list[str]], settings: Any) -> ImportJob:
    """The same rows imported as one unsliced job, to the end: the result to compare with."""
    settings.CDP_IMPORT_SLICES = 1
    whole = _job(source, tmp_path, rows, "whole.csv")
    import_start(job_id=whole.pk, run_async=False)
    while import_run_batch(job_id=whole.pk).has_more:
        pass
    return whole


def test_a_small_job_is_one_slice(make_source: Any, tmp_path: Path) -> None:
    source, _ = make_source("Salon 2026", kind="trade_show")
    job = _job(source, tmp_path, _rows(19), "leads.csv")

    import_start(job_id=job.pk, run_async=False)

    assert job.slices.count() == 0


def test_slices_run_in_any_order_give_the_counts_and_report_of_one_run(
    make_source: Any, tmp_path: Path, settings: Any
) -> None:
    rows = _rows(60)
    source, _ = make_source("Salon 2026", kind="trade_show")
    whole = _unsliced_run(source, tmp_path, rows, settings)
    expected_counts, expected_report = _counts(whole), _report(whole)
    Profile.objects.all().delete()  # its events, identities and provenance with it
    settings.CDP_IMPORT_SLICES = 3
    job = _job(source, tmp_path, rows, "sliced.csv")
    import_start(job_id=job.pk, run_async=False)

    # The last slice first, a few rows a run; the job is done only when every slice is.
    while import_run_slice(job_id=job.pk, number=2, max_rows=7).has_more:
        pass
    after_last = _counts(job)
    while import_run_slice(job_id=job.pk, number=0, max_rows=7).has_more:
        pass
    import_run_slice(job_id=job.pk, number=1)

    assert after_last[0] == "running"
    assert 0 < after_last[1] < 60  # the last slice's people's rows
    last = ImportSlice.objects.get(job=job, number=2)
    assert last.done_rows == 60  # it read every row
    # Each run read on from where the previous one stopped: now the end of the file.
    assert (last.resume_byte, last.resume_row) == (job.file.size, 61)
    assert expected_counts[0] == "done"
    assert expected_counts[2] > 0
    assert expected_counts[3] > 0
    assert _counts(job) == expected_counts
    assert _report(job) == expected_report
    assert list(job.slices.values_list("error_report", flat=True)) == ["", "", ""]
    assert Event.objects.count() == 60 - expected_counts[2] - expected_counts[3]


def test_running_a_done_slice_again_writes_nothing(make_source: Any, tmp_path: Path) -> None:
    source, _ = make_source("Salon 2026", kind="trade_show")
    job = _job(source, tmp_path, _rows(30), "leads.csv")
    import_start(job_id=job.pk, run_async=False)
    import_run_slice(job_id=job.pk, number=0)
    done = _counts(job)
    events = Event.objects.count()

    again = import_run_slice(job_id=job.pk, number=0)

    assert again.has_more is False
    assert (_counts(job), Event.objects.count()) == (done, events)
    assert ImportSlice.objects.get(job=job, number=0).done_rows == 30


def test_the_command_path_runs_a_sliced_job_slice_after_slice(
    make_source: Any, tmp_path: Path
) -> None:
    source, _ = make_source("Salon 2026", kind="trade_show")
    job = _job(source, tmp_path, _rows(30), "leads.csv")
    import_start(job_id=job.pk, run_async=False)

    runs = 1
    while import_run_batch(job_id=job.pk, max_rows=6).has_more:
        runs += 1

    assert runs >= 30 // 6  # no run imports more than 6 rows
    assert _counts(job)[:2] == ("done", 30)


def test_requeue_queues_the_slices_not_done(
    make_source: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    source, _ = make_source("Salon 2026", kind="trade_show")
    job = _job(source, tmp_path, _rows(30), "leads.csv")
    import_start(job_id=job.pk, run_async=False)
    import_run_slice(job_id=job.pk, number=0)

    with django_capture_on_commit_callbacks() as callbacks:
        assert import_requeue(job_id=job.pk) is True

    assert [c.keywords for c in callbacks] == [{"kwargs": {"job_id": job.pk, "slice_number": 1}}]


def test_deleting_a_failed_jobs_files_deletes_its_slices_reports(
    make_source: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    source, _ = make_source("Salon 2026", kind="trade_show")
    job = _job(source, tmp_path, _rows(30), "leads.csv")
    import_start(job_id=job.pk, run_async=False)
    import_run_slice(job_id=job.pk, number=0)
    part = ImportSlice.objects.get(job=job, number=0)
    storage, name = part.error_report.storage, part.error_report.name
    assert name
    assert storage.exists(name)
    import_job_fail(job_id=job.pk, message="stopped")

    with django_capture_on_commit_callbacks(execute=True):
        touched = import_files_delete(job_ids=[job.pk])

    part.refresh_from_db()
    assert touched == 1
    assert part.error_report.name == ""
    assert not storage.exists(name)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_slices_run_side_by_side_create_one_profile_per_person(
    make_source: Any, tmp_path: Path
) -> None:
    source, _ = make_source("Salon 2026", kind="trade_show")
    # The same new people in both halves, told by their email first and by their phone
    # later: a person's two rows fall in different slices about half the time.
    people = [[f"twin{n}@example.org", f"First{n}", f"+33612{n:06d}"] for n in range(300)]
    later = [["", f"FIRST{n}", f"+33612{n:06d}"] for n in range(300)]
    job = _job(source, tmp_path, [*people, *later], "leads.csv")
    import_start(job_id=job.pk, run_async=False)

    def work(n: int) -> None:
        while import_run_slice(job_id=job.pk, number=n % 2, max_rows=100).has_more:
            pass

    errors = in_parallel(4, work)  # two workers on each slice, too

    assert errors == []
    assert _counts(job) == ("done", 600, 0, 0, 300)
    assert Profile.objects.count() == 300
    assert Identity.objects.filter(kind="email").count() == 300
    assert Identity.objects.filter(kind="phone").count() == 300
    assert Event.objects.count() == 600
    assert list(job.slices.values_list("done_rows", flat=True)) == [600, 600]


def test_report_lines_a_crashed_batch_left_in_a_slice_are_dropped_by_the_merge(
    make_source: Any, tmp_path: Path, settings: Any
) -> None:
    rows = _rows(40)
    source, _ = make_source("Salon 2026", kind="trade_show")
    expected = _report(_unsliced_run(source, tmp_path, rows, settings))
    Profile.objects.all().delete()
    settings.CDP_IMPORT_SLICES = 2
    job = _job(source, tmp_path, rows, "sliced.csv")
    import_start(job_id=job.pk, run_async=False)
    import_run_slice(job_id=job.pk, number=0, max_rows=10)
    part = ImportSlice.objects.get(job=job, number=0)
    with part.error_report.open("rb") as report:
        last_line = report.read().splitlines(keepends=True)[-1]
    # A batch that wrote its report lines but crashed before its commit, then retried.
    with part.error_report.open("ab") as report:
        report.write(last_line)

    import_run_slice(job_id=job.pk, number=0)
    import_run_slice(job_id=job.pk, number=1)

    assert _counts(job)[:2] == ("done", 40)
    assert _report(job) == expected


def _mapper(source: Any, header: list[str], columns: dict[str, str]) -> RowMapper:
    return RowMapper.build(source=source, header=header, columns=columns)


def test_a_persons_rows_fall_in_one_slice_whatever_the_spelling(make_source: Any) -> None:
    source, _ = make_source("Salon 2026", kind="trade_show")
    mapper = _mapper(
        source,
        ["Phone", "Id", "Email"],
        {"Phone": "phone", "Id": "external_id", "Email": "email"},
    )

    for count in (2, 3, 5):
        # The source's own id decides when there is one, wherever its column.
        by_id = {
            mapper.slice_of(n, row, count)
            for n, row in enumerate(
                [["+33 6 12 34 56 78", "C-1", "ada@example.org"], ["", " C-1 ", "new@example.org"]]
            )
        }
        # Then the email, however it is written; then the phone, national or international.
        by_email = {
            mapper.slice_of(n, row, count)
            for n, row in enumerate(
                [
                    ["+33 6 12 34 56 78", "", "ada@example.org"],
                    ["", "", " ADA@Example.org "],
                    ["+44 7700 900123", "", "ada@example.org"],
                ]
            )
        }
        by_phone = {
            mapper.slice_of(n, row, count)
            for n, row in enumerate([["+33 6 12 34 56 78", "", ""], ["06.12.34.56.78", "", ""]])
        }
        assert (len(by_email), len(by_phone), len(by_id)) == (1, 1, 1)


def test_people_spread_over_the_slices_and_rows_without_identifier_by_number(
    make_source: Any,
) -> None:
    source, _ = make_source("Salon 2026", kind="trade_show")
    mapper = _mapper(source, ["Email", "Name"], {"Email": "email", "Name": "first_name"})

    spread = [mapper.slice_of(n, [f"p{n}@example.org", "P"], 3) for n in range(3000)]
    anonymous = [mapper.slice_of(n, ["", "P"], 3) for n in range(6)]

    assert all(900 < spread.count(k) < 1100 for k in range(3))
    assert anonymous == [0, 1, 2, 0, 1, 2]


@postgres_only
@pytest.mark.django_db(transaction=True)  # the statistics system counts committed changes
def test_a_finished_import_leaves_the_tables_it_wrote_analyzed(
    make_source: Any, tmp_path: Path
) -> None:
    from core.statistics import statistics_refresh
    from profiles.services.ingest import WRITTEN_MODELS

    with connection.cursor() as cursor:
        for model in WRITTEN_MODELS:
            cursor.execute(f"ANALYZE {model._meta.db_table}")
    source, _ = make_source("Salon 2026", kind="trade_show")
    people = [[f"p{n}@example.org", f"First{n}", f"+33612{n:06d}"] for n in range(1500)]
    job = _job(source, tmp_path, people, "leads.csv")
    import_start(job_id=job.pk, run_async=False)

    for number in (0, 1):
        while import_run_slice(job_id=job.pk, number=number).has_more:
            pass

    assert _counts(job)[0] == "done"
    assert Profile.objects.count() == 1500
    # 1,500 new profiles, 3,000 identities... since the ANALYZE above: each table past
    # autovacuum's threshold was analyzed when the job finished (autovacuum is off on CI).
    assert statistics_refresh(models=WRITTEN_MODELS) == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'profiles_profile'")
        assert cursor.fetchone()[0] == 1500
