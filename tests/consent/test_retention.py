"""Retention: dry run first, then set-based anonymisation in bounded batches, logged."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from cdp_site.periodic import PERIODIC_TASKS
from consent.errors import RequestNotReady
from consent.models import RetentionPolicy, RetentionRun
from consent.services import retention_apply, retention_run
from consent.tasks import retention_apply_task
from profiles.models import Event, Profile
from tests.consent.helpers import decide

pytestmark = pytest.mark.django_db

FOUR_YEARS = timedelta(days=4 * 365)


@pytest.fixture
def policy() -> RetentionPolicy:
    """The default policy the migration creates (CNIL: prospects, 3 years)."""
    return RetentionPolicy.objects.get(lifecycle_stage="prospect")


def prospect(email: str, *, idle: timedelta, stage: str = "prospect") -> Profile:
    return Profile.objects.create(
        email=email,
        first_name="Old",
        lifecycle_stage=stage,
        last_seen_at=timezone.now() - idle,
    )


def reviewed(policy: RetentionPolicy) -> RetentionPolicy:
    retention_run(policy=policy, dry_run=True)
    RetentionPolicy.objects.filter(pk=policy.pk).update(
        dry_run_at=timezone.now() - timedelta(days=8)
    )
    policy.refresh_from_db()
    return policy


def test_the_default_policy_anonymises_prospects_after_three_years(policy: Any) -> None:
    assert (policy.days_without_contact, policy.is_active, policy.dry_run_at) == (1095, True, None)


def test_a_dry_run_reports_without_changing_anything(policy: Any, newsletter: Any) -> None:
    prospect("old@example.org", idle=FOUR_YEARS)
    prospect("recent@example.org", idle=timedelta(days=30))
    prospect("customer@example.org", idle=FOUR_YEARS, stage="customer")
    decide(prospect("consented@example.org", idle=FOUR_YEARS), newsletter)

    run = retention_run(policy=policy, dry_run=True)

    assert (run.dry_run, run.matched, run.anonymised) == (True, 1, 0)
    assert run.finished_at is not None
    assert Profile.objects.filter(status="erased").count() == 0
    policy.refresh_from_db()
    assert policy.dry_run_at is not None


def test_no_real_run_before_a_reviewed_dry_run(policy: Any) -> None:
    prospect("old@example.org", idle=FOUR_YEARS)
    with pytest.raises(RequestNotReady):
        retention_run(policy=policy, dry_run=False)
    retention_run(policy=policy, dry_run=True)
    with pytest.raises(RequestNotReady):
        retention_run(policy=policy, dry_run=False)
    assert Profile.objects.filter(status="erased").count() == 0


def test_a_real_run_anonymises_in_bounded_batches_and_logs_it(
    policy: Any, settings: Any, web_form: Any
) -> None:
    settings.CDP_RETENTION_BATCH = 2
    old = [prospect(f"old{i}@example.org", idle=FOUR_YEARS) for i in range(5)]
    Event.objects.create(
        profile=old[0],
        source=web_form,
        type="track",
        name="Visited",
        message_id="e1",
        occurred_at=timezone.now() - FOUR_YEARS,
        received_at=timezone.now() - FOUR_YEARS,
    )
    keep = prospect("recent@example.org", idle=timedelta(days=10))
    policy = reviewed(policy)

    first = retention_run(policy=policy, dry_run=False, max_batches=2)
    assert (first.matched, first.anonymised, first.finished_at) == (4, 4, None)
    # The next call (the task queued again, or beat's after a worker died) continues it.
    second = retention_run(policy=policy, dry_run=False, max_batches=2)
    assert (second.pk, second.anonymised, second.cutoff) == (first.pk, 5, first.cutoff)
    assert second.finished_at is not None

    assert set(
        Profile.objects.filter(pk__in=[p.pk for p in old]).values_list("status", "email")
    ) == {("erased", "")}
    assert Profile.objects.get(pk=keep.pk).status == "active"
    assert Event.objects.count() == 0
    assert list(
        RetentionRun.objects.filter(dry_run=False).values_list("anonymised", flat=True)
    ) == [5]


def test_beat_continues_a_long_run_under_one_record_until_none_is_left(
    policy: Any, settings: Any
) -> None:
    settings.CDP_RETENTION_BATCH = 2
    for i in range(5):
        prospect(f"old{i}@example.org", idle=FOUR_YEARS)
    reviewed(policy)

    assert retention_apply(max_batches=1) == {"dry_runs": 0, "anonymised": 2, "more": 1}
    assert retention_apply(max_batches=1) == {"dry_runs": 0, "anonymised": 2, "more": 1}
    assert retention_apply(max_batches=1) == {"dry_runs": 0, "anonymised": 1, "more": 1}
    assert retention_apply(max_batches=1) == {"dry_runs": 0, "anonymised": 0, "more": 0}
    runs = RetentionRun.objects.filter(dry_run=False)
    assert [(run.anonymised, run.finished_at is not None) for run in runs] == [(5, True)]


def test_beat_dry_runs_a_new_policy_first_then_applies_it(policy: Any) -> None:
    prospect("old@example.org", idle=FOUR_YEARS)

    assert retention_apply() == {"dry_runs": 1, "anonymised": 0, "more": 0}
    assert Profile.objects.get().status == "active"
    RetentionPolicy.objects.filter(pk=policy.pk).update(
        dry_run_at=timezone.now() - timedelta(days=8)
    )
    assert retention_apply_task() == {"dry_runs": 0, "anonymised": 1, "more": 0}
    assert Profile.objects.get().status == "erased"


def test_retention_and_reminders_are_scheduled() -> None:
    tasks = {spec.task for spec in PERIODIC_TASKS}
    assert {"consent.tasks.retention_apply_task", "consent.tasks.dsar_reminders_task"} <= tasks
