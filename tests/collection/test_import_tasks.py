"""The import task: a bounded slice per run, re-queued after commit, harmless when run twice."""

from __future__ import annotations

import csv
import io
import threading
from pathlib import Path
from typing import Any

import pytest
from django.core.files import File
from django.db import connection

from collection.models import ImportJob
from collection.services.imports import (
    import_job_create,
    import_requeue,
    import_run_batch,
    import_start,
)
from collection.tasks import import_run_task
from profiles.models import Event, Profile
from tests.helpers import postgres_only

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media_in_tmp(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def five_rows(make_source: Any, tmp_path: Path) -> ImportJob:
    source, _ = make_source("Salon 2026", kind="trade_show")
    buffer = io.StringIO()
    rows = [["Email"], *([f"p{n}@example.org"] for n in range(4)), ["broken"]]
    csv.writer(buffer).writerows(rows)
    path = tmp_path / "leads.csv"
    path.write_text(buffer.getvalue())
    with path.open("rb") as handle:
        return import_job_create(source=source, file=File(handle), columns={"Email": "email"})


def state(job: ImportJob) -> tuple[str, int, int, int]:
    job.refresh_from_db()
    return job.status, job.processed_rows, job.error_rows, job.profiles_created


def test_starting_a_job_queues_the_task_after_commit(
    five_rows: ImportJob, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        import_start(job_id=five_rows.pk)

    assert len(callbacks) == 1
    assert callbacks[0].func == import_run_task.apply_async
    assert callbacks[0].keywords == {"kwargs": {"job_id": five_rows.pk}}
    assert state(five_rows) == ("queued", 0, 0, 0)


def test_a_task_run_imports_one_slice_and_requeues_itself_for_the_rest(
    five_rows: ImportJob, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.CDP_IMPORT_TASK_ROWS = 2
    import_start(job_id=five_rows.pk, run_async=False)

    with django_capture_on_commit_callbacks() as first:
        import_run_task(job_id=five_rows.pk)
    after_first = state(five_rows)
    with django_capture_on_commit_callbacks() as second:
        import_run_task(five_rows.pk)
    after_second = state(five_rows)
    with django_capture_on_commit_callbacks() as third:
        import_run_task(five_rows.pk)

    assert after_first == ("running", 2, 0, 2)
    assert after_second == ("running", 4, 0, 4)
    assert state(five_rows) == ("done", 5, 1, 4)
    assert [callback.keywords for callback in first + second] == [
        {"kwargs": {"job_id": five_rows.pk}},
        {"kwargs": {"job_id": five_rows.pk}},
    ]
    assert third == []


def test_running_the_task_again_after_the_job_is_done_changes_nothing(
    five_rows: ImportJob, django_capture_on_commit_callbacks: Any
) -> None:
    import_start(job_id=five_rows.pk, run_async=False)
    import_run_task(five_rows.pk)

    with django_capture_on_commit_callbacks() as callbacks:
        import_run_task(five_rows.pk)

    assert callbacks == []
    assert state(five_rows) == ("done", 5, 1, 4)
    assert (Profile.objects.count(), Event.objects.count()) == (4, 4)


def test_with_an_eager_broker_the_start_runs_the_whole_chain(
    five_rows: ImportJob, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.CDP_IMPORT_TASK_ROWS = 2
    settings.CELERY_TASK_ALWAYS_EAGER = True

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        import_start(job_id=five_rows.pk)

    assert len(callbacks) == 3
    assert state(five_rows) == ("done", 5, 1, 4)


def test_a_task_that_gives_up_fails_the_job(five_rows: ImportJob) -> None:
    import_start(job_id=five_rows.pk, run_async=False)

    import_run_task.on_failure(RuntimeError("boom"), "task-id", (), {"job_id": five_rows.pk}, None)

    five_rows.refresh_from_db()
    assert (five_rows.status, five_rows.message) == (
        "failed",
        "Stopped by an unexpected error (RuntimeError); see the worker log.",
    )


def test_a_stalled_job_can_be_queued_again_but_a_finished_one_cannot(
    five_rows: ImportJob, django_capture_on_commit_callbacks: Any
) -> None:
    import_start(job_id=five_rows.pk, run_async=False)
    with django_capture_on_commit_callbacks() as stalled:
        requeued = import_requeue(job_id=five_rows.pk)
    import_run_task(five_rows.pk)
    with django_capture_on_commit_callbacks() as finished:
        again = import_requeue(job_id=five_rows.pk)

    assert (requeued, again) == (True, False)
    assert [callback.keywords for callback in stalled] == [{"kwargs": {"job_id": five_rows.pk}}]
    assert finished == []


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_runners_of_the_same_job_import_each_row_once(make_source: Any, tmp_path: Path) -> None:
    source, _ = make_source("Salon 2026", kind="trade_show")
    path = tmp_path / "leads.csv"
    path.write_text("Email\n" + "".join(f"p{n}@example.org\n" for n in range(1_300)))
    with path.open("rb") as handle:
        job = import_job_create(source=source, file=File(handle), columns={"Email": "email"})
    import_start(job_id=job.pk, run_async=False)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            while import_run_batch(job_id=job.pk).has_more:
                pass
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    job.refresh_from_db()
    assert errors == []
    assert (job.status, job.processed_rows, job.duplicate_rows, job.profiles_created) == (
        "done",
        1_300,
        0,
        1_300,
    )
    assert (Profile.objects.count(), Event.objects.count()) == (1_300, 1_300)
