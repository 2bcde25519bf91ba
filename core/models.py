"""Operational state shared by every app (no domain models, no personal data)."""

from django.db import models


class RateAllowance(models.Model):
    """A rate limit's state for one client: the next time a request is allowed at (GCRA).

    `key` is a keyed hash of the scope and the client's address, never the address itself.
    A row whose time has passed is the same as no row; `rate_sweep` deletes those.
    """

    key = models.UUIDField(primary_key=True)
    allowed_at = models.FloatField(help_text="Unix time in seconds.")

    def __str__(self) -> str:
        return str(self.key)
