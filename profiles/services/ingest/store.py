"""Where the pipeline reads and writes. The ORM store is the reference and runs on SQLite.

Every method is one set-based statement (or a few) for the whole batch. `PostgresStore`
overrides the hot ones with hand-written SQL; both must leave exactly the same rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from consent.selectors import suppressed_digests
from profiles.fields import PROFILE_FIELDS
from profiles.models import (
    DataQualityIssue,
    Event,
    FieldProvenance,
    Identity,
    Profile,
    ProfileAudit,
)
from profiles.services.ingest.resolve import Known
from profiles.services.messages import FieldIssue, Key, Prepared
from profiles.services.quality.score import profiles_score

# The profile columns ingestion reads under lock and may write back.
STATE_COLUMNS = (
    *PROFILE_FIELDS,
    "job_function",
    "traits",
    "first_seen_at",
    "last_seen_at",
    "lifecycle_stage",
    "quality_score",
)

Assigned = Sequence[tuple[Prepared, int]]  # a prepared message and its (real) profile id
AuditRow = tuple[int, str, list[str]]  # profile id, action, names of the changed fields
IssueRow = tuple[int, FieldIssue, datetime]  # profile id, the issue, when it was observed


@dataclass(slots=True)
class ProvenanceRow:
    """One source's latest value of one profile field, with that source's trust rank."""

    profile_id: int
    field: str
    source_id: int
    value: str
    observed_at: datetime
    trust_rank: int


def _move_issues(absorbed: int, survivor: int) -> None:
    """Data-quality issues follow the person; one the survivor already has stays its own."""
    taken = set(
        DataQualityIssue.objects.filter(profile_id=survivor).values_list(
            "field", "code", "source_id"
        )
    )
    movable = [
        pk
        for pk, *key in DataQualityIssue.objects.filter(profile_id=absorbed).values_list(
            "pk", "field", "code", "source_id"
        )
        if tuple(key) not in taken
    ]
    DataQualityIssue.objects.filter(pk__in=movable).update(profile_id=survivor)
    DataQualityIssue.objects.filter(profile_id=absorbed).delete()


class OrmStore:
    """Plain ORM statements: portable, and the reference the PostgreSQL store must match.

    One instance per batch (it remembers the identifiers the batch stored).
    """

    def __init__(self) -> None:
        self._identities_sent: list[tuple[int, Key]] = []

    def flush(self) -> None:
        """Send writes not sent yet (every ORM statement runs at once)."""

    @contextmanager
    def sending(self) -> Iterator[None]:
        """Writes inside start at once, and the caller may compute while the database works.

        Only writes: every one is done (or has raised) when the block ends.
        """
        yield

    def lookup(
        self, source_id: int, message_ids: list[str], keys: Collection[Key]
    ) -> tuple[set[str], Known]:
        """Message ids the source already sent, and what is known of the identifiers."""
        seen = set(
            Event.objects.filter(source_id=source_id, message_id__in=message_ids).values_list(
                "message_id", flat=True
            )
        )
        return seen, self.known(keys)

    def suppressed(self, digests: Collection[str]) -> set[str]:
        """Which identifier digests are on the suppression list (one query for the batch)."""
        return suppressed_digests(digests=digests)

    def known(self, keys: Collection[Key]) -> Known:
        """Owners of the identifiers (following merged tombstones), their user ids and stage."""
        if not keys:
            return Known()
        rows = Identity.objects.filter(_key_condition(keys)).values_list(
            "kind", "namespace", "value", "profile_id", "profile__status", "profile__merged_into_id"
        )
        owners = {}
        for kind, namespace, value, profile_id, status, merged_into in rows:
            owners[(kind, namespace, value)] = (
                merged_into if status == Profile.Status.MERGED and merged_into else profile_id
            )
        profiles = set(owners.values())
        user_ids = dict(
            Identity.objects.filter(
                profile_id__in=profiles, kind=Identity.Kind.USER_ID
            ).values_list("profile_id", "value")
        )
        anonymous = set(
            Profile.objects.filter(
                pk__in=profiles, lifecycle_stage=Profile.Lifecycle.ANONYMOUS
            ).values_list("pk", flat=True)
        )
        return Known(owners=owners, user_ids=user_ids, anonymous=anonymous)

    def profile_names(self, profile_ids: Collection[int]) -> dict[int, tuple[str, str]]:
        """The first and last names of profiles that have one (to corroborate a match)."""
        if not profile_ids:
            return {}
        self.flush()
        rows = (
            Profile.objects.filter(pk__in=list(profile_ids))
            .exclude(first_name="", last_name="")
            .values_list("pk", "first_name", "last_name")
        )
        return {pk: (first, last) for pk, first, last in rows}

    def identity_counts(
        self, profile_ids: Collection[int], kinds: Collection[str]
    ) -> dict[tuple[int, str], int]:
        """How many identifiers of each kind the profiles hold (for per-kind maximums)."""
        self.flush()
        rows = (
            Identity.objects.filter(profile_id__in=list(profile_ids), kind__in=list(kinds))
            .values_list("profile_id", "kind")
            .annotate(n=Count("id"))
        )
        return {(profile_id, kind): n for profile_id, kind, n in rows}

    def new_profile_ids(self, lifecycles: list[str]) -> list[int]:
        """Ids for the profiles a batch creates, in the order of `lifecycles`; their fields
        are written by `insert_new_profiles`. Here: empty profiles, inserted now."""
        rows = Profile.objects.bulk_create(
            [Profile(lifecycle_stage=lifecycle) for lifecycle in lifecycles], batch_size=1000
        )
        return [row.pk for row in rows]

    def insert_new_profiles(self, states: list[dict[str, Any]], updated_at: datetime) -> None:
        """Write the fields of the profiles `new_profile_ids` gave ids to."""
        self.update_profiles(states, list(STATE_COLUMNS), updated_at)

    def insert_identities(self, rows: list[tuple[int, Key]], source_id: int) -> None:
        """Identifiers of new owners; one a concurrent batch already stored is left as it is.

        No lock is taken first: the unique index makes an insert of an identifier that a
        concurrent batch has inserted, not committed yet, wait for that batch's end. Rows go
        in one order (sorted by identifier), so two batches never wait for each other in a
        circle; the pipeline asks `identities_taken` and starts again if a batch was first.
        """
        rows = self._identities_sent = sorted(rows, key=lambda row: row[1])
        Identity.objects.bulk_create(
            [
                Identity(
                    profile_id=profile_id,
                    kind=kind,
                    namespace=namespace,
                    value=value,
                    source_id=source_id,
                )
                for profile_id, (kind, namespace, value) in rows
            ],
            ignore_conflicts=True,
            batch_size=1000,
        )

    def identities_taken(self) -> set[Key]:
        """Identifiers `insert_identities` found stored by a batch that committed first."""
        if not self._identities_sent:
            return set()
        wanted = dict((key, profile_id) for profile_id, key in self._identities_sent)
        stored = Identity.objects.filter(_key_condition(wanted)).values_list(
            "kind", "namespace", "value", "profile_id"
        )
        return {
            (kind, namespace, value)
            for kind, namespace, value, profile_id in stored
            if wanted[(kind, namespace, value)] != profile_id
        }

    def stitch(self, absorbed: dict[int, int]) -> None:
        """Move anonymous profiles' identities and events to the profile they turned out to be.

        Rare (an anonymous visitor identifying themself), so plain ORM on every database.
        """
        for anonymous_id, survivor in sorted(absorbed.items()):
            Identity.objects.filter(profile_id=anonymous_id).update(profile_id=survivor)
            Event.objects.filter(profile_id=anonymous_id).update(profile_id=survivor)
            taken = set(
                FieldProvenance.objects.filter(profile_id=survivor).values_list(
                    "field", "source_id"
                )
            )
            movable = [
                pk
                for pk, name, source_id in FieldProvenance.objects.filter(
                    profile_id=anonymous_id
                ).values_list("pk", "field", "source_id")
                if (name, source_id) not in taken
            ]
            FieldProvenance.objects.filter(pk__in=movable).update(profile_id=survivor)
            FieldProvenance.objects.filter(profile_id=anonymous_id).delete()
            _move_issues(anonymous_id, survivor)
            Profile.objects.filter(pk=anonymous_id).update(
                status=Profile.Status.MERGED, merged_into_id=survivor, updated_at=timezone.now()
            )
            ProfileAudit.objects.create(profile_id=anonymous_id, action="stitched", fields=[])

    def lock_profiles(
        self, profile_ids: list[int]
    ) -> tuple[dict[int, dict[str, Any]], list[ProvenanceRow]]:
        """Lock the profiles in primary-key order, then read their state and provenance.

        The provenance is read after the lock: a batch that held it has committed by then.
        The state carries `merged_into_id` and `status`: a merge or an erasure that committed
        while the batch waited for the lock shows here (the pipeline then resolves again).
        """
        rows = (
            Profile.objects.select_for_update()
            .filter(pk__in=profile_ids)
            .order_by("pk")
            .values("id", *STATE_COLUMNS, "merged_into_id", "status")
        )
        states = {row["id"]: row for row in rows}
        provenance = (
            FieldProvenance.objects.filter(profile_id__in=profile_ids)
            .order_by("pk")
            .values_list(
                "profile_id", "field", "source_id", "value", "observed_at", "source__trust_rank"
            )
        )
        return states, [ProvenanceRow(*row) for row in provenance]

    def upsert_provenance(
        self, rows: list[ProvenanceRow], fresh: Collection[int] = frozenset()
    ) -> None:
        """Store each source's latest value of each field; `fresh`: profiles created by this
        transaction, which no other can have rows for (the PostgreSQL store inserts theirs
        without a conflict check)."""
        FieldProvenance.objects.bulk_create(
            [
                FieldProvenance(
                    profile_id=row.profile_id,
                    field=row.field,
                    source_id=row.source_id,
                    value=row.value,
                    observed_at=row.observed_at,
                )
                for row in rows
            ],
            update_conflicts=True,
            unique_fields=["profile", "field", "source"],
            update_fields=["value", "observed_at"],
            batch_size=1000,
        )

    def update_profiles(
        self, states: list[dict[str, Any]], columns: list[str], updated_at: datetime
    ) -> None:
        """Write `columns` and updated_at of existing profiles (locked by this transaction)."""
        # An upsert on the primary key: one multi-row statement, far cheaper than
        # bulk_update's CASE WHEN per field and row.
        Profile.objects.bulk_create(
            [
                Profile(
                    id=state["id"], updated_at=updated_at, **{name: state[name] for name in columns}
                )
                for state in states
            ],
            update_conflicts=True,
            unique_fields=["id"],
            update_fields=[*columns, "updated_at"],
            batch_size=500,
        )

    def insert_audits(self, rows: list[AuditRow], source_id: int) -> None:
        ProfileAudit.objects.bulk_create(
            [
                ProfileAudit(
                    profile_id=profile_id, action=action, fields=fields, source_id=source_id
                )
                for profile_id, action, fields in rows
            ],
            batch_size=1000,
        )

    def upsert_issues(self, rows: list[IssueRow], source_id: int) -> None:
        """Record data-quality issues; one the source reported before is refreshed and reopened.

        `rows` hold one issue per profile, field and code (see `quality_issue_rows`).
        """
        DataQualityIssue.objects.bulk_create(
            [
                DataQualityIssue(
                    profile_id=profile_id,
                    field=issue.field,
                    code=issue.code,
                    severity=issue.severity,
                    message=issue.message[:200],
                    suggestion=issue.suggestion[:320],
                    value=issue.value,
                    source_id=source_id,
                    detected_at=observed_at,
                    resolved_at=None,
                )
                for profile_id, issue, observed_at in rows
            ],
            update_conflicts=True,
            unique_fields=["profile", "field", "code", "source"],
            update_fields=[
                "severity",
                "message",
                "suggestion",
                "value",
                "detected_at",
                "resolved_at",
            ],
            batch_size=1000,
        )

    def score_profiles(self, profile_ids: list[int], weights: dict[str, int]) -> None:
        """Recompute the quality score of the profiles (after their fields and issues)."""
        profiles_score(profile_ids=profile_ids, weights=weights)

    def stored_message_ids(self) -> set[str] | None:
        """Message ids whose events `insert_events` stored; None: all of them.

        The ORM cannot tell which rows a conflict skipped; SQLite, its database, has one
        writer at a time, so no concurrent batch stores the same message meanwhile.
        """
        return None

    def insert_events(self, assigned: Assigned, source_id: int, received_at: datetime) -> None:
        """Append the events; a replay racing this batch is dropped by the unique constraint."""
        Event.objects.bulk_create(
            [
                Event(
                    profile_id=profile_id,
                    source_id=source_id,
                    type=item.type,
                    name=item.name,
                    properties=item.properties,
                    context=item.context,
                    message_id=item.message_id,
                    occurred_at=item.occurred_at,
                    received_at=received_at,
                    **item.utm,
                )
                for item, profile_id in assigned
            ],
            ignore_conflicts=True,
            batch_size=1000,
        )


def _key_condition(keys: Collection[Key]) -> Q:
    """Identities with these identifiers, as one filter (an IN list per kind and namespace)."""
    grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
    for kind, namespace, value in keys:
        grouped[(kind, namespace)].append(value)
    condition = Q()
    for (kind, namespace), values in grouped.items():
        condition |= Q(kind=kind, namespace=namespace, value__in=values)
    return condition
