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
        task="profiles.tasks.intake_drain_task",
        description="Safety net: ingest HTTP messages whose drain task was lost.",
        every_seconds=30,
        queue="ingest",
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
        name="prune heartbeats",
        task="cdp_site.tasks.heartbeat_prune_task",
        description="Forget processes not seen for a week.",
        crontab="17 3 * * *",
    ),
)
