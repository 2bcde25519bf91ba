"""CSV import of a lead list: our import (validation, identity resolution, provenance, events)
vs raw COPY of the same rows, and vs django-import-export into the same Profile model.

Usage: python bench/imports.py [--rows 100000] [--peer-rows 20000] [--workers 2]
Ours runs twice on the same file, from no profiles each time: as one worker, then as
--workers processes running the job's slices side by side (what that many celery workers
do with a large job); the ratios are the latter's. django-import-export runs on the first
--peer-rows rows of the same file (it is slow enough that the whole file would dominate
`make bench`), from no profiles too, twice: validating each row (the ratio's reference: it
imports the same file, as ours, reporting the malformed rows), and, for scale, on those rows
with the malformed ones removed first and no validation. Both also import the list sent
again a month later (every person's company and city changed) into the profiles their
first run left: the path of known people (ours: locked, read, survivorship, updated).
After ours' two-worker run, the rows it wrote (profiles, identities, provenance, events,
audit, quality issues) are COPY'd into fresh copies of their tables (same indexes, checks,
foreign keys) in one transaction: the floor under any import that stores what ours stores,
however fast its Python; its ratio to COPY bounds ours' "vs COPY".
Then ours imports the same rows as an XLSX workbook (skip with --no-xlsx): a job stores a
workbook as CSV text when it starts.
Each run also prints the CPU the whole machine spent a row (every process: Python,
PostgreSQL) and how many cores were busy: steadier than rows/s on a shared machine.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import emit, print_table, setup_django, timed

TARGET_VS_COPY = 0.2
TARGET_VS_PEER = 10.0


@dataclass(frozen=True)
class Speed:
    rows_per_s: float
    cpu_us_per_row: float  # the whole machine's CPU (all processes) over the run, a row
    cores_busy: float

    @classmethod
    def of(cls, rows: int, timing: dict[str, float]) -> Speed:
        return cls(
            rows / timing["seconds"],
            timing["cpu_seconds"] / rows * 1e6,
            timing["cpu_seconds"] / timing["seconds"],
        )


HEADER = ["Email", "First name", "Last name", "Company", "Phone", "Country", "City", "Customer ID"]


def make_csv(path: Path, rows: int, seed: int = 11) -> None:
    """A trade-show style list: some shouting, some bad emails, a few repeated people."""
    rng = random.Random(seed)
    firsts = ["Ada", "Alan", "Grace", "Linus", "Chloé", "Hugo", "Léa", "Jules", "Emma", "Tim"]
    lasts = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Petit", "Durand", "Leroy"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(HEADER)
        for n in range(rows):
            person = n if rng.random() > 0.05 else rng.randrange(max(1, n))  # 5% repeats
            first, last = rng.choice(firsts), rng.choice(lasts)
            email = f"{first.lower()}.{last.lower()}.{person}@example.org"
            if rng.random() < 0.02:
                email = email.replace("@", " at ")  # 2% invalid
            writer.writerow(
                [
                    email.upper() if rng.random() < 0.1 else email,
                    first,
                    last,
                    rng.choice(["Acme", "Globex", "Initech"]),
                    f"+33612{person % 1_000_000:06d}",
                    "FR",
                    "Paris",
                    f"C-{person}",
                ]
            )


def copy_reference(path: Path) -> Speed:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_leads_raw")
        cursor.execute(
            "CREATE TABLE bench_leads_raw (email text, first_name text, last_name text, "
            "company text, phone text, country text, city text, customer_id text)"
        )
    connection.ensure_connection()
    raw = connection.connection
    with timed() as t:
        with (
            raw.cursor() as cursor,
            cursor.copy(
                "COPY bench_leads_raw FROM STDIN WITH (FORMAT csv, HEADER true, DELIMITER ';')"
            ) as copy,
            path.open("rb") as handle,
        ):
            while chunk := handle.read(1 << 20):
                copy.write(chunk)
        raw.commit()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bench_leads_raw")
        count = cursor.fetchone()[0]
    return Speed.of(count, t)


def _columns(cursor: object, table: str) -> list[str]:
    """The columns COPY can fill (not generated), in table order."""
    cursor.execute(  # type: ignore[attr-defined]  # a psycopg cursor behind Django's wrapper
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
        "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
        [table],
    )
    return [name for (name,) in cursor.fetchall()]  # type: ignore[attr-defined]  # idem


def writes_copied(rows: int) -> tuple[Speed, dict[str, int]]:
    """The floor under any import that writes what ours wrote: the rows the last run of ours
    left in the tables an import writes (profiles, identities, provenance, events, audit,
    quality issues, consent), COPY'd in one transaction into fresh tables with the same
    columns, indexes, check constraints and foreign keys (the real tables' definitions),
    committed (the deferred foreign-key checks run then). No parsing, validation or look-up:
    the database's share of ours, at COPY's speed. Speed is a row of the file (`rows`).
    """
    from django.db import connection

    from profiles.services.ingest import WRITTEN_MODELS

    tables = [model._meta.db_table for model in WRITTEN_MODELS]
    floor = {table: f"bench_floor_{table}" for table in tables}
    dumps: dict[str, tuple[list[str], bytes]] = {}
    written: dict[str, int] = {}
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"DROP TABLE IF EXISTS {floor[table]} CASCADE")
        for table in tables:
            cursor.execute(f"CREATE TABLE {floor[table]} (LIKE {table} INCLUDING ALL)")
        for table in tables:  # the foreign keys, to the floor's tables where they are copies
            cursor.execute(
                "SELECT conname, confrelid::regclass::text, pg_get_constraintdef(oid) "
                "FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
                [table],
            )
            for name, target, definition in cursor.fetchall():
                if target in floor:
                    definition = definition.replace(
                        f"REFERENCES {target}(", f"REFERENCES {floor[target]}("
                    )
                cursor.execute(
                    f"ALTER TABLE {floor[table]} ADD CONSTRAINT bench_{name} {definition}"
                )
        raw = connection.connection
        for table in tables:
            columns = _columns(cursor, table)
            buffer = bytearray()
            with raw.cursor().copy(
                f"COPY (SELECT {', '.join(columns)} FROM {table} ORDER BY 1) "
                "TO STDOUT (FORMAT binary)"
            ) as copy:
                for chunk in copy:
                    buffer += chunk
            dumps[table] = (columns, bytes(buffer))
            cursor.execute(f"SELECT count(*) FROM {table}")
            written[table] = cursor.fetchone()[0]
    seconds: dict[str, float] = {}
    with timed() as t:
        with raw.transaction(), raw.cursor() as cursor:  # one transaction, as a batch
            for table in tables:
                columns, data = dumps[table]
                start = time.perf_counter()
                with cursor.copy(
                    f"COPY {floor[table]} ({', '.join(columns)}) FROM STDIN (FORMAT binary)"
                ) as copy:
                    copy.write(data)
                seconds[table] = time.perf_counter() - start
            start = time.perf_counter()
        seconds["COMMIT (deferred foreign-key checks)"] = time.perf_counter() - start
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"SELECT count(*) FROM {floor[table]}")
            assert cursor.fetchone()[0] == written[table], f"{table} was not copied whole"
            cursor.execute(f"DROP TABLE {floor[table]} CASCADE")
    print(f"  the floor: {sum(written.values()):,} rows written for {rows:,} rows of the file")
    for name, spent in seconds.items():
        print(f"    {name:<40} {written.get(name, 0):>9,} rows {spent:7.2f} s")
    return Speed.of(rows, t), written


def _empty_profiles() -> None:
    """Each run of ours starts from no profiles (and so no identities, events, provenance)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE profiles_profile CASCADE")


def _run_slices(job_id: int, workers: int) -> None:
    """Run the job's slices in `workers` forked processes, as that many celery workers would.

    Each process runs its slice in task-sized runs (`import_run_slice`, then again while
    it says there is more), exactly what `import_run_task` does per queued task.
    """
    from django.db import connections

    from collection.services.imports import import_run_slice

    connections.close_all()  # each process opens its own connection
    children = []
    for number in range(workers):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                while import_run_slice(job_id=job_id, number=number).has_more:
                    pass
                code = 0
            finally:
                os._exit(code)
        children.append(pid)
    for pid in children:
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "a worker failed"


def make_xlsx(csv_path: Path, path: Path) -> None:
    """The same rows as a workbook, as a trade-show organiser sends them."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    with csv_path.open(newline="", encoding="utf-8") as handle:
        for row in csv.reader(handle, delimiter=";"):
            sheet.append(row)
    workbook.save(path)


def changed_csv(path: Path, changed: Path) -> None:
    """The same list sent again a month later: every person's company and city changed."""
    companies = {"Acme": "Globex", "Globex": "Initech", "Initech": "Acme"}
    with path.open(newline="", encoding="utf-8") as src, changed.open("w", newline="") as dst:
        reader, writer = csv.reader(src, delimiter=";"), csv.writer(dst, delimiter=";")
        writer.writerow(next(reader))
        for email, first, last, company, phone, country, _, customer in reader:
            writer.writerow(
                [email, first, last, companies[company], phone, country, "Lyon", customer]
            )


def ours(path: Path, workers: int, *, again: bool = False) -> tuple[Speed, dict[str, int]]:
    """Our import of the file, from no profiles; `again`: from the profiles the last run
    left, by the same source (the people are known: locked, read, updated)."""
    from django.conf import settings
    from django.core.files import File

    from collection.models import ImportJob
    from collection.services.imports import import_job_create, import_run_batch, import_start
    from profiles.models import Source
    from profiles.services import source_create

    settings.CDP_IMPORT_SLICES = workers
    name = f"Salon bench {workers} {path.suffix[1:]}"
    if again:
        source = Source.objects.get(name=name)
    else:
        _empty_profiles()
        source, _ = source_create(name=name, kind="trade_show", default_phone_region="FR")
    columns = {
        "Email": "email",
        "First name": "first_name",
        "Last name": "last_name",
        "Company": "company",
        "Phone": "phone",
        "Country": "country",
        "City": "city",
        "Customer ID": "external_id",
    }
    with path.open("rb") as handle:
        job = import_job_create(source=source, file=File(handle, name=path.name), columns=columns)
    with timed() as t:
        import_start(job_id=job.pk, run_async=False)
        slices = job.slices.count()
        if workers > 1 and slices:
            _run_slices(job.pk, slices)
        else:  # one worker, or a file too small to slice (CDP_IMPORT_MIN_SLICE_ROWS)
            while import_run_batch(job_id=job.pk).has_more:
                pass
    job = ImportJob.objects.get(pk=job.pk)
    assert job.status == ImportJob.Status.DONE, f"the import ended {job.status}: {job.message}"
    assert workers == 1 or slices in (0, workers), "the job was not sliced as asked"
    counts = {
        "rows": job.processed_rows,
        "errors": job.error_rows,
        "duplicates": job.duplicate_rows,
        "profiles_created": job.profiles_created,
    }
    return Speed.of(job.processed_rows, t), counts


def _breaks_model_checks(line: str) -> bool:
    """A row the Profile model's check constraints refuse (email without "@", phone not
    E.164): in this file, the 2 % of malformed emails."""
    email, _, _, _, phone, *_ = line.split(";")
    return (email != "" and "@" not in email) or (phone != "" and not phone.startswith("+"))


def peer(path: Path, rows: int, *, validate: bool, again: bool = False) -> Speed:
    """django-import-export's bulk mode into the same Profile model, keyed on email, from
    no profiles (as ours).

    validate: the same file, each row checked by the model's validation
    (`clean_model_instances`, the library's documented way; it runs `full_clean`, which
    checks the model's constraints): the malformed rows are reported, the rest stored.
    Without it the first malformed row fails its batch's INSERT on the check constraint and
    the whole import rolls back (until this was found, the bench timed that: a run that
    stored nothing). Not validate: the rows the model refuses are dropped from the file
    first, and the rest imported with no validation at all; far less work than ours.
    again: into the profiles the last run left, every valid row updating one. Its first run
    stored a person twice where two rows of one email met in one bulk batch, and the look-up
    of such an email fails (MultipleObjectsReturned): this run imports without a
    transaction, so that those rows are reported and the others stored.
    """
    import tablib
    from import_export import fields, resources

    from profiles.models import Profile

    class ProfileResource(resources.ModelResource):
        email = fields.Field(attribute="email", column_name="Email")
        first_name = fields.Field(attribute="first_name", column_name="First name")
        last_name = fields.Field(attribute="last_name", column_name="Last name")
        company = fields.Field(attribute="company", column_name="Company")
        phone = fields.Field(attribute="phone", column_name="Phone")
        country = fields.Field(attribute="country", column_name="Country")
        city = fields.Field(attribute="city", column_name="City")

        class Meta:
            model = Profile
            import_id_fields = ("email",)
            fields = ("email", "first_name", "last_name", "company", "phone", "country", "city")
            use_bulk = True
            batch_size = 1000
            skip_diff = True
            clean_model_instances = validate

    if not again:
        _empty_profiles()
    header, *lines = path.read_text(encoding="utf-8").splitlines()[: rows + 1]
    if not validate:
        lines = [line for line in lines if not _breaks_model_checks(line)]
    dataset = tablib.Dataset().load("\n".join([header, *lines]), format="csv", delimiter=";")
    with timed() as t:
        result = ProfileResource().import_data(
            dataset, dry_run=False, raise_errors=False, use_transactions=not again
        )
    failed = [row.errors[0].error for row in result.rows if row.errors]
    assert not result.base_errors, f"django-import-export failed: {result.base_errors[:1]}"
    stored = Profile.objects.count()
    if again:
        assert all(isinstance(error, Profile.MultipleObjectsReturned) for error in failed)
        assert result.totals["new"] == 0 < result.totals["update"], "it did not update"
        print(
            f"  django-import-export, the list sent again: {len(failed)} rows failed "
            "(MultipleObjectsReturned: people its first run stored twice)"
        )
    else:
        assert not failed, f"django-import-export failed: {failed[:1]}"
        assert stored == result.totals["new"] > 0, "django-import-export did not store its rows"
    if validate:
        assert result.totals["invalid"] == sum(map(_breaks_model_checks, lines))
    return Speed.of(len(lines), t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--peer-rows", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2, help="slices run side by side")
    parser.add_argument(
        "--no-xlsx", action="store_true", help="skip importing the rows as an XLSX workbook"
    )
    args, _ = parser.parse_known_args()
    setup_django()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "leads.csv"
        make_csv(path, args.rows)
        copy = copy_reference(path)
        one, one_counts = ours(path, 1)
        two, counts = ours(path, args.workers)
        floor, floor_written = writes_copied(args.rows)
        changed = Path(tmp) / "leads_again.csv"
        changed_csv(path, changed)
        again, again_counts = ours(changed, args.workers, again=True)
        assert again_counts["profiles_created"] == 0, "the list sent again created people"
        xlsx: Speed | None = None
        if not args.no_xlsx:
            workbook = Path(tmp) / "leads.xlsx"
            make_xlsx(path, workbook)
            xlsx, xlsx_counts = ours(workbook, args.workers)
            assert xlsx_counts == counts, "the workbook imported other rows than the CSV"
        peer_rows = min(args.peer_rows, args.rows)
        them = peer(path, peer_rows, validate=True)
        them_again = peer(changed, peer_rows, validate=True, again=True)
        bare = peer(path, peer_rows, validate=False)
    vs_copy = two.rows_per_s / copy.rows_per_s
    vs_peer = two.rows_per_s / them.rows_per_s
    # Each line with the run of ours it is compared with ("ours vs it").
    runs = [
        ("raw COPY (reference)", copy, two),
        ("  the rows ours wrote, COPY'd (the floor: no parsing, no look-ups)", floor, two),
        ("django-import-export, bulk, validating (peer)", them, two),
        ("  the same, malformed rows removed first, no validation", bare, two),
        ("cdp import, one worker", one, two),
        (f"cdp import, {args.workers} workers side by side (slices)", two, two),
    ]
    if xlsx is not None:
        runs.append((f"cdp import of the rows as XLSX, {args.workers} workers", xlsx, two))
    runs += [
        ("the list sent again, known people changed: the peer, validating", them_again, again),
        (f"  cdp import, {args.workers} workers", again, again),
    ]
    print_table(
        f"CSV import of {args.rows:,} rows (django-import-export: first {peer_rows:,} rows)",
        ["path", "rows/s", "ours vs it", "machine CPU µs a row", "cores busy"],
        [
            [
                name,
                speed.rows_per_s,
                reference.rows_per_s / speed.rows_per_s,
                speed.cpu_us_per_row,
                round(speed.cores_busy, 2),
            ]
            for name, speed, reference in runs
        ],
    )
    print(f"  one worker: {one_counts}")
    print(f"  {args.workers} workers: {counts}")
    print(f"  the list sent again, {args.workers} workers: {again_counts}")
    emit(
        {
            "bench": "imports",
            "rows": args.rows,
            "peer_rows": peer_rows,
            "workers": args.workers,
            "copy_rows_per_s": round(copy.rows_per_s),
            "ours_rows_per_s": round(two.rows_per_s),
            "ours_one_worker_rows_per_s": round(one.rows_per_s),
            "ours_xlsx_rows_per_s": round(xlsx.rows_per_s) if xlsx else 0,
            "peer_rows_per_s": round(them.rows_per_s),
            "peer_without_validation_rows_per_s": round(bare.rows_per_s),
            "ours_vs_copy": round(vs_copy, 4),
            "floor_rows_per_s": round(floor.rows_per_s),
            "floor_rows_written": sum(floor_written.values()),
            "floor_vs_copy": round(floor.rows_per_s / copy.rows_per_s, 4),
            "ours_vs_floor": round(two.rows_per_s / floor.rows_per_s, 2),
            "ours_vs_peer": round(vs_peer, 2),
            "ours_one_worker_vs_peer": round(one.rows_per_s / them.rows_per_s, 2),
            "ours_vs_peer_without_validation": round(two.rows_per_s / bare.rows_per_s, 2),
            "again_rows_per_s": round(again.rows_per_s),
            "again_peer_rows_per_s": round(them_again.rows_per_s),
            "again_vs_peer": round(again.rows_per_s / them_again.rows_per_s, 2),
            "cpu_us_per_row": {
                "copy": round(copy.cpu_us_per_row, 1),
                "floor": round(floor.cpu_us_per_row),
                "peer": round(them.cpu_us_per_row),
                "peer_without_validation": round(bare.cpu_us_per_row),
                "ours_one_worker": round(one.cpu_us_per_row),
                "ours": round(two.cpu_us_per_row),
            },
            "ours_vs_peer_cpu": round(them.cpu_us_per_row / two.cpu_us_per_row, 2),
            **counts,
            "target_vs_copy": TARGET_VS_COPY,
            "target_vs_peer": TARGET_VS_PEER,
            "meets_targets": vs_copy >= TARGET_VS_COPY and vs_peer >= TARGET_VS_PEER,
        }
    )


if __name__ == "__main__":
    main()
