"""The admin's first page: the steward's dashboard, read from rollups, grouped navigation."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from consent.models import Purpose
from consent.services import purpose_wording_add
from profiles.models import Event
from profiles.services import ingest_messages
from profiles.services.messages import Message
from reports.services import rollups_catch_up
from tests.consent.helpers import decide


def staff(role: str | None) -> Client:
    user = get_user_model().objects.create_user(
        username=f"user-{role}", password="pw", is_staff=True
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def people(web_form: Any) -> list[int]:
    """Two people, each with an identify and a track today; one grants the newsletter."""
    now = timezone.now().isoformat()
    result = ingest_messages(
        source=web_form,
        messages=[
            message
            for n in (1, 2)
            for message in (
                Message(
                    type="identify",
                    message_id=f"i{n}",
                    user_id=f"u{n}",
                    traits={"email": f"p{n}@example.org"},
                    timestamp=now,
                ),
                Message(
                    type="track",
                    message_id=f"t{n}",
                    user_id=f"u{n}",
                    name="Order Completed",
                    timestamp=now,
                ),
            )
        ],
    )
    ids = [r.profile_id for r in result.results if r.profile_id]
    purpose = Purpose.objects.create(code="newsletter", name="Newsletter", channel="email")
    purpose_wording_add(purpose=purpose, text="Send me the newsletter.")
    from profiles.models import Profile

    decide(Profile.objects.get(pk=ids[0]), purpose)
    rollups_catch_up()
    return ids


def test_the_dashboard_shows_the_key_figures_and_reads_no_event_row(
    people: list[int],
) -> None:
    client = staff("viewer")

    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("admin:index"))

    assert response.status_code == 200
    board = response.context["dashboard"]
    figures = {str(figure.label): figure for figure in board.figures}
    assert figures["People in the base"].value == 2
    assert (figures["New people"].value, figures["New people"].previous) == (2, 0)
    assert figures["Events"].value == 4
    assert [row["contactable"] for row in board.purposes] == [1]
    assert board.purposes[0]["rate"] == 50.0
    events = board.charts["events"]
    assert {d["label"]: sum(d["data"]) for d in events["datasets"]} == {
        "identify": 2,
        "track": 2,
    }
    table = connection.ops.quote_name(Event._meta.db_table)
    assert not [q["sql"] for q in queries if Event._meta.db_table in q["sql"] or table in q["sql"]]
    assert b"reports/chart.umd.min.js" in response.content


def test_navigation_follows_the_stewards_jobs_with_settings_last(db: None) -> None:
    client = staff("admin")

    response = client.get(reverse("admin:index"))

    groups = [
        (str(app["name"]), [m["object_name"] for m in app["models"]])
        for app in response.context["app_list"]
    ]
    names = [name for name, _ in groups]
    assert names == [
        "Collect",
        "People and quality",
        "Consent and GDPR",
        "Segments",
        "Campaigns",
        "Reports",
        "Settings",
    ]
    models = dict(groups)
    assert {"Source", "ImportJob", "Form"} <= set(models["Collect"])
    assert "Source" not in models["People and quality"]
    assert {"PeriodicTask", "Group", "Heartbeat"} <= set(models["Settings"])


def test_a_staff_account_in_no_group_sees_no_figures(people: list[int]) -> None:
    response = staff(None).get(reverse("admin:index"))

    assert response.status_code == 200
    assert "dashboard" not in response.context
    assert response.context["app_list"] == []


def test_a_steward_recounts_the_rollups_from_the_admin_and_a_viewer_may_not(
    people: list[int],
) -> None:
    from reports.models import DailyEvents, RollupCursor

    DailyEvents.objects.all().delete()
    url = reverse("admin:reports_rollupcursor_changelist")
    ids = [str(pk) for pk in RollupCursor.objects.values_list("pk", flat=True)]
    form = {"action": "rebuild", "_selected_action": ids}

    refused = staff("viewer").post(url, form)
    assert refused.status_code in (200, 302)
    assert DailyEvents.objects.count() == 0

    done = staff("steward").post(url, form, follow=True)
    assert done.status_code == 200
    assert sum(DailyEvents.objects.values_list("count", flat=True)) == 4


def test_once_beat_counted_them_the_dashboard_reads_people_and_consent_from_the_snapshot(
    people: list[int],
) -> None:
    from consent.models import ConsentRecord
    from profiles.models import Profile
    from reports.services import figures_snapshot_refresh

    figures_snapshot_refresh()
    Profile.objects.create(email="later@example.org")  # counted at the next refresh
    client = staff("viewer")

    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("admin:index"))

    board = response.context["dashboard"]
    figures = {str(figure.label): figure.value for figure in board.figures}
    assert figures["People in the base"] == 2
    assert [row["contactable"] for row in board.purposes] == [1]
    assert board.counted_at is not None
    tables = (Profile._meta.db_table, ConsentRecord._meta.db_table, Event._meta.db_table)
    touched = [q["sql"] for q in queries if any(f'"{t}"' in q["sql"] for t in tables)]
    assert touched == []

    figures_snapshot_refresh()
    again = {str(f.label): f.value for f in staff_client_dashboard()}
    assert again["People in the base"] == 3


def staff_client_dashboard() -> list[Any]:
    from reports.selectors import dashboard

    return dashboard().figures


def test_the_consent_report_reads_contactable_people_from_a_fresh_snapshot(
    people: list[int],
) -> None:
    from datetime import timedelta

    from profiles.models import Profile
    from reports.builtin import report_build
    from reports.models import FigureSnapshot
    from reports.services import figures_snapshot_refresh

    def contactable() -> int:
        today = timezone.localdate()
        report = report_build(code="consent", start=today, end=today)
        table = next(t for t in report.tables if str(t.title) == "Consent per purpose")
        return table.rows[0][1]

    figures_snapshot_refresh()
    decide(Profile.objects.get(pk=people[-1]), Purpose.objects.get(code="newsletter"))

    # The snapshot beat counted a moment ago: one contactable person, not the live two.
    assert contactable() == 1
    FigureSnapshot.objects.update(computed_at=timezone.now() - timedelta(hours=1))
    # A stale snapshot (beat stopped) is not trusted: counted live.
    assert contactable() == 2
