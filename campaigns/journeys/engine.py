"""The journey engine: claim due enrolments, advance them as sets, one transaction a batch.

A batch takes up to N due enrolments with FOR UPDATE SKIP LOCKED and, grouped by
(version, step), executes each step for the whole group: a branch is one query over the
group's profiles, a split a hash, a wait a due time, a send one INSERT of outbox rows. The
step log rows, the outbox rows, the profile changes and the enrolments' new steps commit
together: a worker killed at any moment leaves the batch as it was, to be claimed again,
so no step runs twice and none is lost. The row locks are the lease: no step does work
outside the transaction (a send is an outbox row; the outbox sends it exactly once).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, JSONField, Value
from django.db.models.expressions import RawSQL
from django.utils import timezone

from campaigns import policy
from campaigns.journeys.definition import (
    Definition,
    Step,
    definition_parse,
    duration_parse,
    split_variants,
    time_parse,
)
from campaigns.models import Enrolment, Journey, JourneyVersion, Message, StepLog
from campaigns.selectors import template_latest_version, withdrawn_profile_ids
from campaigns.services.outbox import message_id_make
from core.ids import id_in
from profiles.models import Profile, ProfileAudit
from profiles.services.events import rows_insert_from
from segments.compiler import compile_rule
from segments.services import segment_members_add, segment_members_remove

logger = logging.getLogger(__name__)

ENTRY = ""  # the step of a new enrolment: entering the definition's start step
FINISH = "\x00finish"
BATCH = 5000


class Row(NamedTuple):
    id: int
    journey_id: int
    version_id: int
    profile_id: int
    step: str
    visit: int
    event_at: datetime | None


@dataclass
class Advance:
    claimed: int = 0
    steps: int = 0
    finished: int = 0
    exited: int = 0
    messages: int = 0
    batches: int = 0
    by_step: dict[str, int] = field(default_factory=dict)

    def add(self, other: Advance) -> None:
        self.claimed += other.claimed
        self.steps += other.steps
        self.finished += other.finished
        self.exited += other.exited
        self.messages += other.messages
        self.batches += other.batches


def version_definition(version_id: int) -> Definition:
    """A version's parsed definition (read by id, parsed once per distinct text)."""
    raw = JourneyVersion.objects.values_list("definition", flat=True).get(pk=version_id)
    return _parsed(json.dumps(raw, sort_keys=True))


@functools.lru_cache(maxsize=256)
def _parsed(text: str) -> Definition:
    return definition_parse(json.loads(text), check_references=False)


def variant_pick(*, journey_id: int, profile_id: int, step: Step) -> str:
    """The variant of a split for one person: a stable hash, the same on every run."""
    variants = split_variants(step)
    total = sum(weight for _, weight, _ in variants)
    digest = hashlib.sha256(f"{journey_id}:{profile_id}:{step.key}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") % total
    for name, weight, _ in variants:
        if point < weight:
            return name
        point -= weight
    return variants[-1][0]


def arrival_due(step: Step, *, now: datetime, zone: Any = None) -> datetime:
    """When a step that a person just reached is due."""
    if step.type == "wait":
        return now + duration_parse(step.raw["duration"], "")
    if step.type == "wait_for_event":
        return now + duration_parse(step.raw["timeout"], "")
    if step.type == "wait_until":
        return policy.next_local_time(
            now=now,
            zone=zone,
            at=time_parse(step.raw["time"], ""),
            weekdays=step.raw.get("weekdays", range(7)),
        )
    return now


def journeys_advance(
    *, limit: int | None = None, budget_seconds: float = 50.0, now: datetime | None = None
) -> Advance:
    """Advance due enrolments batch after batch until none is due or the budget is spent
    (batches of `limit`, else settings.CDP_JOURNEY_BATCH)."""
    batch = limit or int(getattr(settings, "CDP_JOURNEY_BATCH", BATCH))
    total = Advance()
    started = time.monotonic()
    while time.monotonic() - started < budget_seconds:
        result = _advance_batch(limit=batch, now=now or timezone.now())
        total.add(result)
        if not result.claimed:
            break
    if total.claimed:
        logger.info(
            "journeys: %d steps, %d finished, %d exited, %d messages in %d batches",
            total.steps,
            total.finished,
            total.exited,
            total.messages,
            total.batches,
        )
    return total


@transaction.atomic
def _advance_batch(*, limit: int, now: datetime) -> Advance:
    due = Enrolment.objects.filter(
        status=Enrolment.Status.RUNNING, due_at__lte=now, journey__status=Journey.Status.ACTIVE
    ).order_by("due_at", "id")
    if connection.features.has_select_for_update_skip_locked:
        due = due.select_for_update(skip_locked=True, of=("self",))
    rows = [
        Row(*values)
        for values in due.values_list(
            "id", "journey_id", "version_id", "profile_id", "step", "visit", "event_at"
        )[:limit]
    ]
    result = Advance(claimed=len(rows), batches=1 if rows else 0)
    if not rows:
        return result
    rows = _exit_the_gone(rows, now, result)
    groups: dict[tuple[int, str], list[Row]] = defaultdict(list)
    for row in rows:
        groups[(row.version_id, row.step)].append(row)
    journeys = Journey.objects.in_bulk({row.journey_id for row in rows})
    definitions = {version_id: version_definition(version_id) for version_id, _ in groups}
    moves: list[tuple[Row, str, str, str]] = []  # row, outcome, target, variant
    for (version_id, key), group in groups.items():
        definition = definitions[version_id]
        if key == ENTRY:
            moves.extend((row, "", definition.start, "") for row in group)
            continue
        step = definition.steps[key]
        moves.extend(_execute(step, group, journeys, now, result))
        result.by_step[step.type] = result.by_step.get(step.type, 0) + len(group)
    _log_and_move(moves, definitions, now, result)
    return result


def _exit_the_gone(rows: list[Row], now: datetime, result: Advance) -> list[Row]:
    """Exit those no longer reachable: not active (erased, merged, restricted) or withdrawn."""
    profile_ids = {row.profile_id for row in rows}
    gone = set(
        Profile.objects.filter(id_in("pk", profile_ids))
        .exclude(status=Profile.Status.ACTIVE)
        .values_list("pk", flat=True)
    )
    reasons: dict[int, str] = {row.id: "profile" for row in rows if row.profile_id in gone}
    by_journey: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        if row.id not in reasons:
            by_journey[row.journey_id].append(row)
    journeys = Journey.objects.select_related("purpose").in_bulk(list(by_journey))
    for journey_id, group in by_journey.items():
        withdrawn = withdrawn_profile_ids(
            purpose=journeys[journey_id].purpose, profile_ids=[row.profile_id for row in group]
        )
        reasons.update({row.id: "consent" for row in group if row.profile_id in withdrawn})
    by_reason: dict[str, list[int]] = defaultdict(list)
    for pk, reason in reasons.items():
        by_reason[reason].append(pk)
    for reason, pks in by_reason.items():
        Enrolment.objects.filter(id_in("pk", pks)).update(
            status=Enrolment.Status.EXITED, exit_reason=reason, finished_at=now, due_at=None
        )
    result.exited += len(reasons)
    return [row for row in rows if row.id not in reasons]


def _execute(
    step: Step, group: list[Row], journeys: dict[int, Journey], now: datetime, result: Advance
) -> list[tuple[Row, str, str, str]]:
    """The outcome and next step of each row of a group at one step (sends write rows)."""
    target = step.targets.get
    if step.type in ("wait", "wait_until"):
        return [(row, "waited", target("next", ""), "") for row in group]
    if step.type == "wait_for_event":
        return [
            (row, "event", target("next", ""), "")
            if row.event_at
            else (row, "timeout", target("timeout_next", ""), "")
            for row in group
        ]
    if step.type == "branch":
        matching = set(
            Profile.objects.filter(id_in("pk", [row.profile_id for row in group]))
            .filter(compile_rule(step.raw["rule"], now=now))
            .values_list("pk", flat=True)
        )
        return [
            (row, "yes", target("yes", ""), "")
            if row.profile_id in matching
            else (row, "no", target("no", ""), "")
            for row in group
        ]
    if step.type == "split":
        moves = []
        for row in group:
            name = variant_pick(journey_id=row.journey_id, profile_id=row.profile_id, step=step)
            moves.append((row, name, step.targets[name], name))
        return moves
    profile_ids = [row.profile_id for row in group]
    if step.type == "update_profile":
        _update_profiles(step, profile_ids, now)
    elif step.type == "add_to_segment":
        segment_members_add(segment_id=step.raw["segment"], profile_ids=profile_ids)
    elif step.type == "remove_from_segment":
        segment_members_remove(segment_id=step.raw["segment"], profile_ids=profile_ids)
    elif step.type == "exit":
        return [(row, "exit", FINISH, "") for row in group]
    elif step.type in ("send", "webhook"):
        return [(row, "send", target("next", ""), "") for row in group]
    return [(row, "done", target("next", ""), "") for row in group]


def _update_profiles(step: Step, profile_ids: Sequence[int], now: datetime) -> None:
    """Set the lifecycle stage or one trait of active profiles, with their audit rows."""
    profiles = Profile.objects.filter(id_in("pk", profile_ids), status=Profile.Status.ACTIVE)
    if "lifecycle_stage" in step.raw:
        changed = profiles.exclude(lifecycle_stage=step.raw["lifecycle_stage"])
        ids = list(changed.values_list("pk", flat=True))
        Profile.objects.filter(id_in("pk", ids)).update(lifecycle_stage=step.raw["lifecycle_stage"])
        fields = ["lifecycle_stage"]
    else:
        patch = json.dumps({step.raw["trait"]: step.raw["value"]})
        merged = (
            RawSQL("traits || %s::jsonb", [patch])
            if connection.vendor == "postgresql"
            else RawSQL("json_patch(traits, %s)", [patch])
        )
        ids = list(profiles.values_list("pk", flat=True))
        Profile.objects.filter(id_in("pk", ids)).update(traits=merged)
        fields = [f"traits.{step.raw['trait']}"]
    rows_insert_from(
        model=ProfileAudit,
        fields=["profile", "action", "fields", "at"],
        rows=Profile.objects.filter(id_in("pk", ids))
        .order_by()
        .values_list("pk", Value("journey"), Value(fields, output_field=JSONField()), Value(now)),
    )


def _log_and_move(
    moves: list[tuple[Row, str, str, str]],
    definitions: dict[int, Definition],
    now: datetime,
    result: Advance,
) -> None:
    """Write the step log, the sends' outbox rows, and move each set of rows on."""
    # The step log: one INSERT ... SELECT from the enrolment rows per (step, outcome).
    logged: dict[tuple[str, str, str], list[Row]] = defaultdict(list)
    for row, outcome, _, variant in moves:
        if row.step:
            logged[(row.step, outcome, variant)].append(row)
    sends: list[tuple[int, Row]] = []
    for (key, outcome, variant), group in logged.items():
        ids = [row.id for row in group]
        result.steps += rows_insert_from(
            model=StepLog,
            fields=["enrolment", "visit", "journey", "step", "outcome", "variant", "at"],
            rows=Enrolment.objects.filter(id_in("pk", ids))
            .order_by()
            .values_list(
                "pk",
                F("visit") + Value(1),
                "journey_id",
                "step",
                Value(outcome),
                Value(variant),
                Value(now),
            ),
        )
        if outcome == "send":
            by_enrolment = {row.id: row for row in group}
            sends.extend(
                (log_id, by_enrolment[enrolment_id])
                for log_id, enrolment_id in StepLog.objects.filter(
                    id_in("enrolment_id", ids), step=key, at=now
                ).values_list("pk", "enrolment_id")
            )
    if sends:
        result.messages += _messages_create(sends, definitions, now)
    # Arrival: where each row goes next and when that step is due.
    arrivals: dict[tuple[str, datetime, str, bool], list[int]] = defaultdict(list)
    finished: list[int] = []
    zones = _zones_for(moves, definitions)
    for row, _, target, variant in moves:
        if target == FINISH:
            finished.append(row.id)
            continue
        step = definitions[row.version_id].steps[target]
        due = arrival_due(step, now=now, zone=zones.get(row.profile_id))
        arrivals[(target, due, variant, bool(row.step))].append(row.id)
    for (target, due, variant, counts), ids in arrivals.items():
        changes: dict[str, Any] = {"step": target, "due_at": due, "event_at": None}
        if counts:
            changes["visit"] = F("visit") + Value(1)
        if variant:
            changes["variant"] = variant
        Enrolment.objects.filter(id_in("pk", ids)).update(**changes)
    if finished:
        Enrolment.objects.filter(id_in("pk", finished)).update(
            status=Enrolment.Status.COMPLETED,
            finished_at=now,
            due_at=None,
            visit=F("visit") + Value(1),
        )
    result.finished += len(finished)
    if sends:
        from campaigns.tasks import outbox_send_task

        transaction.on_commit(lambda: outbox_send_task.delay())


def _zones_for(
    moves: list[tuple[Row, str, str, str]], definitions: dict[int, Definition]
) -> dict[int, Any]:
    """The time zone of each person about to wait until a local time (one query)."""
    waiting = [
        row.profile_id
        for row, _, target, _ in moves
        if target != FINISH and definitions[row.version_id].steps[target].type == "wait_until"
    ]
    if not waiting:
        return {}
    return {
        pk: policy.recipient_zone(timezone=zone, country=country)
        for pk, zone, country in Profile.objects.filter(id_in("pk", waiting)).values_list(
            "pk", "timezone", "country"
        )
    }


def _webhook_message(log_id: int, row: Row, step: Step, journey: Journey, now: datetime) -> Message:
    """A webhook step's call: an outbox row of the webhook channel (signed POST, retried
    with backoff, gated on consent like an email; see campaigns/services/webhooks.py)."""
    return Message(
        origin_kind=Message.Origin.JOURNEY_STEP,
        origin_id=log_id,
        profile_id=row.profile_id,
        channel=Message.Channel.WEBHOOK,
        endpoint_id=step.raw["endpoint"],
        payload={**step.raw.get("payload", {}), "journey": journey.pk, "step": row.step},
        purpose_id=journey.purpose_id,
        kind=step.raw.get("kind", Message.Kind.MARKETING),
        message_id=message_id_make(
            origin_kind=Message.Origin.JOURNEY_STEP, origin_id=log_id, profile_id=row.profile_id
        ),
        due_at=now,
    )


def _messages_create(
    sends: list[tuple[int, Row]], definitions: dict[int, Definition], now: datetime
) -> int:
    """One outbox row per send step visit: its origin is the step log row, never reused."""
    journeys = Journey.objects.in_bulk({row.journey_id for _, row in sends})
    versions: dict[int, int] = {}
    messages = []
    for log_id, row in sends:
        step = definitions[row.version_id].steps[row.step]
        if step.type == "webhook":
            messages.append(_webhook_message(log_id, row, step, journeys[row.journey_id], now))
            continue
        template_id = step.raw["template"]
        if template_id not in versions:
            latest = template_latest_version(template_id=template_id)
            if latest is None:
                continue  # the template lost its versions: nothing to send, the step still ran
            versions[template_id] = latest.pk
        messages.append(
            Message(
                origin_kind=Message.Origin.JOURNEY_STEP,
                origin_id=log_id,
                profile_id=row.profile_id,
                purpose_id=journeys[row.journey_id].purpose_id,
                kind=step.raw.get("kind", Message.Kind.MARKETING),
                template_version_id=versions[template_id],
                message_id=message_id_make(
                    origin_kind=Message.Origin.JOURNEY_STEP,
                    origin_id=log_id,
                    profile_id=row.profile_id,
                ),
                due_at=now,
            )
        )
    Message.objects.bulk_create(messages, batch_size=2000)
    return len(messages)
