"""Django's PostgreSQL backend, but a connection that just worked is not pinged again.

With `CONN_HEALTH_CHECKS`, Django sends `SELECT 1` before the first query of every request
on a persistent connection: half of the database round trips of a form post or a `/v1`
call. As pgbouncer's `server_check_delay` (and HikariCP's alive-bypass window) do, a
connection that served a request without error less than `HEALTH_CHECK_DELAY` seconds ago
is taken as alive; an idle one is checked as before. The cost: a server restart within
that window fails the one request that finds the dead connection (Django then closes it).
"""

from __future__ import annotations

import time

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    _verified_at: float | None = None
    # Django's (5.1), not yet in django-stubs.
    health_check_enabled: bool
    health_check_done: bool

    @property
    def health_check_delay(self) -> float:
        return float(self.settings_dict.get("OPTIONS", {}).get("health_check_delay", 0) or 0)

    def close_if_health_check_failed(self) -> None:
        if (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and self._verified_at is not None
            and time.monotonic() - self._verified_at < self.health_check_delay
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def close_if_unusable_or_obsolete(self) -> None:
        # At a request's end: a connection used in it (checked or trusted) without error.
        used_cleanly = (
            self.connection is not None and self.health_check_done and not self.errors_occurred
        )
        super().close_if_unusable_or_obsolete()
        if used_cleanly and self.connection is not None:
            self._verified_at = time.monotonic()

    def connect(self) -> None:
        super().connect()
        self._verified_at = None

    def get_connection_params(self) -> dict:
        params = super().get_connection_params()
        params.pop("health_check_delay", None)  # ours, not libpq's
        return params
