"""The funnel's stages and cohorts come from the daily lifecycle snapshot."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from profiles.models import Profile
from reports.builtin import report_build
from reports.models import DailyLifecycle
from reports.services import lifecycle_snapshot_take

pytestmark = pytest.mark.django_db


def _people() -> list[Profile]:
    return [
        Profile.objects.create(email=f"p{n}@example.org", lifecycle_stage=stage)
        for n, stage in enumerate(["lead", "lead", "customer", "prospect"])
    ]


def test_the_snapshot_equals_the_profiles_grouped_by_month_and_stage() -> None:
    _people()
    Profile.objects.create(email="gone@example.org", status=Profile.Status.ERASED)
    today = timezone.localdate()

    taken = lifecycle_snapshot_take(today=today)
    again = lifecycle_snapshot_take(today=today)

    month = today.replace(day=1)
    assert (taken, again) == (3, 3)
    assert set(DailyLifecycle.objects.values_list("day", "cohort", "stage", "source", "count")) == {
        (today, month, "lead", None, 2),
        (today, month, "customer", None, 1),
        (today, month, "prospect", None, 1),
    }


def test_the_funnel_reads_the_snapshot_of_each_period_end() -> None:
    people = _people()
    today = timezone.localdate()
    lifecycle_snapshot_take(today=today - timedelta(days=10))
    Profile.objects.filter(pk=people[0].pk).update(lifecycle_stage="customer")
    lifecycle_snapshot_take(today=today)
    # A change after the last snapshot is not seen until the next one.
    Profile.objects.filter(pk=people[1].pk).update(lifecycle_stage="customer")

    report = report_build(code="funnel", start=today - timedelta(days=6), end=today)

    figures = {str(f.label): (f.value, f.previous) for f in report.figures}
    assert figures["People"] == (4, 4)
    assert figures["Customers"] == (2, 1)
    cohorts = next(t for t in report.tables if "Cohorts" in str(t.title))
    stages = [stage for stage, _label in Profile.Lifecycle.choices]
    expected = {"lead": 1, "customer": 2, "prospect": 1}
    assert cohorts.rows == [(f"{today:%Y-%m}", 4, *(expected.get(stage, 0) for stage in stages))]


def test_the_backfill_command_takes_the_day_s_snapshot() -> None:
    _people()

    call_command("cdp_rollups")

    assert DailyLifecycle.objects.filter(day=timezone.localdate()).count() == 3


def test_the_funnel_names_the_stages_in_the_reader_s_language() -> None:
    from django.utils import translation

    _people()
    today = timezone.localdate()
    with translation.override("fr"):
        report = report_build(code="funnel", start=today - timedelta(days=6), end=today)
        funnel, cohorts, _sources, _days = report.tables
        stages = [str(row[0]) for row in funnel.rows]
        headers = [str(header) for header in cohorts.columns]
    assert stages == ["Anonyme", "Lead", "Prospect", "Client", "Perdu"]
    assert headers[2:] == stages


def _population(web_form: Any, crm: Any) -> None:
    """Three web sign-ups (one also in the CRM, one merged into a CRM contact), two CRM
    contacts, one typed in: five people."""
    from profiles.services import ingest_messages
    from profiles.services.merge import profile_merge
    from profiles.services.messages import Message

    def identify(source: Any, n: int, email: str) -> int:
        result = ingest_messages(
            source=source,
            messages=[
                Message(
                    type="identify",
                    message_id=f"{source.slug}-{n}",
                    traits={"email": email},
                    timestamp=timezone.now().isoformat(),
                )
            ],
        )
        return result.results[0].profile_id

    signed_up = [identify(web_form, n, f"w{n}@example.org") for n in range(3)]
    from_crm = [identify(crm, n, f"c{n}@example.org") for n in range(2)]
    identify(crm, 9, "w0@example.org")  # the CRM knows a web sign-up: still the web's
    Profile.objects.filter(pk__in=[signed_up[0], from_crm[0]]).update(lifecycle_stage="customer")
    # A CRM contact turns out to be a web sign-up: merged, they count under the web (the
    # earlier identity), though the CRM's profile survives.
    profile_merge(survivor_id=from_crm[1], absorbed_id=signed_up[2])
    Profile.objects.create(email="typed@example.org")  # no identity: no source


def test_the_funnel_shows_where_the_people_each_source_brought_stand(
    web_form: Any, crm: Any
) -> None:
    """Each person counts under the source of their first identity naming one, whatever
    came later (here the CRM knows a web sign-up too); the table equals that count done
    by hand over the identities."""
    from profiles.models import Identity

    _population(web_form, crm)
    today = timezone.localdate()
    lifecycle_snapshot_take(today=today)

    report = report_build(code="funnel", start=today - timedelta(days=6), end=today)

    table = next(t for t in report.tables if "channel and source" in str(t.title))
    stages = [stage for stage, _label in Profile.Lifecycle.choices]
    by_hand: dict[str, dict[str, int]] = {}
    for profile in Profile.objects.filter(status="active"):
        first = Identity.objects.filter(profile=profile).exclude(source=None).order_by("id").first()
        name = first.source.name if first else "No source"
        counts = by_hand.setdefault(name, {})
        counts[profile.lifecycle_stage] = counts.get(profile.lifecycle_stage, 0) + 1
    assert {row[1]: dict(zip(stages, row[3:-1], strict=True)) for row in table.rows} == {
        name: {stage: counts.get(stage, 0) for stage in stages} for name, counts in by_hand.items()
    }
    rows = {row[1]: row for row in table.rows}
    assert rows["Website sign-up"][0] == "Web form"
    assert rows["Website sign-up"][2] == 3
    assert rows["Website sign-up"][-1] == 33.3
    assert rows["CRM export"][2] == 1
    assert rows["CRM export"][-1] == 100.0
    assert rows["No source"][2] == 1


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="PostgreSQL's own statement (DISTINCT ON); SQLite runs the portable one",
)
def test_postgresql_s_one_pass_count_equals_the_portable_one(web_form: Any, crm: Any) -> None:
    from reports import selectors

    _population(web_form, crm)
    portable = connection.vendor
    try:
        connection.vendor = "sqlite-like"  # the ORM's look-up per person
        expected = selectors.lifecycle_count()
    finally:
        connection.vendor = portable

    assert selectors._lifecycle_count_postgres() == expected
    assert selectors.lifecycle_count() == expected
    assert sum(expected.values()) == 5
