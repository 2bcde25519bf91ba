"""The steward's data-quality admin: overview, issue list, rule editors, maintenance runs."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from profiles.models import DataQualityIssue, JobFunctionRule, MaintenanceRun, Profile
from profiles.services import Message, ingest_messages
from profiles.tasks import quality_maintain_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Any) -> Any:
    user = get_user_model().objects.create_superuser("root", "root@example.org", "pw-123456789")
    client.force_login(user)
    return client


@pytest.fixture
def messy(web_form: Any) -> list[Profile]:
    ingest_messages(
        source=web_form,
        messages=[
            Message(type="identify", user_id="u-1", traits={"phone": "1", "country": "Narnia"}),
            Message(type="identify", user_id="u-2", traits={"phone": "2"}),
            Message(type="identify", user_id="u-3", traits={"email": "c@gmial.com"}),
            Message(type="identify", user_id="u-4", traits={"email": "d@example.org"}),
        ],
    )
    return list(Profile.objects.order_by("pk"))


def _cells(html: str, label: str) -> list[str]:
    row = re.search(rf"<tr>\s*<td>{re.escape(label)}.*?</tr>", html, re.S)
    assert row is not None
    return re.findall(r'<td class="num"><a href="[^"]*">(\d+)</a></td>', row.group(0))


def test_the_overview_counts_open_issues_per_type_and_links_to_the_profiles(
    admin_client: Any, messy: list[Profile]
) -> None:
    response = admin_client.get("/admin/profiles/dataqualityissue/overview/")

    html = response.content.decode()
    assert response.status_code == 200
    assert _cells(html, "Invalid phone") == ["2", "2"]
    assert _cells(html, "Unknown country") == ["1", "1"]
    assert _cells(html, "Email domain looks mistyped") == ["1", "1"]
    assert _cells(html, "Invalid email") == ["0", "0"]
    assert 'href="/admin/profiles/profile/?issue=invalid_phone"' in html
    assert (
        'href="/admin/profiles/dataqualityissue/?state=open&amp;code__exact=invalid_phone"' in html
    )


def test_the_profile_list_filters_by_open_issue(admin_client: Any, messy: list[Profile]) -> None:
    DataQualityIssue.objects.filter(profile=messy[1]).update(resolved_at="2026-05-01T00:00:00Z")

    response = admin_client.get("/admin/profiles/profile/?issue=invalid_phone")

    assert response.status_code == 200
    assert [p.pk for p in response.context["cl"].result_list] == [messy[0].pk]


def test_the_issue_list_and_its_resolve_action(admin_client: Any, messy: list[Profile]) -> None:
    listing = admin_client.get(
        "/admin/profiles/dataqualityissue/?state=open&code__exact=invalid_phone"
    )
    phone_issues = list(DataQualityIssue.objects.filter(code="invalid_phone").order_by("pk"))

    response = admin_client.post(
        "/admin/profiles/dataqualityissue/",
        {"action": "mark_resolved", "_selected_action": [phone_issues[1].pk]},
    )

    assert listing.status_code == 200
    assert len(listing.context["cl"].result_list) == 2
    assert response.status_code == 302
    resolved = DataQualityIssue.objects.filter(code="invalid_phone", resolved_at__isnull=False)
    assert list(resolved.values_list("pk", flat=True)) == [phone_issues[1].pk]
    second = Profile.objects.get(pk=messy[1].pk)
    assert second.quality_score == 20  # no field filled, no open issue: validity 20 of 100
    assert second.audit.order_by("-pk").values_list("action", "fields").first() == (
        "issues_resolved",
        ["phone"],
    )


def test_adding_a_job_function_rule_in_admin_starts_a_run(
    admin_client: Any, messy: list[Profile], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(
            "/admin/profiles/jobfunctionrule/add/",
            {"keyword": "Astronaut", "function": "operations", "position": "5", "is_active": "on"},
        )

    run = MaintenanceRun.objects.get()
    assert response.status_code == 302
    assert JobFunctionRule.objects.get(keyword="Astronaut").function == "operations"
    assert (run.kind, run.status) == ("renormalise", "running")
    assert callbacks[0].func == quality_maintain_task.apply_async


def test_a_rule_with_an_unknown_function_is_refused_with_a_field_message(
    admin_client: Any,
) -> None:
    response = admin_client.post(
        "/admin/profiles/jobfunctionrule/add/",
        {"keyword": "astronaut", "function": "space", "position": "5"},
    )

    assert response.status_code == 200
    assert "function" in response.context["adminform"].form.errors
    assert not JobFunctionRule.objects.filter(keyword="astronaut").exists()
    assert MaintenanceRun.objects.count() == 0


def test_weights_and_survivorship_editors_offer_only_known_fields(admin_client: Any) -> None:
    weight = admin_client.post("/admin/profiles/qualityweight/add/", {"field": "shoe", "weight": 5})
    rule = admin_client.post(
        "/admin/profiles/survivorshiprule/add/",
        {"field": "city", "strategy": "recency_then_trust"},
    )

    assert weight.status_code == 200
    assert "field" in weight.context["adminform"].form.errors
    assert rule.status_code == 302
    assert (
        MaintenanceRun.objects.get().reason == "survivorship rule “city: recency_then_trust” saved"
    )


def test_a_steward_starts_a_run_and_reads_its_summary(
    admin_client: Any, messy: list[Profile], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post("/admin/profiles/dataqualityissue/overview/run/scores/")
    run = MaintenanceRun.objects.get()
    with django_capture_on_commit_callbacks() as first:
        quality_maintain_task(kind="scores", run_id=run.pk)
    quality_maintain_task(**first[0].keywords["kwargs"])

    runs = admin_client.get("/admin/profiles/maintenancerun/")
    overview = admin_client.get("/admin/profiles/dataqualityissue/overview/")

    assert response.status_code == 302
    assert callbacks[0].keywords == {"kwargs": {"kind": "scores", "run_id": run.pk}}
    assert "4 of 4 profiles checked; 4 scores refreshed." in runs.content.decode()
    assert "4 of 4 profiles checked; 4 scores refreshed." in overview.content.decode()


def test_an_unknown_run_kind_is_refused(admin_client: Any) -> None:
    response = admin_client.post("/admin/profiles/dataqualityissue/overview/run/everything/")

    assert response.status_code == 302
    assert MaintenanceRun.objects.count() == 0


def test_staff_without_permission_cannot_see_the_overview(client: Any, db: None) -> None:
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_user("nogroup", is_staff=True))

    response = client.get("/admin/profiles/dataqualityissue/overview/")

    assert response.status_code == 403
