"""Every periodic task of the project, declared in one place.

`schedule_sync` copies this list into django-celery-beat when beat starts (and on
`manage.py cdp_schedule_sync`), so a fresh install is scheduled without clicks.
Apps add their entries here as they grow.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PeriodicSpec:
    name: str
    task: str
    description: str
    every_seconds: int | None = None
    # "minute hour day_of_month month_of_year day_of_week", in UTC.
    crontab: str | None = None
    queue: str = "default"
    kwargs: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.every_seconds is None) == (self.crontab is None):
            raise ValueError(f"{self.name}: give exactly one of every_seconds or crontab")


PERIODIC_TASKS: tuple[PeriodicSpec, ...] = (
    PeriodicSpec(
        name="scheduler heartbeat",
        task="cdp_site.tasks.scheduler_heartbeat_task",
        description="Proves beat -> broker -> worker -> database works; shown on /health/.",
        every_seconds=30,
    ),
    PeriodicSpec(
        name="drain intake buffer",
        task="collection.tasks.intake_drain_task",
        description="Safety net: ingest HTTP messages whose drain task was lost.",
        every_seconds=30,
        queue="ingest",
    ),
    PeriodicSpec(
        name="data quality: re-apply rules",
        task="profiles.tasks.quality_maintain_task",
        description="Re-check open issues and stored values, recompute winners, job "
        "functions and scores (also started by every rule change).",
        crontab="40 2 * * *",
        kwargs={"kind": "renormalise"},
    ),
    PeriodicSpec(
        name="data quality: stale profiles",
        task="profiles.tasks.quality_maintain_task",
        description="Flag profiles not seen for CDP_STALE_AFTER_DAYS; clear flags of "
        "those seen again.",
        crontab="10 4 * * 0",
        kwargs={"kind": "stale"},
    ),
    PeriodicSpec(
        name="data quality: refresh scores",
        task="profiles.tasks.quality_maintain_task",
        description="Recompute every profile's quality score (weights or issues changed).",
        crontab="25 3 * * *",
        kwargs={"kind": "scores"},
    ),
    PeriodicSpec(
        name="retention policies",
        task="consent.tasks.retention_apply_task",
        description="Anonymise profiles past their retention (dry run first, then real runs).",
        crontab="40 2 * * *",
    ),
    PeriodicSpec(
        name="imports: resume stalled jobs",
        task="collection.tasks.import_leases_requeue_task",
        description="Queue again the imports whose lease expired (CDP_IMPORT_LEASE_SECONDS "
        "without a batch: their worker died); a resumed job imports no row twice.",
        every_seconds=30,
    ),
    PeriodicSpec(
        name="long jobs: resume stalled ones",
        task="cdp_site.tasks.job_leases_requeue_task",
        description="Queue again the duplicate scans, maintenance and retention runs and "
        "segment refreshes whose lease expired (CDP_JOB_LEASE_SECONDS unrenewed: their "
        "worker died); each resumes where its last batch stopped.",
        every_seconds=30,
    ),
    PeriodicSpec(
        name="import files retention",
        task="collection.tasks.import_files_expire_task",
        description="Delete uploaded import files and error reports "
        "CDP_IMPORT_FILE_RETENTION_DAYS after their job finished (the job row stays).",
        crontab="50 2 * * *",
    ),
    PeriodicSpec(
        name="data-subject request reminders",
        task="consent.tasks.dsar_reminders_task",
        description="Mail handlers the requests overdue or due within 7 days (ids only).",
        crontab="0 7 * * 1-5",
    ),
    PeriodicSpec(
        name="segments: catch up with new events",
        task="segments.tasks.segments_catch_up_task",
        description="Re-evaluate segments for the people whose events arrived since last run.",
        every_seconds=15,
        queue="segments",
    ),
    PeriodicSpec(
        name="segments: refresh due segments",
        task="segments.tasks.segments_refresh_due_task",
        description="Full refresh of each dynamic segment at its chosen interval.",
        every_seconds=60,
        queue="segments",
    ),
    PeriodicSpec(
        name="campaigns: send due messages",
        task="campaigns.tasks.outbox_send_task",
        description="Claim due outbox messages (broadcasts, held ones whose quiet hours "
        "ended, expired leases) and send them.",
        every_seconds=15,
        queue="journeys",
    ),
    PeriodicSpec(
        name="journeys: triggers and due steps",
        task="campaigns.tasks.journeys_tick_task",
        description="Read new events (enrol, wake those waiting for one, exit, count goals), "
        "then advance due enrolments as sets.",
        every_seconds=10,
        queue="journeys",
    ),
    PeriodicSpec(
        name="probable duplicates (new and changed profiles)",
        task="profiles.tasks.duplicates_scan_task",
        description="Compare profiles created or changed since the last run (audit log cursor).",
        every_seconds=60,
    ),
    PeriodicSpec(
        name="probable duplicates (full scan)",
        task="profiles.tasks.duplicates_full_scan_task",
        description="Compare every active profile again: keys and scores under today's rules.",
        crontab="41 2 * * *",
    ),
    PeriodicSpec(
        name="daily rollups (catch up)",
        task="reports.tasks.rollups_catch_up_task",
        description="Count the events and consent decisions recorded since the last run, "
        "and recount the last days' message skips, failures and journey conversions.",
        every_seconds=60,
        queue="reports",
    ),
    PeriodicSpec(
        name="daily rollups (rebuild)",
        task="reports.tasks.rollups_rebuild_task",
        description="Recount every daily rollup from the event log and the consent ledger.",
        crontab="23 3 * * *",
        queue="reports",
    ),
    PeriodicSpec(
        name="dashboard figures",
        task="reports.tasks.figures_snapshot_task",
        description="Count people and contactable people per purpose for the dashboard.",
        every_seconds=300,
        queue="reports",
    ),
    PeriodicSpec(
        name="lifecycle snapshot",
        task="reports.tasks.lifecycle_snapshot_task",
        description="Count today's people per sign-up month and lifecycle stage "
        "(the funnel report's cohorts); the day's last count stays.",
        crontab="*/30 * * * *",
        queue="reports",
    ),
    PeriodicSpec(
        name="scheduled reports",
        task="reports.tasks.report_deliveries_task",
        description="Email each scheduled report once its period is over.",
        every_seconds=300,
        queue="reports",
    ),
    PeriodicSpec(
        name="prune heartbeats",
        task="cdp_site.tasks.heartbeat_prune_task",
        description="Forget processes not seen for a week.",
        crontab="17 3 * * *",
    ),
    PeriodicSpec(
        name="sweep rate limits",
        task="cdp_site.tasks.rate_sweep_task",
        description="Delete rate-limit rows of clients back to a full allowance.",
        every_seconds=600,
    ),
)
