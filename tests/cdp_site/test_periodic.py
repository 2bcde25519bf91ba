import json

import pytest
from django_celery_beat.models import PeriodicTask

from cdp_site.periodic import PERIODIC_TASKS, PeriodicSpec
from cdp_site.services import CODE_PREFIX, schedule_sync

pytestmark = pytest.mark.django_db

NIGHTLY = PeriodicSpec(
    name="nightly", task="cdp_site.tasks.heartbeat_prune_task", description="d", crontab="0 2 * * *"
)


def test_a_fresh_install_gets_every_declared_task() -> None:
    counts = schedule_sync()

    names = set(PeriodicTask.objects.values_list("name", flat=True))
    assert counts == {"created": len(PERIODIC_TASKS), "updated": 0, "deleted": 0}
    assert names == {CODE_PREFIX + spec.name for spec in PERIODIC_TASKS}


def test_syncing_twice_changes_nothing() -> None:
    schedule_sync()

    assert schedule_sync() == {"created": 0, "updated": 0, "deleted": 0}


def test_a_changed_declaration_updates_the_task_and_keeps_the_stewards_switch() -> None:
    schedule_sync(specs=(NIGHTLY,))
    PeriodicTask.objects.filter(name=CODE_PREFIX + "nightly").update(enabled=False)
    changed = PeriodicSpec(
        name="nightly",
        task="cdp_site.tasks.heartbeat_prune_task",
        description="d",
        every_seconds=600,
        kwargs={"days": 3},
    )

    counts = schedule_sync(specs=(changed,))

    task = PeriodicTask.objects.get(name=CODE_PREFIX + "nightly")
    assert counts == {"created": 0, "updated": 1, "deleted": 0}
    assert task.enabled is False
    assert task.crontab is None
    assert task.interval.every == 600
    assert json.loads(task.kwargs) == {"days": 3}


def test_tasks_removed_from_code_are_deleted_but_hand_made_ones_stay() -> None:
    schedule_sync(specs=(NIGHTLY,))
    hand_made = PeriodicTask.objects.create(
        name="steward's own",
        task="cdp_site.tasks.heartbeat_prune_task",
        interval=PeriodicTask.objects.get().interval or None,
        crontab=PeriodicTask.objects.get().crontab,
    )

    counts = schedule_sync(specs=())

    assert counts == {"created": 0, "updated": 0, "deleted": 1}
    assert list(PeriodicTask.objects.values_list("pk", flat=True)) == [hand_made.pk]


def test_a_spec_needs_exactly_one_schedule() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        PeriodicSpec(name="x", task="t", description="", every_seconds=5, crontab="* * * * *")
