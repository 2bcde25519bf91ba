"""Load demo data and a steward login; safe to run again (idempotent)."""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from campaigns.demo import campaigns_demo_ab_journey, campaigns_demo_history, campaigns_demo_load
from campaigns.journeys.demo import journeys_demo_load
from cdp_site.roles import ADMIN
from cdp_site.services import roles_sync, schedule_sync
from collection.demo import collection_demo_load
from consent.demo import consent_demo_history, consent_demo_load
from profiles.demo import (
    profiles_demo_backdate,
    profiles_demo_load,
    profiles_demo_request_subjects,
    profiles_demo_scan,
)
from reports.services import figures_snapshot_refresh, lifecycle_snapshot_take, rollups_rebuild
from segments.demo import segments_demo_load

DEMO_USER = "steward"


def demo_password() -> str:
    """CDP_DEMO_PASSWORD, else a random one kept in var/ so re-runs print the same."""
    from_env = os.environ.get("CDP_DEMO_PASSWORD")
    if from_env:
        return from_env
    path = settings.VAR_DIR / "demo_password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(12))
        path.chmod(0o600)
    return path.read_text().strip()


class Command(BaseCommand):
    help = "Create the demo steward login and demo data (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        password = demo_password()
        with transaction.atomic():
            roles_sync()
            schedule_sync()
            user, created = get_user_model().objects.get_or_create(
                username=DEMO_USER, defaults={"is_staff": True, "is_superuser": True}
            )
            if created or not user.check_password(password):
                user.set_password(password)
                user.is_staff = user.is_superuser = True
                user.save()
            user.groups.add(Group.objects.get(name=ADMIN))
        consent_demo_load()
        totals = profiles_demo_load(log=self.stdout.write)
        collection_demo_load(log=self.stdout.write)
        profiles_demo_scan()
        self.stdout.write(
            f"Demo messages: {totals['accepted']} stored, {totals['duplicates']} already there."
        )
        # Before the segments and mailings, which then see the withdrawals.
        gdpr = consent_demo_history(subjects=profiles_demo_request_subjects())
        self.stdout.write(
            f"Demo consent history: {gdpr['withdrawn']} withdrawals, "
            f"{gdpr['requests']} data-subject requests."
        )
        segment = segments_demo_load()
        self.stdout.write(f"Demo segment {segment.name!r}: {segment.member_count} members.")
        mail = campaigns_demo_load(segment=segment)
        self.stdout.write(f"Demo broadcast: {mail['sent']} emails sent (files under var/mail).")
        journey = journeys_demo_load()
        self.stdout.write(f"Demo welcome journey: {journey['enrolled']} people enrolled.")
        history = campaigns_demo_history(segment=segment)
        self.stdout.write(f"Demo newsletter history: {history['broadcasts']} weekly issues.")
        ab = campaigns_demo_ab_journey(segment=segment)
        self.stdout.write(f"Demo A/B journey: {ab['enrolled']} people enrolled.")
        profiles_demo_backdate()  # people arrived with their first event, not today
        rollups_rebuild()  # the dashboard's charts show the demo's history at once
        figures_snapshot_refresh()
        lifecycle_snapshot_take()
        self.stdout.write(f"Steward login: user {DEMO_USER!r}, password {password!r}")
