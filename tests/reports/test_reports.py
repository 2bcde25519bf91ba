"""Built-in reports: their numbers, pages, exports, API and scheduled emails."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook
from rest_framework.test import APIClient

from consent.models import Purpose
from consent.services import purpose_wording_add
from profiles.models import Profile
from profiles.services import ingest_messages
from profiles.services.messages import Message
from reports.builtin import last_complete_period, report_build
from reports.models import ReportDelivery, ReportSchedule
from reports.rendering import report_csv, report_xlsx
from reports.services import report_deliveries_run, report_schedule_create, rollups_catch_up
from tests.consent.helpers import decide

MONDAY = date(2026, 11, 23)  # the week reported: 23-29 November 2026


def at(day: date, hour: int = 10) -> str:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC).isoformat()


def track(n: int, name: str, day: date, campaign: str = "") -> Message:
    context = (
        {"campaign": {"name": campaign, "source": "news", "medium": "email"}} if campaign else {}
    )
    return Message(
        type="track",
        message_id=f"t-{n}-{name}-{day}",
        user_id=f"u{n}",
        name=name,
        context=context,
        timestamp=at(day),
    )


@pytest.fixture
def history(web_form: Any) -> dict[str, Any]:
    """Three people in the reported week, one the week before; orders by campaign."""
    messages = [
        Message(
            type="identify",
            message_id=f"i{n}",
            user_id=f"u{n}",
            traits={"email": f"p{n}@example.org"},
            timestamp=at(MONDAY),
        )
        for n in (1, 2, 3)
    ]
    messages += [
        track(1, "Order Completed", MONDAY, "autumn"),
        track(2, "Order Completed", MONDAY + timedelta(days=1), "autumn"),
        track(3, '=HYPERLINK("http://evil")', MONDAY + timedelta(days=2), "winter"),
        track(1, "Order Completed", MONDAY - timedelta(days=3), "summer"),
    ]
    result = ingest_messages(source=web_form, messages=messages)
    assert result.rejected == 0
    purpose = Purpose.objects.create(code="newsletter", name="Newsletter", channel="email")
    purpose_wording_add(purpose=purpose, text="Send me the newsletter.")
    for profile in Profile.objects.order_by("pk")[:2]:
        decide(profile, purpose)
    rollups_catch_up()
    return {"purpose": purpose}


def week() -> tuple[date, date]:
    return MONDAY, MONDAY + timedelta(days=6)


def test_the_marketing_report_counts_the_period_and_the_one_before(history: Any) -> None:
    report = report_build(code="marketing", start=week()[0], end=week()[1])

    figures = {str(figure.label): (figure.value, figure.previous) for figure in report.figures}
    assert figures["Events"] == (6, 1)
    assert figures["Conversions"] == (2, 1)
    tables = {str(table.title): table.rows for table in report.tables}
    assert tables["Best campaigns"][0] == ("autumn", "news", "email", 2, 2)
    assert ("Order Completed", 2, 1) in tables["Engagement: events by name"]
    assert (report.previous_start, report.previous_end) == (date(2026, 11, 16), date(2026, 11, 22))


def test_the_consent_report_counts_decisions_per_purpose(history: Any) -> None:
    today = timezone.localdate()
    report = report_build(code="consent", start=today - timedelta(days=29), end=today)

    figures = {str(figure.label): figure.value for figure in report.figures}
    assert figures["Consents granted"] == 2
    assert figures["Consents withdrawn"] == 0
    purposes = {str(t.title): t.rows for t in report.tables}["Consent per purpose"]
    assert purposes == [("Newsletter", 2, 2, 0, 0, 0, 0, 0, None)]


def test_the_consent_report_gives_the_double_opt_in_confirmation_rate(
    history: Any, django_capture_on_commit_callbacks: Any, smtp_sink: Any
) -> None:
    from django.core import signing

    from consent.links import CONFIRM_SALT
    from consent.services import consent_confirm

    purpose = Purpose.objects.create(
        code="confirmed", name="Confirmed news", channel="email", requires_double_opt_in=True
    )
    purpose_wording_add(purpose=purpose, text="Send me news once I confirm my address.")
    pending = []
    with django_capture_on_commit_callbacks(execute=True):
        for profile in Profile.objects.order_by("pk"):
            record, _ = decide(
                profile, purpose, method="form", proof={"form": "signup"}, email=profile.email
            )
            pending.append(record)
    assert {record.status for record in pending} == {"pending_confirmation"}
    token = signing.TimestampSigner(salt=CONFIRM_SALT).sign_object({"r": pending[0].pk})
    consent_confirm(token=token, ip="198.51.100.23", user_agent="Mail/1.0")
    rollups_catch_up()

    today = timezone.localdate()
    report = report_build(code="consent", start=today - timedelta(days=29), end=today)
    purposes = {str(t.title): t.rows for t in report.tables}["Consent per purpose"]
    # Three people asked to confirm, one did: 33.3 %.
    assert purposes[0] == ("Confirmed news", 1, 1, 0, 0, 0, 3, 1, 33.3)


def test_exports_write_a_formula_as_text(history: Any) -> None:
    report = report_build(code="marketing", start=week()[0], end=week()[1])

    lines = list(csv.reader(io.StringIO(report_csv(report).decode())))
    sheet = load_workbook(io.BytesIO(report_xlsx(report))).active

    cells = [cell for line in lines for cell in line]
    assert '\'=HYPERLINK("http://evil")' in cells
    assert not [cell for cell in cells if cell.startswith("=")]
    values = [cell.value for row in sheet.iter_rows() for cell in row if cell.value is not None]
    assert '\'=HYPERLINK("http://evil")' in values


def user(role: str | None) -> Any:
    account = get_user_model().objects.create_user(
        username=f"u-{role}", password="pw", is_staff=True
    )
    if role:
        account.groups.add(Group.objects.get(name=role))
    return account


def test_a_viewer_reads_a_report_page_and_exports_it(history: Any) -> None:
    client = Client()
    client.force_login(user("viewer"))
    url = reverse("admin:reports_report_view", args=["marketing"])
    query = {"start": week()[0], "end": week()[1]}

    page = client.get(url, query)
    export = client.get(url, {**query, "format": "xlsx"})

    assert page.status_code == 200
    assert b"Best campaigns" in page.content
    assert b"<svg" in page.content
    assert export.status_code == 200
    assert (
        export["Content-Disposition"]
        == 'attachment; filename="marketing-2026-11-23-2026-11-29.xlsx"'
    )


def test_a_staff_account_in_no_group_may_not_read_a_report(history: Any) -> None:
    client = Client()
    client.force_login(user(None))

    response = client.get(reverse("admin:reports_report_view", args=["marketing"]))

    assert response.status_code == 403


def test_the_api_answers_the_same_numbers_and_refuses_bad_periods(history: Any) -> None:
    client = APIClient()
    client.force_authenticate(user("viewer"))
    url = reverse("report-detail", args=["marketing"])

    ok = client.get(url, {"start": "2026-11-23", "end": "2026-11-29"})
    backwards = client.get(url, {"start": "2026-11-29", "end": "2026-11-23"})
    missing = client.get(
        reverse("report-detail", args=["nope"]), {"start": "2026-11-23", "end": "2026-11-29"}
    )
    listed = client.get(reverse("report-list"))

    assert ok.status_code == 200
    figures = {f["label"]: (f["value"], f["previous"]) for f in ok.json()["figures"]}
    assert figures["Conversions"] == (2, 1)
    assert backwards.status_code == 400
    assert backwards.json()["error"]["fields"] == {"end": ["The period ends before it starts."]}
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    assert [d["code"] for d in listed.json()] == [
        "marketing",
        "consent",
        "quality",
        "funnel",
        "journeys",
    ]


def test_the_api_refuses_a_staff_account_in_no_group(history: Any) -> None:
    client = APIClient()
    client.force_authenticate(user(None))

    assert client.get(reverse("report-list")).status_code == 403


def test_a_scheduled_report_is_emailed_once_with_its_pdf_and_csv(
    history: Any, smtp_sink: Any
) -> None:
    now = datetime(2026, 11, 30, 6, 5, tzinfo=UTC)
    schedule = report_schedule_create(
        report="marketing", recipients="ada@cdp.test, grace@cdp.test", now=now - timedelta(days=7)
    )
    assert schedule.next_run_at <= now

    first = report_deliveries_run(now=now)
    again = report_deliveries_run(now=now)

    assert (first.sent, again.sent) == (1, 0)
    [mail] = smtp_sink.messages
    assert mail["To"] == "ada@cdp.test, grace@cdp.test"
    parts = {part.get_content_type(): part for part in mail.walk()}
    assert parts["application/pdf"].get_payload(decode=True).startswith(b"%PDF")
    attached_csv = parts["text/csv"].get_payload(decode=True).decode()
    assert "Best campaigns" in attached_csv
    assert "Conversions" in parts["text/html"].get_payload(decode=True).decode()
    delivery = ReportDelivery.objects.get()
    assert (delivery.period_start, delivery.period_end, delivery.status) == (
        date(2026, 11, 23),
        date(2026, 11, 29),
        "sent",
    )
    schedule.refresh_from_db()
    assert schedule.next_run_at.date() == date(2026, 12, 7)


def test_a_report_the_mail_server_refused_is_sent_at_a_later_tick(
    history: Any, smtp_sink: Any, settings: Any
) -> None:
    now = datetime(2026, 11, 30, 6, 5, tzinfo=UTC)
    report_schedule_create(report="quality", recipients="ada@cdp.test", now=now - timedelta(days=7))
    port = settings.EMAIL_PORT
    settings.EMAIL_PORT = 1  # nothing listens there: connection refused

    refused = report_deliveries_run(now=now)
    settings.EMAIL_PORT = port
    later = report_deliveries_run(now=now + timedelta(minutes=5))

    assert (refused.failed, later.sent) == (1, 1)
    assert len(smtp_sink.messages) == 1
    delivery = ReportDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.error) == ("sent", 2, "")
    assert ReportSchedule.objects.get().next_run_at.date() == date(2026, 12, 7)


def test_the_last_complete_period_is_last_week_or_last_month() -> None:
    assert last_complete_period(cadence="weekly", today=date(2026, 12, 2)) == last_complete_period(
        cadence="weekly", today=date(2026, 11, 30)
    )
    weekly = last_complete_period(cadence="weekly", today=date(2026, 12, 2))
    monthly = last_complete_period(cadence="monthly", today=date(2026, 12, 2))
    assert (weekly.start, weekly.end) == (date(2026, 11, 23), date(2026, 11, 29))
    assert (monthly.start, monthly.end) == (date(2026, 11, 1), date(2026, 11, 30))
