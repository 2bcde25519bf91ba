"""What is left of erased people's events: anonymous counts per day, type, name and source."""

from __future__ import annotations

from django.db import models

from profiles.models.core import Source


class EventAggregate(models.Model):
    """Events of erased or anonymised profiles, folded into counts; no profile, no properties."""

    day = models.DateField()
    type = models.CharField(max_length=16)
    name = models.CharField(max_length=200, blank=True)
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="+")
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "type", "name", "source"], name="event_aggregate_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.type} {self.name}: {self.count}"
