from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _sync_roles(sender: AppConfig, **kwargs: Any) -> None:
    from cdp_site.services import roles_sync

    roles_sync()


class CdpSiteConfig(AppConfig):
    name = "cdp_site"
    verbose_name = _("Site operations")

    def ready(self) -> None:
        # Permissions of every app exist only after migrate; grant them to the roles then.
        post_migrate.connect(_sync_roles, sender=self, dispatch_uid="cdp_site.sync_roles")
