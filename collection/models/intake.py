"""The intake buffer: validated messages waiting for the ingestion worker."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from profiles.models import Source


class IntakeBatch(models.Model):
    """Validated messages of one HTTP request, waiting for the ingestion worker.

    The API answers once the batch is here (one row, durable), and the worker drains
    this table in set-based batches; a lost broker message only delays the drain (beat
    also drains).
    """

    source = models.ForeignKey(
        Source, on_delete=models.PROTECT, related_name="+", verbose_name=_("source")
    )
    # Text, not jsonb: the request serialises the messages once and PostgreSQL stores the
    # bytes without parsing them; the drain reads them back with one json.loads.
    messages = models.TextField(
        help_text=_("The accepted messages' fields, as a JSON array."), verbose_name=_("messages")
    )
    count = models.PositiveIntegerField(verbose_name=_("count"))
    received_at = models.DateTimeField(verbose_name=_("received at"))
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    last_error = models.CharField(max_length=200, blank=True, verbose_name=_("last error"))

    class Meta:
        verbose_name = _("intake batch")
        verbose_name_plural = _("intake batches")
        indexes = [models.Index(fields=["attempts", "id"], name="intake_attempts_id_idx")]

    def __str__(self) -> str:
        return f"intake #{self.pk} ({self.count} messages)"
