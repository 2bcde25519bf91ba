"""Writers for generated chunks: COPY on PostgreSQL, bulk_create in batches elsewhere.

The COPY writer names the columns it generates and sends, for every other column of the
model, the value Django would have saved (the field's default, or the time for
`auto_now` fields): a column added to a model later is filled without touching this file.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from django.db import connection, models

from consent.models import ConsentRecord
from profiles.generate import vocab
from profiles.generate.build import DAY, HISTORY_DAYS, Chunk, Population
from profiles.models import Event, Identity, Profile

PROFILE_COLUMNS = [
    "id", "status", "merged_into_id", "lifecycle_stage", "email", "first_name", "last_name",
    "company", "job_title", "job_function", "address_line", "postcode", "city", "country",
    "date_of_birth", "language", "timezone", "traits", "first_seen_at", "last_seen_at",
    "quality_score", "created_at",
]  # fmt: skip
IDENTITY_COLUMNS = ["profile_id", "kind", "value", "source_id"]
EVENT_COLUMNS = [
    "profile_id", "source_id", "type", "name", "properties", "context", "utm_source",
    "utm_medium", "utm_campaign", "message_id", "occurred_at", "received_at",
]  # fmt: skip
CONSENT_COLUMNS = [
    "profile_id", "purpose_id", "status", "method", "wording_id", "proof", "recorded_at",
    "expires_at", "source_id",
]  # fmt: skip


def copy_text(value: Any) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dict | list):
        value = vocab.json_text(value)
    elif isinstance(value, datetime):
        value = value.isoformat()
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _copy_statement(
    model: type[models.Model], columns: Sequence[str], now: datetime
) -> tuple[str, str]:
    """The COPY statement (our columns first, then the rest) and the text of the rest."""
    rest = [
        f
        for f in model._meta.concrete_fields
        if f.attname not in columns and not isinstance(f, models.AutoField) and not f.generated
    ]
    values = []
    for f in rest:
        auto = getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        values.append(copy_text(now if auto else f.get_default()))
    names = ", ".join(
        connection.ops.quote_name(name) for name in [*columns, *(f.column for f in rest)]
    )
    statement = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({names}) FROM STDIN"
    return statement, "".join("\t" + value for value in values)


@contextmanager
def foreign_key_checks_skipped(*, locked: dict[str, Sequence[int]]) -> Iterator[bool]:
    """On PostgreSQL as a superuser, skip the per-row foreign-key triggers of this transaction.

    Those triggers cost more than the COPY itself (one look-up and row lock per reference,
    ~10 million for 5 million events). Every reference we write is to a profile id just
    taken from the sequence, or to a row of `locked` ({table: ids}), which is locked here
    FOR KEY SHARE as the triggers would have done, so nobody can delete it meanwhile.
    Check and unique constraints still apply. Yields whether the checks are skipped.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('is_superuser') = 'on'")
        if not cursor.fetchone()[0]:
            yield False
            return
        for table, ids in locked.items():
            cursor.execute(
                f"SELECT 1 FROM {connection.ops.quote_name(table)} "  # noqa: S608  (our names)
                "WHERE id = ANY(%s) FOR KEY SHARE",
                [list(ids)],
            )
        cursor.execute("SELECT current_setting('session_replication_role')")
        previous = cursor.fetchone()[0]
        cursor.execute("SET LOCAL session_replication_role = replica")
    try:
        yield True
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('session_replication_role', %s, true)", [previous])


@contextmanager
def indexes_built_after(*, adding: dict[str, int]) -> Iterator[list[str]]:
    """On PostgreSQL, build the plain indexes of a table that at least doubles afterwards.

    Sorting the rows once to build an index costs much less than millions of single
    inserts into it (measured: 5.8 s of server CPU to COPY 300k events with every index,
    3.6 s with the two plain ones built afterwards). Unique and primary-key indexes stay:
    they are constraints. Dropping an index locks its table until the transaction ends,
    so this is done only for tables we own that are empty or small next to what is added.
    Yields the names of the indexes it will rebuild.
    """
    rebuild: list[tuple[str, str]] = []
    with connection.cursor() as cursor:
        for table, rows in adding.items():
            cursor.execute(
                "SELECT greatest(reltuples, 0), pg_has_role(relowner, 'USAGE') FROM pg_class "
                "WHERE oid = %s::regclass",
                [table],
            )
            existing, owned = cursor.fetchone()
            if not owned or rows < existing:
                continue
            cursor.execute(
                "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid "
                "WHERE x.indrelid = %s::regclass AND NOT x.indisunique AND NOT x.indisprimary "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) "
                "ORDER BY i.relname",
                [table],
            )
            rebuild.extend(cursor.fetchall())
        for name, _ in rebuild:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
    yield [name for name, _ in rebuild]
    # Reached only when every chunk was written; on an error the rollback restores them.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for _, definition in rebuild:
            cursor.execute(definition)


class Writer(ABC):
    """Stores chunks of a population from one source; `purposes`: code -> (id, wording id)."""

    def __init__(
        self,
        *,
        population: Population,
        source_id: int,
        purposes: dict[str, tuple[int, int | None]],
        now: datetime,
    ) -> None:
        self.population = population
        self.source_id = source_id
        self.purposes = purposes
        self.now = now
        self.prepare()

    def prepare(self) -> None:  # noqa: B027  (optional hook: most writers need nothing)
        """What a writer computes once, before the first chunk."""

    def render(self, chunk: Chunk) -> Any:
        """What `store` needs, computed without the database (may run in another thread)."""
        return chunk

    @abstractmethod
    def store(self, rendered: Any) -> None:
        """Write one rendered chunk (COPY on PostgreSQL, bulk_create elsewhere)."""


class CopyWriter(Writer):
    """Chunks into PostgreSQL with one COPY per table (inside the caller's transaction)."""

    def prepare(self) -> None:
        population, now = self.population, self.now
        # `now` goes into the tails: updated_at, and created_at of identities.
        self.statements = {
            model: _copy_statement(model, columns, now)
            for model, columns in (
                (Profile, PROFILE_COLUMNS),
                (Identity, IDENTITY_COLUMNS),
                (Event, EVENT_COLUMNS),
                (ConsentRecord, CONSENT_COLUMNS),
            )
        }
        # Times as text from two tables (day, second of the day), looked up by numpy: no
        # datetime object, no strftime per row.
        first = population.now - (HISTORY_DAYS + 2) * DAY
        self.base = first - first % DAY
        days = (population.now - self.base) // DAY + 4 * 365
        self.days = np.array(
            [
                datetime.fromtimestamp(self.base + n * DAY, tz=UTC).date().isoformat() + " "
                for n in range(days)
            ],
            dtype=object,
        )
        self.seconds = np.array(
            [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00" for s in range(DAY)],
            dtype=object,
        )
        self.variants = np.array(
            [
                "\t".join(copy_text(part) for part in (type_, name, properties, context, *utm))
                for type_, name, properties, context, utm in population.variants
            ],
            dtype=object,
        )
        self.proofs = [copy_text(proof) for proof in vocab.PROOFS]

    def _times(self, seconds: np.ndarray) -> list[str]:
        """Unix times as timestamptz text."""
        offsets = np.asarray(seconds, dtype=np.int64) - self.base
        return (self.days[offsets // DAY] + self.seconds[offsets % DAY]).tolist()

    def store(self, rendered: list[tuple[str, str]]) -> None:
        """One COPY per table of the chunk."""
        for statement, text in rendered:
            with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
                copy.write(text)

    def render(self, chunk: Chunk) -> list[tuple[str, str]]:
        """(COPY statement, its rows as text) per table."""
        rendered: list[tuple[str, str]] = []

        def add(model: type[models.Model], lines: list[str]) -> None:
            if lines:
                rendered.append((self.statements[model][0], "".join(lines)))

        # Vocabulary values go in as they are: none needs COPY escaping (a test checks).
        source = self.source_id
        tail = self.statements[Profile][1] + "\n"
        null = copy_text(None)
        first_seen, last_seen = self._times(chunk.first_seen), self._times(chunk.last_seen)
        add(
            Profile,
            [
                f"{p[0]}\t{p[1]}\t{null if p[2] is None else p[2]}\t{p[3]}\t{p[4]}\t{p[5]}\t"
                f"{p[6]}\t{p[7]}\t{p[8]}\t{p[9]}\t{p[10]}\t{p[11]}\t{p[12]}\t{p[13]}\t"
                f"{null if p[14] is None else date.fromordinal(p[14]).isoformat()}\t{p[15]}\t"
                f"{p[16]}\t{p[17]}\t{first}\t{last}\t{null if p[20] is None else p[20]}\t"
                f"{first}{tail}"
                for p, first, last in zip(chunk.profiles, first_seen, last_seen, strict=True)
            ],
        )
        tail = self.statements[Identity][1] + "\n"
        add(
            Identity,
            [f"{pid}\t{kind}\t{value}\t{source}{tail}" for pid, kind, value in chunk.identities],
        )
        events = chunk.events
        tail = self.statements[Event][1] + "\n"
        # Zero-padded message ids grow with the profile id: the unique index on
        # (source, message_id) is appended to at its right edge, not all over.
        add(
            Event,
            [
                f"{pid}\t{source}\t{variant}\tgen-{pid:012d}-{number:06d}\t{occurred}\t"
                f"{received}{tail}"
                for pid, variant, number, occurred, received in zip(
                    events["profile_id"].tolist(),
                    self.variants[events["variant"]].tolist(),
                    events["number"].tolist(),
                    self._times(events["occurred_at"]),
                    self._times(events["received_at"]),
                    strict=True,
                )
            ],
        )
        tail = self.statements[ConsentRecord][1] + "\n"
        consents = chunk.consents
        recorded = self._times(np.fromiter((row[6] for row in consents), np.int64, len(consents)))
        expires = self._times(
            np.fromiter((row[7] or self.base for row in consents), np.int64, len(consents))
        )
        lines = []
        for (pid, code, status, method, with_wording, proof, _, until), at, ends in zip(
            consents, recorded, expires, strict=True
        ):
            purpose, wording = self.purposes[code]
            lines.append(
                f"{pid}\t{purpose}\t{status}\t{method}\t{wording if with_wording else null}\t"
                f"{self.proofs[proof]}\t{at}\t{ends if until else null}\t{source}{tail}"
            )
        add(ConsentRecord, lines)
        return rendered


class BulkWriter(Writer):
    """Chunks through the ORM's bulk_create, for databases without COPY (SQLite)."""

    BATCH = 500

    @staticmethod
    def _time(seconds: int | None) -> datetime | None:
        return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)

    def store(self, rendered: Chunk) -> None:
        chunk, t = rendered, self._time
        profiles = [
            Profile(
                id=p[0], status=p[1], merged_into_id=p[2], lifecycle_stage=p[3], email=p[4],
                first_name=p[5], last_name=p[6], company=p[7], job_title=p[8], job_function=p[9],
                address_line=p[10], postcode=p[11], city=p[12], country=p[13],
                date_of_birth=None if p[14] is None else date.fromordinal(p[14]),
                language=p[15], timezone=p[16], traits=json.loads(p[17]),
                first_seen_at=t(p[18]), last_seen_at=t(p[19]), quality_score=p[20],
            )
            for p in chunk.profiles
        ]  # fmt: skip
        Profile.objects.bulk_create(profiles, batch_size=self.BATCH)
        # auto_now_add set created_at to now; a generated person arrived when first seen.
        if profiles:
            Profile.objects.filter(pk__gte=profiles[0].pk, pk__lte=profiles[-1].pk).update(
                created_at=models.F("first_seen_at")
            )
        Identity.objects.bulk_create(
            [
                Identity(profile_id=pid, kind=kind, value=value, source_id=self.source_id)
                for pid, kind, value in chunk.identities
            ],
            batch_size=self.BATCH,
        )
        variants = self.population.variants
        events = chunk.events
        Event.objects.bulk_create(
            [
                Event(
                    profile_id=pid, source_id=self.source_id, type=variants[v][0],
                    name=variants[v][1], properties=variants[v][2], context=variants[v][3],
                    utm_source=variants[v][4][0], utm_medium=variants[v][4][1],
                    utm_campaign=variants[v][4][2], message_id=f"gen-{pid:012d}-{number:06d}",
                    occurred_at=t(occurred), received_at=t(received),
                )
                for pid, v, number, occurred, received in zip(
                    *(events[name].tolist() for name in (
                        "profile_id", "variant", "number", "occurred_at", "received_at"
                    )),
                    strict=True,
                )
            ],
            batch_size=self.BATCH,
        )  # fmt: skip
        ConsentRecord.objects.bulk_create(
            [
                ConsentRecord(
                    profile_id=pid, purpose_id=self.purposes[code][0], status=status,
                    method=method, wording_id=self.purposes[code][1] if with_wording else None,
                    proof=vocab.PROOFS[proof], recorded_at=t(recorded), expires_at=t(expires),
                    source_id=self.source_id,
                )
                for pid, code, status, method, with_wording, proof, recorded, expires
                in chunk.consents
            ],
            batch_size=self.BATCH,
        )  # fmt: skip
