"""The celery app: configuration comes from Django settings (CELERY_* names)."""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdp_site.settings")

app = Celery("cdp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
from cdp_site import worker  # noqa: E402,F401  (connects the process hooks)


@after_setup_logger.connect
@after_setup_task_logger.connect
def redact_worker_logs(logger: logging.Logger, **_: Any) -> None:
    """The worker replaces the root logger's handlers with its own: they redact too."""
    from core.logs import redact_handlers

    redact_handlers(logger)
