"""Append synthetic people — profiles, identities, events, consent — for benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext

from consent.demo import consent_demo_load
from consent.models import Purpose
from consent.selectors import purpose_current_wording
from profiles.errors import ProfilesError
from profiles.generate.build import Chunk, Population
from profiles.generate.vocab import CONSENT
from profiles.generate.write import (
    BulkWriter,
    CopyWriter,
    Writer,
    foreign_key_checks_skipped,
    indexes_built_after,
)
from profiles.models import Profile, Source
from profiles.services.sources import source_create

GENERATED_TABLES = (
    "profiles_profile",
    "profiles_identity",
    "profiles_event",
    "consent_consentrecord",
)


@dataclass(frozen=True)
class GenerateResult:
    profiles: int
    identities: int
    events: int
    consent_records: int
    seconds: float


def _validate(*, profiles: int, events: int, source_slug: str) -> None:
    fields: dict[str, list[str]] = {}
    if profiles < 0:
        fields["profiles"] = ["Must be 0 or more."]
    if events < 0:
        fields["events"] = ["Must be 0 or more."]
    elif events and profiles <= 0:
        fields["events"] = ["Events need at least one profile."]
    try:
        validate_slug(source_slug)
    except ValidationError:
        fields["source_slug"] = ["Letters, digits, hyphens and underscores only."]
    if fields:
        raise ProfilesError(gettext("Cannot generate these people."), fields=fields)


def _source(*, slug: str) -> Source:
    source = Source.objects.filter(slug=slug).first()
    if source is None:
        source, _ = source_create(name=f"Generated data ({slug})", kind="import", slug=slug)
    return source


def _new_profile_ids(count: int) -> list[int]:
    """Ids no other writer can take: from the sequence on PostgreSQL, above the max on SQLite."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence('profiles_profile', 'id')) "
                "FROM generate_series(1, %s)",
                [count],
            )
            return [row[0] for row in cursor.fetchall()]
    # SQLite has one writer at a time, and this runs inside its write transaction.
    start = (Profile.objects.aggregate(top=Max("id"))["top"] or 0) + 1
    return list(range(start, start + count))


def profiles_generate(
    *,
    profiles: int,
    events: int,
    seed: int = 0,
    source_slug: str = "generated",
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> GenerateResult:
    """Append `profiles` synthetic people with exactly `events` events, all or nothing."""
    _validate(profiles=profiles, events=events, source_slug=source_slug)
    started = time.perf_counter()
    moment = now or timezone.now()
    counts = {"identities": 0, "events": 0, "consents": 0}
    with transaction.atomic():
        consent_demo_load()  # the purposes the ledger rows are about, created once
        purposes = {}
        for purpose in Purpose.objects.filter(code__in=list(CONSENT)):
            wording = purpose_current_wording(purpose=purpose)
            purposes[purpose.code] = (purpose.pk, wording.pk if wording else None)
        source = _source(slug=source_slug)
        population = Population(
            seed=seed,
            profile_ids=_new_profile_ids(profiles),
            events=events,
            now=int(moment.timestamp()),
        )
        if connection.vendor == "postgresql":
            writer: Writer = CopyWriter(
                population=population, source_id=source.pk, purposes=purposes, now=moment
            )
            referenced: dict[str, Sequence[int]] = {
                "profiles_source": [source.pk],
                "consent_purpose": [pk for pk, _ in purposes.values()],
                "consent_purposeversion": [pk for _, pk in purposes.values() if pk],
            }
            skipping: AbstractContextManager[bool] = foreign_key_checks_skipped(locked=referenced)
            # Rows each table gets (identities and ledger rows: about one a person).
            adding = {
                "profiles_profile": profiles,
                "profiles_identity": profiles,
                "profiles_event": events,
                "consent_consentrecord": profiles,
            }
            indexing: AbstractContextManager[Any] = indexes_built_after(adding=adding)
        else:
            writer = BulkWriter(
                population=population, source_id=source.pk, purposes=purposes, now=moment
            )
            skipping, indexing = nullcontext(False), nullcontext([])
        done = 0
        chunks = population.chunks()

        def next_chunk() -> tuple[Chunk, Any] | None:
            chunk = next(chunks, None)
            return None if chunk is None else (chunk, writer.render(chunk))

        # One thread draws and renders the next chunk while this one waits on the database
        # (which releases the GIL): Python and PostgreSQL work at the same time.
        with skipping, indexing, ThreadPoolExecutor(max_workers=1) as drawer:
            upcoming = drawer.submit(next_chunk)
            while (item := upcoming.result()) is not None:
                upcoming = drawer.submit(next_chunk)
                chunk, rendered = item
                writer.store(rendered)
                new_events = len(chunk.events["profile_id"])
                done += len(chunk.profiles)
                counts["identities"] += len(chunk.identities)
                counts["events"] += new_events
                counts["consents"] += len(chunk.consents)
                if progress is not None:
                    progress(len(chunk.profiles), new_events)
    if connection.vendor == "postgresql":
        # Fresh statistics, or the planner takes a million rows for a few hundred.
        with connection.cursor() as cursor:
            for table in GENERATED_TABLES:
                cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
    return GenerateResult(
        profiles=done,
        identities=counts["identities"],
        events=counts["events"],
        consent_records=counts["consents"],
        seconds=time.perf_counter() - started,
    )
