"""Operational state shared by every app (no domain models, no personal data)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class RateAllowance(models.Model):
    """A rate limit's state for one client: the next time a request is allowed at (GCRA).

    `key` is a keyed hash of the scope and the client's address, never the address itself.
    A row whose time has passed is the same as no row; `rate_sweep` deletes those.
    """

    key = models.UUIDField(primary_key=True, verbose_name=_("key"))
    allowed_at = models.FloatField(
        help_text=_("Unix time in seconds."), verbose_name=_("allowed at")
    )

    class Meta:
        verbose_name = _("rate allowance")
        verbose_name_plural = _("rate allowances")

    def __str__(self) -> str:
        return str(self.key)
