"""Maintenance runs: re-apply rules after a change, stale flags, score refresh, summaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from core.models import JobLease
from profiles.models import (
    DataQualityIssue,
    FieldProvenance,
    JobFunctionRule,
    MaintenanceRun,
    Profile,
    QualityWeight,
)
from profiles.services import Message, ingest_messages
from profiles.services.quality.maintenance import (
    maintenance_run_batch,
    maintenance_start,
    maintenance_summary,
)
from profiles.services.quality.rules import quality_rule_delete, quality_rule_save
from profiles.tasks import quality_maintain_task

pytestmark = pytest.mark.django_db


def identify(user_id: str, at: str = "2026-05-01T10:00:00Z", **traits: Any) -> Message:
    return Message(type="identify", user_id=user_id, traits=traits, timestamp=at)


def run_to_end(kind: str, batch_size: int = 2) -> MaintenanceRun:
    run = maintenance_start(kind=kind, reason="test")
    while run.status == MaintenanceRun.Status.RUNNING:
        run = maintenance_run_batch(run_id=run.pk, batch_size=batch_size)
    return run


def test_changing_a_job_function_rule_restarts_a_run_that_reapplies_it(
    web_form: Any, staff_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    ingest_messages(
        source=web_form,
        messages=[identify("u-1", title="Baker"), identify("u-2", title="Head baker")],
    )
    with django_capture_on_commit_callbacks() as callbacks:
        run = quality_rule_save(
            rule=JobFunctionRule(keyword="baker", function="operations", position=1),
            actor_id=staff_user.pk,
        )

    assert callbacks[0].func == quality_maintain_task.apply_async
    assert callbacks[0].keywords == {"kwargs": {"kind": "renormalise", "run_id": run.pk}}
    assert (run.kind, run.status, run.reason, run.started_by_id) == (
        "renormalise",
        "running",
        "job function rule “baker → operations” saved",
        staff_user.pk,
    )

    done = run_to_end("renormalise")

    assert done.pk == run.pk
    assert list(Profile.objects.order_by("pk").values_list("job_function", flat=True)) == [
        "operations",
        "operations",
    ]
    assert (done.status, done.processed, done.total, done.changed) == ("done", 2, 2, 2)
    assert done.summary == {"job_functions": 2, "profiles_changed": 2, "scored": 2}
    assert maintenance_summary(run=done) == (
        "2 of 2 profiles checked; 2 profiles whose shown values changed; "
        "2 job functions set or changed; 2 scores refreshed."
    )
    baker = Profile.objects.get(job_title="Baker")
    assert baker.audit.order_by("-pk").values_list("action", "fields").first() == (
        "maintenance",
        ["job_function"],
    )


def test_the_task_runs_a_batch_and_requeues_itself_until_done(
    web_form: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.CDP_QUALITY_BATCH = 2
    ingest_messages(source=web_form, messages=[identify(f"u-{n}") for n in range(3)])

    with django_capture_on_commit_callbacks() as first:
        quality_maintain_task(kind="scores")
    run = MaintenanceRun.objects.get()
    handed = first[0].keywords["kwargs"]["lease"]
    stray = quality_maintain_task(kind="scores", run_id=run.pk)  # a copy sent twice
    with django_capture_on_commit_callbacks() as second:
        quality_maintain_task(**first[0].keywords["kwargs"])
    with django_capture_on_commit_callbacks() as third:
        quality_maintain_task(**second[0].keywords["kwargs"])
    with django_capture_on_commit_callbacks() as again:
        quality_maintain_task(**second[0].keywords["kwargs"])

    run.refresh_from_db()
    assert [c.keywords for c in first] == [
        {"kwargs": {"kind": "scores", "run_id": run.pk, "lease": handed}}
    ]
    assert second[0].keywords["kwargs"]["lease"] not in ("", handed)
    assert stray == 0
    assert (third, again) == ([], [])
    assert not JobLease.objects.exists()
    assert (run.status, run.processed, run.summary) == ("done", 3, {"scored": 3})


def test_a_second_start_joins_the_running_run(web_form: Any) -> None:
    first = maintenance_start(kind="stale")
    second = maintenance_start(kind="stale")

    assert first.pk == second.pk
    assert MaintenanceRun.objects.count() == 1


def test_an_issue_the_source_corrected_since_is_resolved(web_form: Any) -> None:
    ingest_messages(source=web_form, messages=[identify("u-1", "2026-05-01T10:00:00Z", phone="1")])
    ingest_messages(
        source=web_form,
        messages=[identify("u-1", "2026-05-02T10:00:00Z", phone="06 12 34 56 78")],
    )
    assert Profile.objects.get().quality_score == 10  # phone 10 of 100, an open error

    run = run_to_end("renormalise")

    assert run.summary == {"issues_superseded": 1, "scored": 1}
    assert DataQualityIssue.objects.get().resolved_at is not None
    assert Profile.objects.get().quality_score == 30  # phone 10 + validity 20


def test_a_value_valid_under_the_current_rules_joins_the_profile(web_form: Any) -> None:
    # As if an older rule had refused "Deutschland" as a country.
    ingest_messages(source=web_form, messages=[identify("u-1", email="ada@example.org")])
    profile = Profile.objects.get()
    DataQualityIssue.objects.create(
        profile=profile,
        field="country",
        code="invalid_country",
        severity="error",
        message="invalid country",
        value="Deutschland",
        source=web_form,
        detected_at=datetime(2026, 4, 1, tzinfo=UTC),
    )

    run = run_to_end("renormalise")

    profile.refresh_from_db()
    assert profile.country == "DE"
    assert run.summary == {"issues_resolved": 1, "profiles_changed": 1, "scored": 1}
    assert FieldProvenance.objects.get(field="country").value == "DE"
    assert DataQualityIssue.objects.get().resolved_at is not None


def test_stored_values_are_rewritten_in_the_current_form(web_form: Any) -> None:
    ingest_messages(source=web_form, messages=[identify("u-1", postcode="sw1a1aa")])
    FieldProvenance.objects.filter(field="country").delete()
    FieldProvenance.objects.create(
        profile=Profile.objects.get(),
        field="country",
        source=web_form,
        value="gb",  # written by an older rule
        observed_at=datetime(2026, 5, 1, tzinfo=UTC),
    )

    run = run_to_end("renormalise")

    assert Profile.objects.get().country == "GB"
    assert run.summary["values_renormalised"] == 1


def test_stale_profiles_are_flagged_once_and_cleared_when_seen_again(
    web_form: Any, settings: Any
) -> None:
    settings.CDP_STALE_AFTER_DAYS = 365
    ingest_messages(
        source=web_form,
        messages=[
            identify("u-old", (timezone.now() - timedelta(days=400)).isoformat()),
            identify("u-new", (timezone.now() - timedelta(days=10)).isoformat()),
        ],
    )

    first = run_to_end("stale")
    second = run_to_end("stale")
    ingest_messages(source=web_form, messages=[Message(type="page", user_id="u-old", name="Hi")])
    third = run_to_end("stale")

    issue = DataQualityIssue.objects.get()
    assert (issue.field, issue.code, issue.severity, issue.source_id, issue.message) == (
        "last_seen_at",
        "stale",
        "info",
        None,
        "not seen for more than 365 days",
    )
    assert (first.summary, second.summary, third.summary) == (
        {"flagged": 1},
        {},
        {"unflagged": 1},
    )
    assert issue.resolved_at is not None


def test_a_weight_change_rescores_every_profile(web_form: Any) -> None:
    ingest_messages(source=web_form, messages=[identify("u-1", email="ada@example.org")])
    assert Profile.objects.get().quality_score == 40  # (20 + 20) of 100

    quality_rule_save(rule=QualityWeight(field="timezone", weight=100))
    run_to_end("renormalise")

    assert Profile.objects.get().quality_score == 20  # (20 + 20) of 200


def test_deleting_a_rule_reapplies_the_rest(web_form: Any) -> None:
    ingest_messages(source=web_form, messages=[identify("u-1", title="Growth hacker")])
    assert Profile.objects.get().job_function == "marketing"

    quality_rule_delete(rule=JobFunctionRule.objects.get(keyword="growth"))
    run_to_end("renormalise")

    assert Profile.objects.get().job_function == "other"


def test_saving_something_else_as_a_rule_is_refused() -> None:
    with pytest.raises(TypeError):
        quality_rule_save(rule=Profile())


def test_merged_profiles_are_not_maintained(web_form: Any) -> None:
    ingest_messages(source=web_form, messages=[identify("u-1"), identify("u-2")])
    first, second = Profile.objects.order_by("pk")
    Profile.objects.filter(pk=second.pk).update(status="merged", merged_into=first)

    run = run_to_end("scores")

    assert (run.total, run.processed) == (1, 1)
