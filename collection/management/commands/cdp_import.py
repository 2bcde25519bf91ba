"""Import a CSV or Excel file for a source, synchronously, with a progress bar."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections
from tqdm import tqdm

from collection.models import ImportJob
from collection.services.imports import (
    import_job_create,
    import_mapping_save,
    import_run_batch,
    import_run_slice,
    import_start,
)
from core.errors import DomainError
from profiles.models import Source


def _run_slices(job_id: int, numbers: list[int]) -> None:
    """A worker process: import these slices of the job, task run after task run."""
    for number in numbers:
        while import_run_slice(job_id=job_id, number=number).has_more:
            pass


def _read_mapping(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The columns JSON, or {"columns": ..., "options": ...}."""
    try:
        spec = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise CommandError(f"Cannot read the mapping file {path}: {exc}") from exc
    if not isinstance(spec, dict):
        raise CommandError(f"The mapping file {path} must hold a JSON object.")
    if isinstance(spec.get("columns"), dict):
        options = spec.get("options") or {}
        if not isinstance(options, dict):
            raise CommandError('"options" in the mapping file must be an object.')
        return spec["columns"], options
    return spec, {}


class Command(BaseCommand):
    help = (
        "Import a CSV or .xlsx file for a source, in this process. The mapping file is the "
        'columns JSON ({"File column": "email" | profile field | "traits.<key>" | "external_id" '
        '| ""}), optionally wrapped as {"columns": ..., "options": {"delimiter": ";"}}. '
        "Exits with 1 when the file cannot be imported as a whole."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="The .csv or .xlsx file.")
        parser.add_argument("--source", required=True, help="Slug of the source.")
        parser.add_argument("--mapping", required=True, type=Path, help="The mapping JSON file.")
        parser.add_argument("--delimiter", help="Override the delimiter: , ; | or tab.")
        parser.add_argument("--encoding", help="Override the encoding: utf-8, utf-8-sig, cp1252.")
        parser.add_argument("--save-as", default="", help="Also save the mapping under this name.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")
        parser.add_argument(
            "--workers",
            type=int,
            default=1,
            help="Processes importing a large job's slices side by side, as that many celery "
            "workers would (CDP_IMPORT_SLICES; PostgreSQL). Default 1.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if options["workers"] < 1:
            raise CommandError("--workers must be 1 or more.")
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        source = Source.objects.filter(slug=options["source"]).first()
        if source is None:
            raise CommandError(f"No source with the slug {options['source']!r}.")
        columns, read_options = _read_mapping(options["mapping"])
        if options["delimiter"]:
            read_options["delimiter"] = options["delimiter"].replace("tab", "\t")
        if options["encoding"]:
            read_options["encoding"] = options["encoding"]
        try:
            mapping = None
            if options["save_as"]:
                mapping = import_mapping_save(
                    source=source, name=options["save_as"], columns=columns, options=read_options
                )
            with path.open("rb") as handle:
                job = import_job_create(
                    source=source,
                    file=File(handle),
                    mapping=mapping,
                    columns=columns,
                    options=read_options,
                )
        except DomainError as exc:
            details = "; ".join(
                f"{key}: {', '.join(map(str, texts))}" for key, texts in (exc.fields or {}).items()
            )
            raise CommandError(f"{exc}: {details}" if details else str(exc)) from exc
        if job.status == ImportJob.Status.UPLOADED:
            job = import_start(job_id=job.pk, run_async=False)
        if job.status == ImportJob.Status.FAILED:
            raise CommandError(f"Import #{job.pk} failed: {job.message}")
        quiet = options["no_progress"] or options["verbosity"] == 0
        self._run(job, quiet=quiet, workers=options["workers"])
        job.refresh_from_db()
        self._summary(job)
        if job.status == ImportJob.Status.FAILED:
            raise CommandError(f"Import #{job.pk} failed: {job.message}")

    def _run(self, job: ImportJob, *, quiet: bool, workers: int) -> None:
        slices = job.slices.count()
        with tqdm(total=job.total_rows, unit="row", disable=quiet, dynamic_ncols=True) as bar:
            if workers > 1 and slices > 1:
                self._side_by_side(job, min(workers, slices), slices, bar)
                return
            done = 0
            while True:
                progress = import_run_batch(job_id=job.pk)
                bar.update(progress.processed_rows - done)
                done = progress.processed_rows
                if not progress.has_more:
                    break

    def _side_by_side(self, job: ImportJob, workers: int, slices: int, bar: tqdm[Any]) -> None:
        """The slices shared among `workers` forked processes; the bar follows the job."""
        connections.close_all()  # each process opens its own connection
        context = multiprocessing.get_context("fork")
        processes = [
            context.Process(target=_run_slices, args=(job.pk, list(range(n, slices, workers))))
            for n in range(workers)
        ]
        for process in processes:
            process.start()
        done = 0
        while True:
            running = any(process.is_alive() for process in processes)
            processed = ImportJob.objects.values_list("processed_rows", flat=True).get(pk=job.pk)
            bar.update(processed - done)
            done = processed
            if not running:
                break
            time.sleep(0.5)
        failed = [process.exitcode for process in processes if process.exitcode]
        if failed:
            # The job stays where its slices stopped; running the command on the file again
            # imports the rest (the rows already imported are recognised, not doubled).
            raise CommandError(f"Import #{job.pk}: {len(failed)} worker(s) failed; see above.")

    def _summary(self, job: ImportJob) -> None:
        self.stdout.write(
            f"Import #{job.pk} {job.get_status_display().lower()}: {job.processed_rows} rows, "
            f"{job.profiles_created} profiles created, {job.profiles_updated} updated, "
            f"{job.duplicate_rows} duplicates, {job.error_rows} rows with errors."
        )
        if job.error_report:
            try:
                where = job.error_report.path
            except NotImplementedError:
                # Django's remote storages (S3 and the like) have no local path: give its name.
                where = job.error_report.name
            self.stdout.write(f"Error report: {where}")
