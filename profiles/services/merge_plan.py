"""What a merge will keep, field by field: computed once, shown before and applied by the merge.

Each field follows its survivorship rule (`SurvivorshipRule`: trust rank then recency by
default, or recency then trust rank) between the kept profile's best source and the other
profile's best source, with two rules of its own:

- between equally trusted sources (the default: every source starts at rank 50) the kept
  profile's value stays: the steward chose which profile to keep, and recency alone does
  not overrule that choice. A field whose rule puts recency first still takes the newer
  value;
- a value of the kept profile that no source stated (a steward's correction) stays.

The other profile's provenance rows move to the kept profile, except those that would
outrank the kept value under the field's rule: they stay on the tombstone (undo needs
nothing else), so survivorship recomputed later, by ingestion or maintenance, reaches the
same values as the merge did.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

from django.utils.translation import gettext

from profiles.fields import PROFILE_FIELDS
from profiles.models import FieldProvenance, Profile
from profiles.services.ingest.pipeline import profile_field_winners, profile_fields_apply
from profiles.services.ingest.store import ProvenanceRow
from profiles.services.quality.config import QualityConfig
from profiles.services.quality.survivorship import (
    RECENCY_THEN_TRUST,
    TRUST_THEN_RECENCY,
    candidate_rank,
)

# A merged profile keeps the furthest stage either profile reached.
_STAGE_RANK: dict[str, int] = {
    Profile.Lifecycle.ANONYMOUS: 0,
    Profile.Lifecycle.LEAD: 1,
    Profile.Lifecycle.PROSPECT: 2,
    Profile.Lifecycle.CUSTOMER: 3,
    Profile.Lifecycle.CHURNED: 3,
}
# Survivorship sets the job function with the job title (`profile_fields_apply`), so both
# are read and written together.
MERGED_FIELDS = (
    *PROFILE_FIELDS,
    "job_function",
    "traits",
    "first_seen_at",
    "last_seen_at",
    "lifecycle_stage",
)


class Row(NamedTuple):
    """A provenance row as the plan reads it (a survivorship candidate with its id)."""

    pk: int
    profile_id: int
    field: str
    source_id: int
    value: str
    observed_at: datetime
    trust_rank: int
    source_name: str


@dataclass(frozen=True)
class FieldOutcome:
    """One field: both profiles' values, the value the merge keeps, and why."""

    field: str
    kept: Any
    other: Any
    result: Any
    winner: str  # "kept", "other" or "same"
    why: str


@dataclass
class MergePlan:
    fields: list[FieldOutcome]
    # The survivor's values after the merge (every name of MERGED_FIELDS).
    state: dict[str, Any]
    # Provenance rows of the other profile that move to the kept one.
    moved: list[int] = field(default_factory=list)
    # (kept row, other row): same field and source, the other's newer value replaces ours.
    replaced: list[tuple[Row, Row]] = field(default_factory=list)


def merge_rows(profile_ids: list[int]) -> dict[int, list[Row]]:
    """Both profiles' provenance, by profile, in id order."""
    rows: dict[int, list[Row]] = {pk: [] for pk in profile_ids}
    for values in (
        FieldProvenance.objects.filter(profile_id__in=profile_ids)
        .order_by("pk")
        .values_list(
            "pk",
            "profile_id",
            "field",
            "source_id",
            "value",
            "observed_at",
            "source__trust_rank",
            "source__name",
        )
    ):
        row = Row(*values)
        rows[row.profile_id].append(row)
    return rows


def _best(rows: list[Row], strategy: str) -> Row | None:
    candidates = [row for row in rows if row.value]
    if not candidates:
        return None
    return max(candidates, key=lambda row: candidate_rank(row, strategy))


def _outranks(row: Row, kept: Row, strategy: str) -> bool:
    """Would `row` take the field from the kept value? Equal trust is not enough."""
    if strategy == RECENCY_THEN_TRUST:
        return candidate_rank(row, strategy) > candidate_rank(kept, strategy)
    return row.trust_rank > kept.trust_rank


def _empty(value: Any) -> bool:
    return value in ("", None)


def _why(mine: Row | None, other: Row, strategy: str) -> tuple[str, str]:
    """Which side a field's rule gives a disputed field to, and the reason in words."""
    if mine is None:
        return "kept", gettext("set on the kept profile by a steward")
    names = {"kept": mine.source_name, "other": other.source_name}
    if _outranks(other, mine, strategy):
        if strategy == RECENCY_THEN_TRUST:
            return "other", gettext("more recent (this field's rule: most recent first)")
        return "other", gettext("{other} is trusted more than {kept}").format(**names)
    if strategy == RECENCY_THEN_TRUST:
        return "kept", gettext("more recent (this field's rule: most recent first)")
    if mine.trust_rank > other.trust_rank:
        return "kept", gettext("{kept} is trusted more than {other}").format(**names)
    return "kept", gettext("sources equally trusted: the kept profile's value stays")


def _plan_provenance(
    plan: MergePlan, survivor: Profile, ours: list[Row], theirs: list[Row], config: QualityConfig
) -> dict[str, tuple[str, str]]:
    """Choose the other's rows that move (or replace ours); the decision per disputed field."""
    mine_by_field: dict[str, list[Row]] = defaultdict(list)
    for row in ours:
        mine_by_field[row.field].append(row)
    theirs_by_field: dict[str, list[Row]] = defaultdict(list)
    for row in theirs:
        theirs_by_field[row.field].append(row)
    decisions: dict[str, tuple[str, str]] = {}
    for name, rows in theirs_by_field.items():
        strategy = config.survivorship.get(name, TRUST_THEN_RECENCY)
        mine = _best(mine_by_field.get(name, []), strategy)
        other = _best(rows, strategy)
        kept_value = _shown(getattr(survivor, name, ""))
        disputed = other is not None and not _empty(kept_value) and other.value != kept_value
        if other is not None and disputed:
            decisions[name] = _why(mine, other, strategy)
        same_source = {row.source_id: row for row in mine_by_field.get(name, [])}
        for row in rows:
            guarded = disputed and decisions[name][0] == "kept" and row.value != kept_value
            # A row that would take the field from the kept value stays on the tombstone.
            if guarded and (
                mine is None or candidate_rank(row, strategy) > candidate_rank(mine, strategy)
            ):
                continue
            ours_row = same_source.get(row.source_id)
            if ours_row is None:
                plan.moved.append(row.pk)
            elif row.observed_at > ours_row.observed_at:
                plan.replaced.append((ours_row, row))
    return decisions


def merge_plan_compute(
    *,
    survivor: Profile,
    absorbed: Profile,
    ours: list[Row],
    theirs: list[Row],
    config: QualityConfig,
) -> MergePlan:
    """Each field's value after merging `absorbed` into `survivor`, and the rows that move."""
    plan = MergePlan(fields=[], state={name: getattr(survivor, name) for name in MERGED_FIELDS})
    decisions = _plan_provenance(plan, survivor, ours, theirs, config)
    replaced = {kept.pk: other for kept, other in plan.replaced}
    moved = set(plan.moved)
    after = [
        row._replace(value=replaced[row.pk].value, observed_at=replaced[row.pk].observed_at)
        if row.pk in replaced
        else row
        for row in ours
    ] + [row._replace(profile_id=survivor.pk) for row in theirs if row.pk in moved]
    state = plan.state
    rows = [
        ProvenanceRow(r.profile_id, r.field, r.source_id, r.value, r.observed_at, r.trust_rank)
        for r in after
    ]
    profile_fields_apply(
        state, [], profile_field_winners(rows, config.survivorship).get(survivor.pk, {}), config
    )
    for name in (*PROFILE_FIELDS, "job_function"):
        # Values no source stated (a steward's edit) fill only what the survivor lacks.
        if _empty(state[name]) and not _empty(getattr(absorbed, name)):
            state[name] = getattr(absorbed, name)
    state["traits"] = {**absorbed.traits, **state["traits"]}
    seen = [value for value in (state["first_seen_at"], absorbed.first_seen_at) if value]
    state["first_seen_at"] = min(seen) if seen else None
    seen = [value for value in (state["last_seen_at"], absorbed.last_seen_at) if value]
    state["last_seen_at"] = max(seen) if seen else None
    if _STAGE_RANK[absorbed.lifecycle_stage] > _STAGE_RANK[state["lifecycle_stage"]]:
        state["lifecycle_stage"] = absorbed.lifecycle_stage
    plan.fields = _outcomes(survivor, absorbed, state, decisions)
    return plan


def _outcomes(
    survivor: Profile,
    absorbed: Profile,
    state: dict[str, Any],
    decisions: dict[str, tuple[str, str]],
) -> list[FieldOutcome]:
    outcomes = []
    for name in (*PROFILE_FIELDS, "job_function", "lifecycle_stage"):
        kept, other, result = getattr(survivor, name), getattr(absorbed, name), state[name]
        if kept == other:
            winner, why = "same", gettext("same value")
        elif _empty(other):
            winner, why = "kept", gettext("only the kept profile has a value")
        elif _empty(kept):
            winner, why = "other", gettext("only the other profile has a value")
        elif name == "job_function":
            winner, why = "kept" if result == kept else "other", gettext("follows the job title")
        elif name == "lifecycle_stage":
            winner = "kept" if result == kept else "other"
            why = gettext("the furthest stage either profile reached")
        elif name in decisions:
            winner, why = decisions[name]
        else:
            winner, why = "kept", gettext("the other value was stated by no source")
        if winner != "same":  # as computed, whatever the reason's side
            winner = "kept" if result == kept else "other" if result == other else winner
        shown = (_shown(kept), _shown(other), _shown(result))
        outcomes.append(FieldOutcome(name, *shown, winner, why))
    return outcomes


def _shown(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value
