from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    """Plumbing every app shares: database helpers, cache, rate limits, logs, errors."""

    name = "core"
    verbose_name = _("Core")
