"""The suppression list: batches cannot recreate an erased person; their own opt-in can."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.files import File
from django.db import connection
from django.test.utils import CaptureQueriesContext

from collection.models import Form
from collection.services.imports import import_job_create, import_run_batch, import_start
from consent.models import ConsentRecord, Suppression
from consent.services import dsar_create, dsar_execute, dsar_verify, suppression_digest
from profiles.models import Event, Identity, Profile
from profiles.services import ingest_messages
from profiles.services.messages import Message
from tests.consent.gdpr_helpers import ADA, ingest_person

pytestmark = pytest.mark.django_db

RETURN_LINK = re.compile(r"https?://[^/\s]+(/consent/return/[^\s]+/)")


@pytest.fixture(autouse=True)
def _media_in_tmp(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def erased(web_form: Any) -> None:
    """Ada existed, then asked to be erased."""
    ingest_person(web_form, message_id="m1")
    request = dsar_create(kind="erasure", email=ADA["email"])
    dsar_verify(request=request, method="email", actor=None)
    dsar_execute(request=request, actor=None)


def live_rows() -> tuple[int, int, int]:
    return (
        Profile.objects.exclude(status="erased").count(),
        Identity.objects.count(),
        Event.objects.count(),
    )


def test_the_list_holds_only_digests_keyed_by_the_suppression_key(
    erased: None, settings: Any
) -> None:
    digest = suppression_digest(kind="email", value=ADA["email"])
    assert Suppression.objects.filter(digest=digest, kind="email").count() == 1
    assert ADA["email"] not in str(list(Suppression.objects.values()))
    settings.CDP_SUPPRESSION_KEY = "another key"
    assert suppression_digest(kind="email", value=ADA["email"]) != digest


def test_an_import_after_erasure_creates_nothing(
    erased: None, make_source: Any, tmp_path: Path
) -> None:
    source, _ = make_source("Salon", kind="trade_show", default_phone_region="FR")
    buffer = io.StringIO()
    csv.writer(buffer).writerows(
        [["Email", "Phone"], ["ADA.Lovelace@example.org", "06 12 34 56 78"], ["bo@example.org", ""]]
    )
    path = tmp_path / "leads.csv"
    path.write_text(buffer.getvalue())
    with path.open("rb") as handle:
        job = import_job_create(
            source=source,
            file=File(handle, name="leads.csv"),
            columns={"Email": "email", "Phone": "phone"},
        )
    import_start(job_id=job.pk, run_async=False)
    while import_run_batch(job_id=job.pk).has_more:
        pass

    job.refresh_from_db()
    assert (job.processed_rows, job.error_rows, job.profiles_created) == (2, 1, 1)
    assert list(Profile.objects.exclude(status="erased").values_list("email", flat=True)) == [
        "bo@example.org"
    ]
    report = job.error_report.open("rb").read().decode("utf-8-sig")
    assert "suppressed" in report


def test_a_crm_message_about_a_suppressed_phone_is_rejected_and_writes_nothing(
    erased: None, crm: Any
) -> None:
    before = live_rows()
    result = ingest_messages(
        source=crm,
        messages=[
            Message(type="identify", message_id="c1", traits={"phone": "+33 6 12 34 56 78"}),
            Message(type="identify", message_id="c2", traits={"email": "bo@example.org"}),
        ],
    )
    assert [(r.status, sorted(r.errors)) for r in result.results] == [
        ("error", ["suppressed"]),
        ("ok", []),
    ]
    assert live_rows() == (before[0] + 1, before[1] + 1, before[2] + 1)


def test_the_check_is_one_query_per_batch(erased: None, crm: Any) -> None:
    messages = [
        Message(type="identify", message_id=f"c{i}", traits={"email": f"p{i}@example.org"})
        for i in range(50)
    ]
    with CaptureQueriesContext(connection) as queries:
        ingest_messages(source=crm, messages=messages)
    assert sum("consent_suppression" in query["sql"] for query in queries.captured_queries) == 1


def make_form(web_form: Any) -> Form:
    return Form.objects.create(
        name="Sign-up",
        slug="signup",
        source=web_form,
        consent_purposes=["newsletter"],
        fields=[{"name": "email", "label": "Email", "target": "email", "type": "email"}],
    )


def test_a_form_without_consent_does_not_bring_the_person_back(
    erased: None, web_form: Any, purposes: Any, client: Any
) -> None:
    make_form(web_form)
    before = live_rows()
    response = client.post("/api/forms/signup/submissions", {"email": ADA["email"]})
    stranger = client.post("/api/forms/signup/submissions", {"email": "nobody@example.org"})
    # The answer does not reveal the erasure: the same as for anyone else.
    assert (response.status_code, response.json()) == (201, {"success": True})
    assert (stranger.status_code, stranger.json()) == (201, {"success": True})
    assert live_rows() == (before[0] + 1, before[1] + 1, before[2] + 1)
    assert Suppression.objects.filter(lifted_at__isnull=True).count() == 2


def _opt_in(client: Any, capture: Any) -> Any:
    with capture(execute=True):
        return client.post(
            "/api/forms/signup/submissions",
            {"email": ADA["email"], "consent_newsletter": "on", "consent_wording_newsletter": "1"},
            REMOTE_ADDR="203.0.113.77",
        )


def test_an_opt_in_typed_by_anyone_does_not_lift_the_suppression(
    erased: None,
    web_form: Any,
    purposes: Any,
    client: Any,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    make_form(web_form)
    before = live_rows()

    response = _opt_in(client, django_capture_on_commit_callbacks)

    assert (response.status_code, response.json()) == (201, {"success": True})
    assert live_rows() == before
    assert Suppression.objects.filter(lifted_at__isnull=True).count() == 2
    # Only the address's owner gets the way back: a link mailed to it.
    assert [mail.to for mail in mailoutbox] == [[ADA["email"]]]
    assert ADA["email"] not in mailoutbox[0].body


def test_the_persons_confirmed_opt_in_lifts_the_suppression_with_proof(
    erased: None,
    web_form: Any,
    purposes: Any,
    client: Any,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    make_form(web_form)
    _opt_in(client, django_capture_on_commit_callbacks)
    path = RETURN_LINK.search(mailoutbox[0].body).group(1)

    shown = client.get(path)
    clicked = client.post(path, REMOTE_ADDR="198.51.100.9")
    again = _opt_in(client, django_capture_on_commit_callbacks)

    assert (shown.status_code, clicked.status_code, again.status_code) == (200, 200, 201)
    lifted = Suppression.objects.get(kind="email")
    assert (lifted.lift_proof["method"], lifted.lift_proof["ip"]) == (
        "double_opt_in",
        "198.51.100.0",
    )
    assert Suppression.objects.get(kind="phone").lifted_at is None
    profile = Profile.objects.get(status="active")
    assert profile.email == ADA["email"]
    assert ConsentRecord.objects.filter(profile=profile, status="granted").count() == 1


def test_a_tampered_come_back_link_lifts_nothing(
    erased: None,
    web_form: Any,
    purposes: Any,
    client: Any,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    make_form(web_form)
    _opt_in(client, django_capture_on_commit_callbacks)
    path = RETURN_LINK.search(mailoutbox[0].body).group(1)

    response = client.post(path[:-3] + "xx/")

    assert response.status_code == 400
    assert Suppression.objects.filter(lifted_at__isnull=True).count() == 2
