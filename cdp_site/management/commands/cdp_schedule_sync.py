"""Copy the periodic tasks declared in code into django-celery-beat."""

from typing import Any

from django.core.management.base import BaseCommand

from cdp_site.services import schedule_sync


class Command(BaseCommand):
    help = "Sync the periodic tasks declared in cdp_site/periodic.py into the scheduler."

    def handle(self, *args: Any, **options: Any) -> None:
        counts = schedule_sync()
        self.stdout.write(
            f"periodic tasks: {counts['created']} created, {counts['updated']} updated, "
            f"{counts['deleted']} deleted"
        )
