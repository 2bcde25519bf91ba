"""Runs started before job leases existed owe one, so beat resumes them if they stalled."""

from django.db import migrations
from django.utils import timezone


def owe(apps, schema_editor):  # type: ignore[no-untyped-def]
    JobLease = apps.get_model("core", "JobLease")
    MaintenanceRun = apps.get_model("profiles", "MaintenanceRun")
    DuplicateScan = apps.get_model("profiles", "DuplicateScan")
    now = timezone.now()  # already past: the next requeue by beat queues them
    rows = [
        JobLease(
            job=f"profiles.maintenance:{run.pk}",
            task="profiles.tasks.quality_maintain_task",
            kwargs={"kind": run.kind, "run_id": run.pk},
            expires_at=now,
            requested_at=now,
        )
        for run in MaintenanceRun.objects.filter(status="running")
    ] + [
        JobLease(
            job=f"profiles.duplicates_full:{scan.pk}",
            task="profiles.tasks.duplicates_full_scan_task",
            kwargs={"scan_id": scan.pk},
            expires_at=now,
            requested_at=now,
        )
        for scan in DuplicateScan.objects.filter(kind="full", status="running")
    ]
    JobLease.objects.bulk_create(rows, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0004_job_leases"),
        ("profiles", "0009_translatable_names"),
    ]

    operations = [migrations.RunPython(owe, migrations.RunPython.noop)]
