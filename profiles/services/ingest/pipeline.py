"""The pipeline of one batch; each step is a set operation, the store does the SQL."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cache
from typing import Any, cast

from django.db import OperationalError, connection, transaction
from django.db.models import Field
from django.utils import timezone
from django.utils.translation import gettext

from consent.models import ConsentRecord
from core.i18n import language_supported
from profiles.errors import InvalidMessage
from profiles.fields import PROFILE_FIELDS
from profiles.models import (
    DataQualityIssue,
    Event,
    FieldProvenance,
    Identity,
    Profile,
    ProfileAudit,
    Source,
)
from profiles.normalise import job_function
from profiles.services.consent_capture import ConsentCapture, consent_capture
from profiles.services.identity_rules import (
    IdentityRules,
    identifiers_shared_record,
    identity_conflicts_record,
    identity_rules_current,
)
from profiles.services.ingest.collector import cycle_collector_paused
from profiles.services.ingest.resolve import NAMED_KINDS, Known, NewProfile, Resolver, item_names
from profiles.services.ingest.results import BatchResult, MessageResult
from profiles.services.ingest.store import (
    STATE_COLUMNS,
    Assigned,
    AuditRow,
    IssueRow,
    OrmStore,
    ProvenanceRow,
)
from profiles.services.ingest.suppression import batch_digests, suppression_filter
from profiles.services.messages import Key, Message, Prepared, message_prepare
from profiles.services.quality.config import QualityConfig, quality_config
from profiles.services.quality.score import quality_score
from profiles.services.quality.survivorship import survivorship_winners

_PROFILE_FIELDS = frozenset(PROFILE_FIELDS)
logger = logging.getLogger(__name__)

# What a batch writes: the tables whose planner statistics a large import leaves behind.
WRITTEN_MODELS = (
    Profile,
    Identity,
    FieldProvenance,
    Event,
    ProfileAudit,
    DataQualityIssue,
    ConsentRecord,
)


def default_store() -> OrmStore:
    """Hand-written SQL on PostgreSQL; the ORM reference everywhere else (SQLite)."""
    if connection.vendor == "postgresql":
        from profiles.services.ingest.postgres import PostgresStore

        return PostgresStore()
    return OrmStore()


def ingest_messages(
    *,
    source: Source,
    messages: Sequence[Message],
    received_at: datetime | None = None,
    prechecked: bool = False,
) -> BatchResult:
    """Store a batch: valid messages land on one profile each, invalid ones are reported.

    `received_at` is when the messages reached us (the intake buffer drains later);
    it defaults to now. `prechecked`: see `message_prepare`.
    """
    with cycle_collector_paused():
        for attempt in range(_ATTEMPTS):
            try:
                return ingest_batch(
                    source=source,
                    messages=messages,
                    store=default_store(),
                    received_at=received_at,
                    prechecked=prechecked,
                )
            except ChangedMeanwhile as exc:
                # The batch rolled back; its identifiers point at the survivor now (or,
                # for an erased person, at nobody: the suppression check runs again), or
                # at the profiles a concurrent batch created for them.
                logger.info(
                    "ingestion batch of %d messages from source %d started again: %s",
                    len(messages),
                    source.pk,
                    exc,
                )
                if attempt == _ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")


# Each new attempt knows what made the last one fail (it has committed by then), so only
# yet another concurrent change to the same people can fail it again.
_ATTEMPTS = 5


class ChangedMeanwhile(OperationalError):
    """Since the batch's look-up, a profile of it was merged or erased, or a concurrent
    batch stored some of the batch's new identifiers first.

    An OperationalError, like PostgreSQL's serialization failures: a conflict that goes
    away if the work is done again, so the tasks that retry on those retry on it too.
    """


@transaction.atomic
def ingest_batch(
    *,
    source: Source,
    messages: Sequence[Message],
    store: OrmStore,
    received_at: datetime | None = None,
    prechecked: bool = False,
) -> BatchResult:
    """`ingest_messages` with the store chosen by the caller (tests compare the stores)."""
    now = received_at or timezone.now()
    prepared, results = _prepare_all(messages, source, now, prechecked)
    digests = batch_digests(prepared)
    if digests:
        suppressed = store.suppressed(digests)
        if suppressed:
            prepared = suppression_filter(prepared, source, results, suppressed)
    if not prepared:
        return BatchResult(results=[result for result in results if result is not None])
    # Identifiers of replayed messages are looked up too: that changes no answer, and the
    # look-up shares the round trip of the replay check.
    seen, known = store.lookup(source.pk, [item.message_id for item in prepared], _keys(prepared))
    prepared = _drop_duplicates(prepared, seen, results)
    if not prepared:
        return BatchResult(results=[result for result in results if result is not None])
    rules = identity_rules_current()
    _read_what_rules_need(prepared, known, rules, store)
    resolver = Resolver(known, rules)
    assigned_temp = [(item, resolver.resolve(item)) for item in prepared]

    new = list(resolver.new_profiles.values())
    created = store.new_profile_ids([entry.lifecycle for entry in new])
    real_id = {entry.temp_id: pk for entry, pk in zip(new, created, strict=True)}

    def final(profile_id: int) -> int:
        profile_id = resolver.survivor(profile_id)
        return real_id.get(profile_id, profile_id)

    store.insert_identities(
        [(final(owner), key) for key, owner in resolver.new_identities.items()], source.pk
    )
    stitches = {
        real_id.get(absorbed, absorbed): final(survivor)
        for absorbed, survivor in resolver.stitches.items()
    }
    if stitches:
        store.stitch(stitches)
    assigned = [(item, final(profile_id)) for item, profile_id in assigned_temp]
    # Profiles this batch created and nothing else has touched: no issue but the batch's,
    # no provenance, and no other transaction sees them, so nothing to lock or read.
    fresh = set(created).difference(stitches.values())
    # Row locks in primary-key order: concurrent batches on the same people never deadlock.
    profiles, provenance = store.lock_profiles(
        sorted({profile_id for _, profile_id in assigned} - fresh)
    )
    # The batch's new profiles have no row yet (or, in the ORM store, an empty one).
    profiles.update(
        _new_states(set(created) - profiles.keys(), dict(zip(created, new, strict=True)))
    )
    if any(
        state["merged_into_id"] is not None or state["status"] == Profile.Status.ERASED
        for state in profiles.values()
    ):
        raise ChangedMeanwhile(gettext("a profile of the batch was merged or erased"))
    if store.identities_taken():
        # A concurrent batch stored some of our new identifiers first (ours waited for it
        # to commit): start again, and its profiles are the owners the look-up finds.
        raise ChangedMeanwhile(gettext("a concurrent batch stored the same new identifiers"))
    config = quality_config()  # before the pipeline below, which takes writes only
    with store.sending():
        # The events first: the database stores them while the fields are worked out.
        store.insert_events(assigned, source.pk, now)
        updated = _apply_fields(
            assigned, source, set(created), fresh, profiles, provenance, store, config
        )
    store.flush()
    if resolver.shared:
        identifiers_shared_record(keys=sorted(resolver.shared))
    if resolver.conflicts:
        identity_conflicts_record(
            conflicts=[
                (final(profile_id), final(other), key, reason)
                for profile_id, other, key, reason in resolver.conflicts
            ]
        )
    captures = [
        ConsentCapture(
            profile_id=profile_id,
            message_type=item.type,
            message_id=item.message_id,
            context=item.context,
            occurred_at=item.occurred_at,
        )
        for item, profile_id in assigned
        if item.context.get("consent")
    ]
    if captures:
        # Decisions sent with the messages go to the ledger, through its own service.
        consent_capture(source_id=source.pk, captures=captures)
    # A concurrent batch may have stored the same message after our look-up: its event
    # stands, ours was skipped, and the message is answered as the replay it turned out to be.
    stored = store.stored_message_ids()
    events = 0
    for item, profile_id in assigned:
        if stored is None or item.message_id in stored:
            events += 1
            results[item.index] = MessageResult(
                index=item.index, status="ok", message_id=item.message_id, profile_id=profile_id
            )
        else:
            results[item.index] = MessageResult(
                index=item.index, status="duplicate", message_id=item.message_id
            )
    return BatchResult(
        results=[result for result in results if result is not None],
        profiles_created=len(created),
        profiles_updated=updated,
        events_created=events,
    )


def _new_states(profile_ids: Iterable[int], new: dict[int, NewProfile]) -> dict[int, Any]:
    """The state of profiles the batch creates before it sets their fields: the defaults."""
    defaults = _defaults()
    return {
        profile_id: {
            **defaults,
            "id": profile_id,
            "lifecycle_stage": new[profile_id].lifecycle,
            "traits": {},
        }
        for profile_id in profile_ids
    }


@cache
def _defaults() -> dict[str, Any]:
    fields = [cast(Field, Profile._meta.get_field(name)) for name in (*STATE_COLUMNS, "status")]
    return {field.attname: field.get_default() for field in fields} | {"merged_into_id": None}


def _prepare_all(
    messages: Sequence[Message], source: Source, now: datetime, prechecked: bool
) -> tuple[list[Prepared], list[MessageResult | None]]:
    results: list[MessageResult | None] = [None] * len(messages)
    prepared: list[Prepared] = []
    for index, message in enumerate(messages):
        try:
            prepared.append(
                message_prepare(
                    message=message, index=index, source=source, now=now, prechecked=prechecked
                )
            )
        except InvalidMessage as exc:
            results[index] = MessageResult(
                index=index,
                status="error",
                message_id=str(message.message_id or ""),
                errors=exc.fields or {"message": [str(exc)]},
            )
    return prepared, results


def _keys(prepared: list[Prepared]) -> set[Key]:
    keys = {key for item in prepared for key in item.keys}
    return keys | {item.alias_of for item in prepared if item.alias_of is not None}


def _read_what_rules_need(
    prepared: list[Prepared], known: Known, rules: IdentityRules, store: OrmStore
) -> None:
    """Identifier counts and owners' names, only where the batch needs them (often not)."""
    kinds = _kinds_to_count(prepared, known, rules)
    if kinds:
        known.counts = store.identity_counts(set(known.owners.values()), kinds)
    named = _named_owners(prepared, known)
    if named:
        known.names = store.profile_names(named)


def _named_owners(prepared: list[Prepared], known: Known) -> set[int]:
    """Known owners of the email and phone values of messages that name someone."""
    if not known.owners:
        return set()
    owners = set()
    for item in prepared:
        if any(item_names(item)):
            for key in item.keys:
                owner = known.owners.get(key)
                if owner is not None and key[0] in NAMED_KINDS:
                    owners.add(owner)
    return owners


def _kinds_to_count(prepared: list[Prepared], known: Known, rules: IdentityRules) -> list[str]:
    """Kinds whose counts per known profile the resolver needs; usually none (no query).

    Counts serve per-kind maximums (other than one user id) and messages whose lower
    identifier has an owner that a higher one does not share (see `Resolver._holds_other`).
    """
    if not known.owners:
        return []
    kinds = {kind for kind in rules.max_per_profile if kind != Identity.Kind.USER_ID}
    for item in prepared:
        owners = [known.owners.get(key) for key in item.keys]
        if any(owner is not None for owner in owners) and len(set(owners)) > 1:
            kinds.update(
                key[0]
                for key in item.keys
                if key[0] not in (Identity.Kind.USER_ID, Identity.Kind.ANONYMOUS_ID)
            )
    return sorted(kinds)


def _drop_duplicates(
    prepared: list[Prepared], seen: set[str], results: list[MessageResult | None]
) -> list[Prepared]:
    """Drop message ids the source already sent, in an earlier batch or earlier in this one."""
    fresh = []
    for item in prepared:
        if item.message_id in seen:
            results[item.index] = MessageResult(
                index=item.index, status="duplicate", message_id=item.message_id
            )
        else:
            seen.add(item.message_id)
            fresh.append(item)
    return fresh


def profile_field_winners(
    rows: Iterable[ProvenanceRow], strategies: dict[str, str] | None = None
) -> dict[int, dict[str, str]]:
    """Survivorship: per field's rule, trust rank then recency (or the reverse); never empty.

    By profile, then field: a profile's fields are read together, and only those it has.
    """
    return {
        profile_id: {name: row.value for name, row in fields.items()}
        for profile_id, fields in survivorship_winners(rows, strategies).items()
    }


def _language_from_browser(assigned: Assigned, profiles: dict[int, dict[str, Any]]) -> None:
    """A person with no language takes their browser's: a message's `context.locale` (a
    form's Accept-Language, an SDK's navigator.language) naming a language we support is
    observed as the language field, unless the message or the profile states one."""
    for item, profile_id in assigned:
        if "language" in item.fields or profiles[profile_id].get("language"):
            continue
        locale = item.context.get("locale")
        code = language_supported(stated=locale) if isinstance(locale, str) else None
        if code:
            item.fields["language"] = code


def _observe(
    assigned: Assigned, source: Source, provenance: list[ProvenanceRow]
) -> list[ProvenanceRow]:
    """Fold the batch's field values into the provenance read; return the rows to upsert.

    Applying the upserts to the rows in memory spares reading them back for survivorship.
    """
    observations: dict[tuple[int, str], tuple[str, datetime]] = {}
    for item, profile_id in assigned:
        for name, value in item.fields.items():
            current = observations.get((profile_id, name))
            if current is None or item.occurred_at >= current[1]:
                observations[(profile_id, name)] = (value, item.occurred_at)
    ours = {(row.profile_id, row.field): row for row in provenance if row.source_id == source.pk}
    upserts = []
    for (profile_id, name), (value, observed_at) in observations.items():
        row = ours.get((profile_id, name))
        if row is None:
            # Ranked as the caller's Source says, not re-read from the database: the two
            # differ only if the source was re-ranked after the caller loaded it.
            row = ProvenanceRow(profile_id, name, source.pk, value, observed_at, source.trust_rank)
            provenance.append(row)
        elif row.observed_at > observed_at or row.value == value:
            continue  # an older replay never overwrites a newer observation
        else:
            row.value, row.observed_at = value, observed_at
        upserts.append(row)
    return upserts


def _apply_fields(
    assigned: Assigned,
    source: Source,
    created: set[int],
    fresh: set[int],
    profiles: dict[int, dict[str, Any]],
    provenance: list[ProvenanceRow],
    store: OrmStore,
    config: QualityConfig,
) -> int:
    """Upsert provenance, recompute survivorship and write changed profile fields.

    `profiles` and `provenance` are what `store.lock_profiles` read under lock; `config`
    the data-quality rules (survivorship, job functions, score weights). The `fresh`
    profiles (created by the batch, nobody else's issues) are scored here, in the same
    UPDATE as their fields; the others by `store.score_profiles`, which reads their issues.
    """
    issues = quality_issue_rows(assigned)
    severities: dict[int, list[str]] = defaultdict(list)
    for profile_id, issue, _ in issues:
        severities[profile_id].append(issue.severity)
    _language_from_browser(assigned, profiles)
    upserts = _observe(assigned, source, provenance)
    if upserts:
        store.upsert_provenance(upserts, fresh)
    winners = profile_field_winners(provenance, config.survivorship)
    by_profile: dict[int, list[Prepared]] = defaultdict(list)
    for item, profile_id in assigned:
        by_profile[profile_id].append(item)
    changed_profiles = []
    audits: list[AuditRow] = []
    update_fields: set[str] = set()
    for profile_id, items in by_profile.items():
        profile = profiles[profile_id]
        changed = profile_fields_apply(profile, items, winners.get(profile_id, {}), config)
        last_seen = max(item.occurred_at for item in items)
        first_seen = min(item.occurred_at for item in items)
        if profile["last_seen_at"] is None or last_seen > profile["last_seen_at"]:
            profile["last_seen_at"] = last_seen
            update_fields.add("last_seen_at")
        if profile["first_seen_at"] is None or first_seen < profile["first_seen_at"]:
            profile["first_seen_at"] = first_seen
            update_fields.add("first_seen_at")
        update_fields.update(changed)
        if profile_id in fresh and (changed or profile_id in severities):
            _score_fresh(profile, severities.get(profile_id, []), config)
            update_fields.add("quality_score")
        changed_profiles.append(profile)
        if changed:
            action = "created" if profile_id in created else "ingested"
            audits.append((profile_id, action, sorted(changed)))
    now = timezone.now()
    store.insert_new_profiles(sorted((profiles[pk] for pk in created), key=_by_id), now)
    changed_profiles = [profile for profile in changed_profiles if profile["id"] not in created]
    if changed_profiles and update_fields:
        store.update_profiles(sorted(changed_profiles, key=_by_id), sorted(update_fields), now)
    if audits:
        store.insert_audits(audits, source.pk)
    if issues:
        store.upsert_issues(issues, source.pk)
    # After the issues: the score reads them. Fresh profiles were scored above.
    scored = {profile_id for profile_id, _, _ in audits} | severities.keys()
    if scored - fresh:
        store.score_profiles(sorted(scored - fresh), config.weights)
    return sum(1 for _, action, _ in audits if action == "ingested")


def _by_id(profile: dict[str, Any]) -> int:
    return profile["id"]


def _score_fresh(profile: dict[str, Any], severities: list[str], config: QualityConfig) -> None:
    """Score a profile the batch created: its only open issues are the batch's."""
    profile["quality_score"] = quality_score(
        profile,
        config.weights,
        errors=severities.count(DataQualityIssue.Severity.ERROR),
        warnings=severities.count(DataQualityIssue.Severity.WARNING),
    )


def quality_issue_rows(assigned: Assigned) -> list[IssueRow]:
    """One issue per profile, field and code: the latest message's, as the upsert needs."""
    latest: dict[tuple[int, str, str], IssueRow] = {}
    for item, profile_id in assigned:
        for issue in item.issues:
            key = (profile_id, issue.field, issue.code)
            current = latest.get(key)
            if current is None or item.occurred_at >= current[2]:
                latest[key] = (profile_id, issue, item.occurred_at)
    return [latest[key] for key in sorted(latest)]


def profile_fields_apply(
    profile: dict[str, Any],
    items: list[Prepared],
    winners: dict[str, str],
    config: QualityConfig | None = None,
) -> list[str]:
    """Set the surviving values, traits and stage on `profile`; name the fields that changed.

    `winners`: the profile's surviving field values (other fields a source told are kept
    in provenance only).
    """
    changed = []
    for name, winner in winners.items():
        if name not in _PROFILE_FIELDS:
            continue
        value: Any = datetime.fromisoformat(winner).date() if name == "date_of_birth" else winner
        if profile[name] != value:
            profile[name] = value
            changed.append(name)
    if "job_title" in changed or (profile["job_title"] and not profile["job_function"]):
        rules = config.job_rules if config is not None else QualityConfig().job_rules
        function = job_function(profile["job_title"], rules)
        if function != profile["job_function"]:
            profile["job_function"] = function
            changed.append("job_function")
    with_traits = [item for item in items if item.traits]
    if with_traits:
        traits = dict(profile["traits"])
        for item in sorted(with_traits, key=lambda item: item.occurred_at):
            traits.update(item.traits)
        if traits != profile["traits"]:
            profile["traits"] = traits
            changed.append("traits")
    if profile["lifecycle_stage"] == Profile.Lifecycle.ANONYMOUS and any(
        key[0] != Identity.Kind.ANONYMOUS_ID for item in items for key in item.keys
    ):
        profile["lifecycle_stage"] = Profile.Lifecycle.LEAD
        changed.append("lifecycle_stage")
    return changed
