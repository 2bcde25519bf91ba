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


def test_new_people_are_shown_by_channel_and_source_on_the_spot_and_from_the_snapshot(
    people: list[int], crm: Any
) -> None:
    from datetime import timedelta

    from profiles.models import Profile
    from reports.selectors import dashboard
    from reports.services import figures_snapshot_refresh

    # One person from the CRM ten days ago (the period before), one with no identity today.
    earlier = ingest_messages(
        source=crm,
        messages=[
            Message(
                type="identify",
                message_id="c1",
                user_id="crm-1",
                traits={"email": "c1@example.org"},
                timestamp=timezone.now().isoformat(),
            )
        ],
    ).results[0]
    Profile.objects.filter(pk=earlier.profile_id).update(
        created_at=timezone.now() - timedelta(days=10)
    )
    Profile.objects.create(email="typed-in@example.org")
    expected = [
        ("CRM", "CRM export", 0, 1),
        ("Web form", "Website sign-up", 2, 0),
        ("—", "No source", 1, 0),
    ]

    def shown() -> list[tuple[str, str, int, int]]:
        return sorted(
            (str(row["channel"]), str(row["name"]), row["new"], row["before"])
            for row in dashboard().acquisition
        )

    assert shown() == sorted(expected)  # counted on the spot
    figures_snapshot_refresh()
    Profile.objects.create(email="after-the-count@example.org")
    assert shown() == sorted(expected)  # beat's count, not the live one
    response = staff("viewer").get(reverse("admin:index"))
    assert "New people by channel and source" in response.content.decode()
    assert reverse("admin:profiles_source_change", args=[crm.pk]) in response.content.decode()


def test_the_message_chart_and_figures_read_the_message_rollup(db: None) -> None:
    from datetime import timedelta

    from reports.models import DailyMessages
    from reports.selectors import dashboard

    today = timezone.localdate()
    counts = [
        (today, "sent", "", 10),
        (today, "bounced", "hard", 2),
        (today, "bounced", "soft", 1),
        (today, "opened", "", 4),
        (today, "clicked", "", 3),
        (today, "opened_machine", "", 5),
        (today, "unsubscribed", "", 1),
        (today - timedelta(days=8), "sent", "", 6),
        (today - timedelta(days=8), "unsubscribed", "", 2),
    ]
    DailyMessages.objects.bulk_create(
        DailyMessages(
            day=day,
            origin_kind="broadcast",
            origin_id=1,
            channel="email",
            metric=metric,
            reason=reason,
            count=n,
        )
        for day, metric, reason, n in counts
    )

    board = dashboard()

    chart = board.charts["messages"]
    assert chart["labels"][-1] == today.isoformat()
    series = {d["label"]: d["data"] for d in chart["datasets"]}
    assert {label: data[-1] for label, data in series.items()} == {
        "Sent": 10,
        "Delivered": 8,
        "Opened": 4,
        "Clicked": 3,
        "Bounced": 3,
        "Unsubscribed": 1,
    }
    assert series["Sent"][-9] == 6
    figures = {str(figure.label): figure for figure in board.figures}
    assert (figures["Bounces"].value, figures["Bounces"].previous) == (3, 0)
    assert (figures["Unsubscribes"].value, figures["Unsubscribes"].previous) == (1, 2)
    assert figures["Unsubscribes"].tone == "good"
    assert str(figures["Emails sent"].hint).startswith("8 delivered, 4 opened, 3 clicked")


def test_the_segment_chart_shows_each_day_s_last_size_carried_over_quiet_days(db: None) -> None:
    from datetime import datetime, time, timedelta

    from reports.selectors import dashboard
    from segments.models import Segment, SegmentSize
    from segments.services import segment_create

    segment = segment_create(name="Readers", kind=Segment.Kind.STATIC, rule=None)
    Segment.objects.filter(pk=segment.pk).update(member_count=12)
    today = timezone.localdate()

    def at(days_ago: int, hour: int) -> datetime:
        moment = datetime.combine(today - timedelta(days=days_ago), time(hour))
        return timezone.make_aware(moment)

    SegmentSize.objects.bulk_create(
        [
            SegmentSize(segment=segment, at=at(40, 12), size=3),  # before the chart
            SegmentSize(segment=segment, at=at(20, 9), size=5),
            SegmentSize(segment=segment, at=at(20, 18), size=7),  # the day's last
            SegmentSize(segment=segment, at=at(2, 10), size=12),
        ]
    )

    chart = dashboard().charts["segments"]

    (line,) = chart["datasets"]
    assert line["label"] == "Readers"
    data = line["data"]
    assert data[0] == 3  # carried from before the chart's first day
    assert data[-22:-19] == [3, 7, 7]  # the last of the day's two refreshes, then carried
    assert data[-3:] == [12, 12, 12]
