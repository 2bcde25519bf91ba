"""What is left of erased people's events: anonymous counts per day, type, name and source."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from profiles.models.core import Source


class EventAggregate(models.Model):
    """Events of erased or anonymised profiles, folded into counts; no profile, no properties."""

    day = models.DateField(verbose_name=_("day"))
    type = models.CharField(max_length=16, verbose_name=_("type"))
    name = models.CharField(max_length=200, blank=True, verbose_name=_("name"))
    source = models.ForeignKey(
        Source, on_delete=models.PROTECT, related_name="+", verbose_name=_("source")
    )
    count = models.PositiveIntegerField(default=0, verbose_name=_("count"))

    class Meta:
        verbose_name = _("event aggregate")
        verbose_name_plural = _("event aggregates")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "type", "name", "source"], name="event_aggregate_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.type} {self.name}: {self.count}"
