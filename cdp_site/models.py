"""Operational state of the running processes (not personal data)."""

from django.db import models


class Heartbeat(models.Model):
    """The last sign of life of a worker or of the scheduler, one row per process name."""

    class Kind(models.TextChoices):
        WORKER = "worker", "Celery worker"
        SCHEDULER = "scheduler", "Scheduler (beat) round trip"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=200)
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "name"], name="heartbeat_kind_name_unique")
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"
