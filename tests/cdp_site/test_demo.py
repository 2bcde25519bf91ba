from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from cdp_site.periodic import PERIODIC_TASKS
from collection.models import ImportJob
from consent.models import Purpose, PurposeVersion
from profiles.models import Event, Profile, Source

pytestmark = pytest.mark.django_db


def test_cdp_demo_is_idempotent_and_prints_a_working_login(
    client: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CDP_DEMO_PASSWORD", "demo-pass-123")

    call_command("cdp_demo")
    call_command("cdp_demo")

    out = capsys.readouterr().out
    assert "Steward login: user 'steward', password 'demo-pass-123'" in out
    assert get_user_model().objects.filter(username="steward").count() == 1
    assert PeriodicTask.objects.filter(name__startswith="cdp: ").count() == len(PERIODIC_TASKS)
    # Through the login page: django-axes checks every login against its lockouts.
    login = client.post("/admin/login/", {"username": "steward", "password": "demo-pass-123"})
    assert login.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_cdp_demo_loads_overlapping_people_once(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("cdp_demo")
    counts = (Profile.objects.count(), Event.objects.count(), Source.objects.count())

    call_command("cdp_demo")

    assert (Profile.objects.count(), Event.objects.count(), Source.objects.count()) == counts
    # The four channels, plus the system sources of segment and email events.
    assert sorted(Source.objects.values_list("slug", flat=True)) == [
        "cdp-campaigns",
        "cdp-segments",
        "crm",
        "newsletter",
        "salon-data-2026",
        "website",
    ]
    assert sorted(Purpose.objects.values_list("code", flat=True)) == [
        "newsletter",
        "offers",
        "sms-reminders",
    ]
    assert PurposeVersion.objects.count() == 3
    crm_and_salon = (
        Profile.objects.filter(status="active", provenance__source__slug="crm")
        .filter(provenance__source__slug="salon-data-2026")
        .distinct()
    )
    assert crm_and_salon.count() == 20  # n % 20 in (0, 16): known to both
    assert Profile.objects.filter(status="active", lifecycle_stage="anonymous").count() == 66
    # The second day's badge list, an uploaded workbook, imported once with its error report.
    job = ImportJob.objects.get()
    assert (job.status, job.processed_rows, job.error_rows) == ("done", 27, 2)
    assert job.error_report
    assert Profile.objects.filter(traits__stand_visited="B12").count() == 25
    assert "already there" in capsys.readouterr().out


def test_cdp_demo_sends_its_broadcast_once_with_opens_and_clicks_on_profiles(
    mailoutbox: list[Any],
) -> None:
    from campaigns.models import Broadcast, Message

    call_command("cdp_demo")
    call_command("cdp_demo")

    sent = Message.objects.filter(status="sent")
    assert sent.count() == len(mailoutbox) > 0
    assert {m.extra_headers["Message-ID"] for m in mailoutbox} == set(
        sent.values_list("message_id", flat=True)
    )
    issue = Broadcast.objects.get(name="Monthly news, demo issue")
    of_issue = Event.objects.filter(
        source__slug="cdp-campaigns", properties__origin="broadcast", properties__origin_id=issue.pk
    )
    assert of_issue.filter(name="Email Opened").count() == 3
    assert of_issue.filter(name="Email Clicked").count() == 1
    broadcast = set(sent.filter(origin_kind="broadcast").values_list("message_id", flat=True))
    endings = {
        m.subject.rpartition(", ")[2]
        for m in mailoutbox
        if m.extra_headers["Message-ID"] in broadcast
    }
    assert endings <= {"this month's news", "les nouvelles du mois"}


def test_cdp_demo_spreads_its_welcome_journey_over_the_steps() -> None:
    from campaigns.journeys.selectors import journey_step_counts
    from campaigns.models import Journey

    call_command("cdp_demo")
    call_command("cdp_demo")

    journey = Journey.objects.get(name="Welcome (demo)")
    counts = journey_step_counts(journey=journey)
    assert journey.status == "active"
    assert counts["welcome"].passed == counts["welcome"].entered > 0
    assert counts["wait"].waiting > 0
    assert counts["reminder"].passed > 0
    assert sum(c.converted for c in counts.values()) == 1


def test_cdp_demo_leaves_probable_duplicates_for_review(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from profiles.models import DuplicateCandidate

    call_command("cdp_demo")
    call_command("cdp_demo")

    queue = DuplicateCandidate.objects.filter(status="open").select_related("profile_high")
    assert queue.count() == 5
    assert all(candidate.score >= 0.5 for candidate in queue)


def test_cdp_demo_builds_a_segment_with_members_and_a_persona(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from segments.models import Membership, Persona, Segment

    call_command("cdp_demo")
    call_command("cdp_demo")

    segment = Segment.objects.get(name="Newsletter readers (demo)")
    members = Membership.objects.filter(segment=segment, exited_at__isnull=True).count()
    assert members > 0
    assert segment.member_count == members
    assert Persona.objects.filter(segment=segment).count() == 1
    assert f"{members} members" in capsys.readouterr().out


def test_the_front_door_leads_to_the_admin(client: Any) -> None:
    response = client.get("/", follow=True)

    assert response.redirect_chain[0] == ("/admin/", 302)
    assert response.redirect_chain[-1][0].startswith("/admin/login/")
    assert response.status_code == 200


def test_cdp_demo_gives_the_journey_and_marketing_reports_a_history() -> None:
    from datetime import timedelta

    from django.utils import timezone

    from reports.builtin import last_complete_period, report_build

    call_command("cdp_demo")
    today = timezone.localdate()

    journeys = report_build(code="journeys", start=today - timedelta(days=89), end=today)
    week = last_complete_period(cadence="weekly", today=today)
    marketing = report_build(code="marketing", start=week.start, end=week.end)

    steps, splits, broadcasts = journeys.tables
    assert [row[2] for row in splits.rows] == ["discount", "shipping", "holdout"]
    assert all(row[4] > 0 for row in splits.rows)
    assert sum(row[5] for row in splits.rows) > 0
    assert {row[1] for row in steps.rows} >= {"send_discount", "send_shipping", "welcome"}
    assert len(broadcasts.rows) == 13
    best = next(t for t in marketing.tables if str(t.title) == "Best broadcasts")
    assert len(best.rows) == 1
    assert best.rows[0][1] > 0


def test_cdp_demo_people_arrive_over_months_so_acquisition_and_cohorts_have_curves() -> None:
    from datetime import timedelta

    from reports.builtin import report_build
    from reports.selectors import dashboard

    call_command("cdp_demo")
    months = {(at.year, at.month) for at in Profile.objects.values_list("created_at", flat=True)}
    assert len(months) >= 3

    board = dashboard()
    figures = {str(figure.label): figure for figure in board.figures}
    assert 0 < figures["New people"].value < figures["People in the base"].value
    assert sum(row["new"] for row in board.acquisition) == figures["New people"].value
    assert sum(row["before"] for row in board.acquisition) == figures["New people"].previous

    today = timezone_today()
    funnel = report_build(code="funnel", start=today.replace(day=1), end=today)
    cohorts = next(t for t in funnel.tables if "cohort" in str(t.title).lower())
    assert len(cohorts.rows) >= 3
    stages = {str(row[0]): row[1] for row in funnel.tables[0].rows}
    assert all(stages[stage] > 0 for stage in ("Anonymous", "Lead", "Prospect", "Customer"))
    # The website's orders are conversions, attributed to the campaign that brought them.
    month = report_build(code="funnel", start=today - timedelta(days=29), end=today)
    converted = {str(f.label): f.value for f in month.figures}
    assert converted["Median days to convert"] is not None
    marketing = report_build(code="marketing", start=today - timedelta(days=29), end=today)
    first_touch = next(t for t in marketing.tables if "first touch" in str(t.title).lower())
    assert sum(row[-1] for row in first_touch.rows) > 0
    assert any(str(row[0]) != "(no campaign)" for row in first_touch.rows)
    # Consent and GDPR: decisions dated when the forms were filled, withdrawals over two
    # months, requests over three, one erasure carried out and one request overdue.
    gdpr = report_build(code="consent", start=today - timedelta(days=89), end=today)
    counted = {str(f.label): f.value for f in gdpr.figures}
    assert counted["Consents granted"] > 0
    assert counted["Consents withdrawn"] > 0
    assert counted["Requests received"] == 7
    assert counted["Erasures carried out"] == 1
    assert figures["Requests overdue"].value == 1


def timezone_today() -> Any:
    from django.utils import timezone

    return timezone.localdate()
