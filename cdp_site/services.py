"""Writes of the site layer: process heartbeats and the periodic schedule."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from cdp_site.models import Heartbeat
from cdp_site.periodic import PERIODIC_TASKS, PeriodicSpec

# Periodic tasks owned by code carry this prefix; the sync never touches other rows.
CODE_PREFIX = "cdp: "


def heartbeat_record(*, kind: str, name: str, at: datetime | None = None) -> None:
    """Upsert the last-seen time of one process in a single statement (safe under races)."""
    Heartbeat.objects.bulk_create(
        [Heartbeat(kind=kind, name=name[:200], seen_at=at or timezone.now())],
        update_conflicts=True,
        unique_fields=["kind", "name"],
        update_fields=["seen_at"],
    )


def heartbeat_prune(*, older_than: timedelta) -> int:
    """Forget processes not seen for longer than `older_than`; returns how many."""
    deleted, _ = Heartbeat.objects.filter(seen_at__lt=timezone.now() - older_than).delete()
    return deleted


def _schedule_for(spec: PeriodicSpec) -> dict[str, object]:
    if spec.every_seconds is not None:
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=spec.every_seconds, period=IntervalSchedule.SECONDS
        )
        return {"interval": interval, "crontab": None}
    assert spec.crontab is not None  # PeriodicSpec checks it gives exactly one of the two
    minute, hour, day_of_month, month_of_year, day_of_week = spec.crontab.split()
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
        timezone="UTC",
    )
    return {"interval": None, "crontab": crontab}


@transaction.atomic
def schedule_sync(*, specs: tuple[PeriodicSpec, ...] = PERIODIC_TASKS) -> dict[str, int]:
    """Make django-celery-beat hold exactly the periodic tasks declared in code.

    The schedule, task and arguments come from code; whether a task is enabled is the
    steward's choice once it exists. Code tasks no longer declared are deleted.
    """
    created = updated = 0
    names = set()
    for spec in specs:
        name = CODE_PREFIX + spec.name
        names.add(name)
        fields = {
            "task": spec.task,
            "kwargs": json.dumps(spec.kwargs, sort_keys=True),
            "queue": spec.queue,
            "description": spec.description,
            **_schedule_for(spec),
        }
        task, was_created = PeriodicTask.objects.select_for_update().get_or_create(
            name=name, defaults=fields
        )
        if was_created:
            created += 1
            continue
        changed = [key for key, value in fields.items() if getattr(task, key) != value]
        if changed:
            for key in changed:
                setattr(task, key, fields[key])
            task.save(update_fields=changed)
            updated += 1
    deleted, _ = (
        PeriodicTask.objects.filter(name__startswith=CODE_PREFIX).exclude(name__in=names).delete()
    )
    return {"created": created, "updated": updated, "deleted": deleted}


def roles_sync() -> dict[str, int]:
    """Give each steward group exactly the permissions its role grants."""
    from django.contrib.auth.models import Group, Permission

    from cdp_site.roles import FORBIDDEN_CODENAMES, ROLE_GRANTS, VIEWER, WITHHELD_FROM_VIEWERS

    counts: dict[str, int] = {}
    for role, grants in ROLE_GRANTS.items():
        group, _ = Group.objects.get_or_create(name=role)
        permission_ids: set[int] = set()
        withheld = FORBIDDEN_CODENAMES | (WITHHELD_FROM_VIEWERS if role == VIEWER else set())
        for app_labels, actions in grants:
            for perm_id, codename in Permission.objects.filter(
                content_type__app_label__in=app_labels
            ).values_list("id", "codename"):
                if codename.split("_", 1)[0] in actions and codename not in withheld:
                    permission_ids.add(perm_id)
        group.permissions.set(permission_ids)
        counts[role] = len(permission_ids)
    return counts
