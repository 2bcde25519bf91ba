"""Maintenance runs: re-apply the rules, flag stale profiles, refresh scores, in batches.

A run walks the profiles by id, `CDP_QUALITY_BATCH` at a time, one transaction and one
task per batch (`quality_maintain_task` re-queues itself); its row holds the cursor and
counts, so a steward sees progress and, at the end, a summary. Running a batch twice is
harmless: the run row is locked and its cursor moves on commit. A run owes a job lease
(`core.leases`) until it is done: one worker at a time runs it, and a run whose worker
died is queued again by beat.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext

from core.leases import job_lease_owe
from profiles.fields import PROFILE_FIELDS
from profiles.models import (
    DataQualityIssue,
    MaintenanceRun,
    Profile,
    ProfileAudit,
    Source,
)
from profiles.normalise import (
    Normalised,
    job_function,
    normalise_birth_date,
    normalise_country,
    normalise_email,
    normalise_phone,
    normalise_postcode,
)
from profiles.services.ingest.pipeline import default_store
from profiles.services.ingest.store import ProvenanceRow
from profiles.services.quality.config import QualityConfig, quality_config, quality_config_forget
from profiles.services.quality.score import profiles_score
from profiles.services.quality.survivorship import survivorship_winners

Issue = DataQualityIssue
_ACTIVE = (Profile.Status.ACTIVE, Profile.Status.RESTRICTED)


def maintenance_job(run_id: int) -> str:
    """The job-lease name of a maintenance run."""
    return f"profiles.maintenance:{run_id}"


def maintenance_start(
    *, kind: str, reason: str = "", actor_id: int | None = None, restart: bool = False
) -> MaintenanceRun:
    """The running run of `kind`, or a new one; `restart` sends a running one back to the start.

    One run of a kind at a time: a second start joins the first.
    """
    if kind not in MaintenanceRun.Kind.values:
        raise ValueError(f"unknown maintenance kind {kind!r}")
    with transaction.atomic():
        running = (
            MaintenanceRun.objects.select_for_update()
            .filter(kind=kind, status=MaintenanceRun.Status.RUNNING)
            .order_by("id")
            .first()
        )
        total = Profile.objects.filter(status__in=_ACTIVE).count()
        if running is None:
            running = MaintenanceRun.objects.create(
                kind=kind, reason=reason[:200], started_by_id=actor_id, total=total
            )
        elif restart:
            # Profiles already done saw the old rules: go over them again.
            running.cursor = 0
            running.processed = 0
            running.total = total
            running.reason = (reason or running.reason)[:200]
            running.save(update_fields=["cursor", "processed", "total", "reason"])
        job_lease_owe(
            job=maintenance_job(running.pk),
            task="profiles.tasks.quality_maintain_task",
            kwargs={"kind": kind, "run_id": running.pk},
        )
        return running


@transaction.atomic
def maintenance_run_batch(*, run_id: int, batch_size: int | None = None) -> MaintenanceRun:
    """Process the next batch of a run's profiles; the run is done when none are left."""
    run = MaintenanceRun.objects.select_for_update().get(pk=run_id)
    if run.status != MaintenanceRun.Status.RUNNING:
        return run
    size = batch_size or settings.CDP_QUALITY_BATCH
    ids = list(
        Profile.objects.filter(pk__gt=run.cursor, status__in=_ACTIVE)
        .order_by("pk")
        .values_list("pk", flat=True)[:size]
    )
    if not ids:
        run.status = MaintenanceRun.Status.DONE
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "finished_at"])
        return run
    if run.kind == MaintenanceRun.Kind.RENORMALISE:
        # This worker may hold rules read before the change that started the run.
        quality_config_forget()
        counts = _renormalise(ids, quality_config())
    elif run.kind == MaintenanceRun.Kind.STALE:
        counts = _flag_stale(ids, timezone.now())
    else:
        counts = Counter({"scored": profiles_score(profile_ids=ids, weights=_weights())})
    summary = Counter(run.summary)
    summary.update({name: n for name, n in counts.items() if n})
    run.summary = dict(sorted(summary.items()))
    run.cursor = ids[-1]
    run.processed += len(ids)
    run.changed += counts.get("profiles_changed", 0) + counts.get("flagged", 0)
    run.save(update_fields=["summary", "cursor", "processed", "changed"])
    return run


def maintenance_summary(*, run: MaintenanceRun) -> str:
    """What a run did, in words a steward reads (no personal data)."""
    parts = [f"{run.processed} of {run.total} profiles checked"]
    labels = {
        "issues_resolved": gettext("issues resolved (value valid under the current rules)"),
        "issues_superseded": gettext("issues resolved (the source sent a valid value since)"),
        "values_renormalised": gettext("stored values rewritten in the current form"),
        "profiles_changed": gettext("profiles whose shown values changed"),
        "job_functions": gettext("job functions set or changed"),
        "flagged": gettext("profiles flagged stale"),
        "unflagged": gettext("stale flags cleared (seen again)"),
        "scored": gettext("scores refreshed"),
    }
    for key, label in labels.items():
        if run.summary.get(key):
            parts.append(f"{run.summary[key]} {label}")
    return "; ".join(parts) + "."


def _weights() -> dict[str, int]:
    quality_config_forget()
    return quality_config().weights


# --- re-apply the rules -------------------------------------------------------------------

_CHECKED_FIELDS = ("email", "phone", "country", "date_of_birth", "postcode")


def _check(name: str, value: str, *, region: str, country: str) -> Normalised:
    if name == "email":
        return normalise_email(value)
    if name == "phone":
        return normalise_phone(value, region=region)
    if name == "country":
        return normalise_country(value)
    if name == "date_of_birth":
        return normalise_birth_date(value)
    return normalise_postcode(value, country=country)


def _renormalise(ids: list[int], config: QualityConfig) -> Counter[str]:  # noqa: C901  (one branch per normalised field)
    """Re-check issues and stored values, then recompute winners, job functions and scores."""
    counts: Counter[str] = Counter()
    store = default_store()
    states, provenance = store.lock_profiles(ids)
    regions = dict(Source.objects.values_list("pk", "default_phone_region"))
    now = timezone.now()
    countries = {pk: state["country"] for pk, state in states.items()}
    by_key = {(row.profile_id, row.field, row.source_id): row for row in provenance}

    # 1. Stored values in the current form (a rule may have changed how one is written).
    rewritten = []
    for row in provenance:
        if row.field not in _CHECKED_FIELDS or not row.value:
            continue
        result = _check(
            row.field,
            row.value,
            region=regions.get(row.source_id, ""),
            country=countries.get(row.profile_id, ""),
        )
        if result.ok and result.value and result.value != row.value:
            row.value = result.value
            rewritten.append(row)
    if rewritten:
        store.upsert_provenance(rewritten)
        counts["values_renormalised"] = len(rewritten)

    # 2. Open issues: superseded by a later valid value of the same source, or valid now.
    resolved: list[int] = []
    superseded: list[int] = []
    revived = []
    issues = Issue.objects.filter(
        profile_id__in=ids, resolved_at__isnull=True, source__isnull=False
    ).exclude(code=Issue.Code.STALE)
    for issue in issues.select_related("source").order_by("pk"):
        assert issue.source_id is not None  # source__isnull=False above
        current = by_key.get((issue.profile_id, issue.field, issue.source_id))
        if current is not None and current.observed_at > issue.detected_at and current.value:
            superseded.append(issue.pk)
            continue
        result = _check(
            issue.field,
            issue.value,
            region=regions.get(issue.source_id, ""),
            country=countries.get(issue.profile_id, ""),
        )
        if not result.ok or result.suggestion or not result.value:
            continue
        resolved.append(issue.pk)
        if issue.severity == Issue.Severity.ERROR and current is None:
            # The value was kept out; now valid, it joins the profile's provenance.
            revived_row = _provenance_row(issue, result.value, states, provenance)
            if revived_row is not None:
                revived.append(revived_row)
    if revived:
        store.upsert_provenance(revived)
    store.flush()
    if resolved:
        Issue.objects.filter(pk__in=resolved).update(resolved_at=now)
        counts["issues_resolved"] = len(resolved)
    if superseded:
        Issue.objects.filter(pk__in=superseded).update(resolved_at=now)
        counts["issues_superseded"] = len(superseded)

    # 3. Winners under the current survivorship rules, and job functions.
    winners = survivorship_winners(provenance, config.survivorship)
    changed_states = []
    columns: set[str] = set()
    audits = []
    for profile_id in ids:
        state = states.get(profile_id)
        if state is None:
            continue
        changed = _apply(state, winners.get(profile_id, {}), config)
        if changed:
            counts["profiles_changed"] += 1
            counts["job_functions"] += "job_function" in changed
            columns.update(changed)
            changed_states.append(state)
            audits.append(ProfileAudit(profile_id=profile_id, action="maintenance", fields=changed))
    if changed_states:
        store.update_profiles(changed_states, sorted(columns), now)
        store.flush()
        ProfileAudit.objects.bulk_create(audits, batch_size=1000)
    counts["scored"] = profiles_score(profile_ids=ids, weights=config.weights)
    return counts


def _provenance_row(
    issue: DataQualityIssue,
    value: str,
    states: dict[int, Any],
    provenance: list[ProvenanceRow],
) -> ProvenanceRow | None:
    if issue.profile_id not in states or issue.source is None:
        return None
    row = ProvenanceRow(
        issue.profile_id,
        issue.field,
        issue.source.pk,
        value,
        issue.detected_at,
        issue.source.trust_rank,
    )
    provenance.append(row)
    return row


def _apply(state: dict[str, Any], winners: dict[str, Any], config: QualityConfig) -> list[str]:
    """Set the winning values and the job function on `state`; name the fields that changed."""
    changed = []
    for name in PROFILE_FIELDS:
        winner = winners.get(name)
        if winner is None:
            continue
        text = winner.value
        value: Any = datetime.fromisoformat(text).date() if name == "date_of_birth" else text
        if state[name] != value:
            state[name] = value
            changed.append(name)
    function = job_function(state["job_title"], config.job_rules) if state["job_title"] else ""
    if state["job_title"] and function != state["job_function"]:
        state["job_function"] = function
        changed.append("job_function")
    return changed


# --- stale profiles -----------------------------------------------------------------------


def _flag_stale(ids: list[int], now: datetime) -> Counter[str]:
    """Flag profiles not seen for `CDP_STALE_AFTER_DAYS`; clear flags of those seen again."""
    cutoff = now - timedelta(days=settings.CDP_STALE_AFTER_DAYS)
    open_stale = Issue.objects.filter(
        profile_id=OuterRef("pk"), code=Issue.Code.STALE, resolved_at__isnull=True
    )
    stale = list(
        Profile.objects.filter(pk__in=ids, last_seen_at__lt=cutoff)
        .exclude(Exists(open_stale))
        .values_list("pk", "last_seen_at")
    )
    Issue.objects.bulk_create(
        [
            Issue(
                profile_id=pk,
                field="last_seen_at",
                code=Issue.Code.STALE,
                severity=Issue.Severity.INFO,
                message=gettext("not seen for more than %(CDP_STALE_AFTER_DAYS)s days")
                % {"CDP_STALE_AFTER_DAYS": settings.CDP_STALE_AFTER_DAYS},
                detected_at=now,
            )
            for pk, _ in stale
        ],
        batch_size=1000,
    )
    unflagged = Issue.objects.filter(
        profile_id__in=ids,
        code=Issue.Code.STALE,
        resolved_at__isnull=True,
        profile__last_seen_at__gte=cutoff,
    ).update(resolved_at=now)
    return Counter({"flagged": len(stale), "unflagged": unflagged})
