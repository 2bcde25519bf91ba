"""Retention: profiles of a lifecycle stage with no contact for too long are anonymised.

"No contact": neither a message (`last_seen_at`, else `created_at`) nor a consent
decision since the cutoff. Runs are set-based, in bounded batches, each batch its own
transaction through the same function as an erasure (`person_erase`); identifiers are
not suppressed (the person did not ask: a later sign-up is welcome).

A policy's first real run waits for a dry run, and for `CDP_RETENTION_REVIEW_DAYS`
after it, so stewards can read the report and switch the policy off.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import cast

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, Model, OuterRef, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext

from consent.errors import RequestNotReady
from consent.models import ConsentRecord, RetentionPolicy, RetentionRun
from consent.services.person import person_erase

logger = logging.getLogger(__name__)

DEFAULT_REVIEW_DAYS = 7


def _profiles() -> QuerySet:
    # consent imports nothing from profiles: the ledger's foreign key names the model
    # (a class once the apps are loaded; django-stubs also allows the string "self").
    profile_model = cast("type[Model]", ConsentRecord._meta.get_field("profile").related_model)
    return profile_model._default_manager.all()


def retention_candidates(*, policy: RetentionPolicy, cutoff: object) -> QuerySet:
    """Ids of live profiles of the policy's stage with no contact since `cutoff`, oldest first."""
    recent_decision = ConsentRecord.objects.filter(
        profile_id=OuterRef("pk"), recorded_at__gte=cutoff
    )
    return (
        _profiles()
        .filter(status__in=["active", "restricted"], lifecycle_stage=policy.lifecycle_stage)
        .annotate(_contact=Coalesce("last_seen_at", "created_at"))
        .filter(_contact__lt=cutoff)
        .filter(~Exists(recent_decision))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def review_days() -> int:
    return int(getattr(settings, "CDP_RETENTION_REVIEW_DAYS", DEFAULT_REVIEW_DAYS))


def retention_run(
    *, policy: RetentionPolicy, dry_run: bool, max_batches: int | None = None
) -> RetentionRun:
    """Count (dry run) or anonymise the policy's profiles, in batches; the run is the log."""
    now = timezone.now()
    cutoff = now - timedelta(days=policy.days_without_contact)
    if not dry_run and (
        policy.dry_run_at is None or policy.dry_run_at > now - timedelta(days=review_days())
    ):
        raise RequestNotReady(
            gettext(
                "Run a dry run of this policy and wait %(review_days)s days before the real run."
            )
            % {"review_days": review_days()}
        )
    # A real run goes on, under the same record and cutoff, until no profile is left: the
    # next batch of a long run, or the run of a worker that died (the job lease lets one
    # runner at a time), continues the unfinished one instead of starting another.
    run = None
    if not dry_run:
        run = (
            RetentionRun.objects.filter(policy=policy, dry_run=False, finished_at__isnull=True)
            .order_by("-pk")
            .first()
        )
    if run is None:
        run = RetentionRun.objects.create(policy=policy, dry_run=dry_run, cutoff=cutoff)
    candidates = retention_candidates(policy=policy, cutoff=run.cutoff)
    done = dry_run
    if dry_run:
        run.matched = candidates.count()
        policy.dry_run_at = now
        policy.save(update_fields=["dry_run_at"])
    else:
        size = settings.CDP_RETENTION_BATCH
        batches = 0
        while max_batches is None or batches < max_batches:
            with transaction.atomic():
                ids = list(candidates[:size])
                if not ids:
                    done = True
                    break
                person_erase(profile_ids=ids)
                run.matched += len(ids)
                run.anonymised += len(ids)
                run.save(update_fields=["matched", "anonymised"])  # progress
            batches += 1
            logger.info("retention %s: %s anonymised so far", policy.pk, run.anonymised)
    if done:
        run.finished_at = timezone.now()
    run.save(update_fields=["matched", "anonymised", "finished_at"])
    return run


def retention_apply(*, max_batches: int = 20) -> dict[str, int]:
    """What beat runs: a dry run for policies without one, real runs for reviewed ones.

    Returns {"dry_runs", "anonymised", "more"}: `more` > 0 when a policy has profiles left
    after `max_batches` batches (the task then runs again).
    """
    totals = {"dry_runs": 0, "anonymised": 0, "more": 0}
    for policy in RetentionPolicy.objects.filter(is_active=True).order_by("pk"):
        if policy.dry_run_at is None:
            retention_run(policy=policy, dry_run=True)
            totals["dry_runs"] += 1
            continue
        if policy.dry_run_at > timezone.now() - timedelta(days=review_days()):
            continue
        before = (
            RetentionRun.objects.filter(policy=policy, dry_run=False, finished_at__isnull=True)
            .values_list("anonymised", flat=True)
            .first()
            or 0
        )
        run = retention_run(policy=policy, dry_run=False, max_batches=max_batches)
        totals["anonymised"] += run.anonymised - before
        if run.finished_at is None:
            totals["more"] += 1
    return totals
