from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Plumbing every app shares: database helpers, cache, rate limits, logs, errors."""

    name = "core"
    verbose_name = "Core"
