"""The campaigns API: templates, broadcasts and their actions, permissions, bad input."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from campaigns.models import Broadcast, Message, Template, TemplateVersion
from consent.models import Purpose
from tests.campaigns.conftest import grant, make_people, static_segment, variants


@pytest.fixture
def writer(api_client: APIClient, staff_user: Any) -> APIClient:
    codes = ["add_template", "change_template", "add_broadcast", "change_broadcast"]
    staff_user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="campaigns", codename__in=codes)
    )
    return api_client


@pytest.mark.django_db
def test_a_template_that_does_not_compile_is_refused_with_its_line(writer: APIClient) -> None:
    content = variants()
    content["fr"]["text"] = "Bonjour\n{{ profile.first_name }\n"

    response = writer.post(
        "/api/campaigns/templates/", {"name": "T", "variants": content}, format="json"
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_template"
    assert error["fields"]["variants.fr.text"][0].startswith("line 2:")
    assert (Template.objects.count(), TemplateVersion.objects.count()) == (0, 0)


@pytest.mark.django_db
def test_an_unknown_variable_is_refused_with_its_line(writer: APIClient) -> None:
    content = variants()
    content["en"]["subject"] = "Hi {{ customer.name }}"

    response = writer.post(
        "/api/campaigns/templates/", {"name": "T", "variants": content}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "variants.en.subject": ["line 1: unknown variable 'customer'"]
    }


@pytest.mark.django_db
def test_templates_are_versioned_and_previewed_as_a_person(writer: APIClient) -> None:
    created = writer.post(
        "/api/campaigns/templates/", {"name": "T", "variants": variants()}, format="json"
    )
    template_id = created.json()["id"]
    second = variants()
    second["en"]["subject"] = "Second {{ profile.first_name }}"
    (person,) = make_people(1)

    version = writer.post(
        f"/api/campaigns/templates/{template_id}/versions/", {"variants": second}, format="json"
    )
    preview = writer.post(
        f"/api/campaigns/templates/{template_id}/preview/", {"profile": person.pk}, format="json"
    )

    assert (created.status_code, version.status_code) == (201, 201)
    assert version.json()["version"] == 2
    assert preview.json()["subject"] == "Second P0"
    assert preview.json()["language"] == "en"


@pytest.mark.django_db
def test_a_viewer_reads_but_cannot_write(role_client: Any) -> None:
    viewer = role_client("viewer")
    listed = viewer.get("/api/campaigns/templates/")
    refused = viewer.post(
        "/api/campaigns/templates/", {"name": "T", "variants": variants()}, format="json"
    )

    assert (listed.status_code, refused.status_code) == (200, 403)
    assert Template.objects.count() == 0


@pytest.mark.django_db
def test_a_broadcast_to_a_missing_segment_or_a_purpose_without_wording_is_refused(
    writer: APIClient, template: Any
) -> None:
    silent = Purpose.objects.create(code="silent", name="Silent", channel="email")

    response = writer.post(
        "/api/campaigns/broadcasts/",
        {"name": "B", "segment": 999, "template": template.pk, "purpose": silent.pk},
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"segment", "purpose"}
    assert (Broadcast.objects.count(), Message.objects.count()) == (0, 0)


@pytest.mark.django_db
def test_a_broadcast_is_scheduled_paused_resumed_cancelled_with_its_stats(
    writer: APIClient, template: Any, newsletter: Any
) -> None:
    people = make_people(4)
    for person in people[:3]:
        grant(person, newsletter)
    segment = static_segment(people)
    created = writer.post(
        "/api/campaigns/broadcasts/",
        {
            "name": "B",
            "segment": segment.pk,
            "template": template.pk,
            "purpose": newsletter.pk,
            "throttle_per_minute": 2,
        },
        format="json",
    )
    url = f"/api/campaigns/broadcasts/{created.json()['id']}/"

    draft = writer.get(url + "stats/").json()
    scheduled = writer.post(url + "schedule/", {}, format="json")
    paused = writer.post(url + "pause/")
    held = Message.objects.filter(status="held").count()
    resumed = writer.post(url + "resume/")
    cancelled = writer.post(url + "cancel/")
    again = writer.post(url + "cancel/")
    stats = writer.get(url + "stats/").json()

    assert draft["estimate"] == {"members": 4, "to_send": 3, "to_skip": 1}
    assert scheduled.json()["audience_size"] == 4
    due = sorted(Message.objects.values_list("due_at", flat=True))
    assert (due[1] - due[0]).total_seconds() == 30  # two a minute
    assert [r.json()["status"] for r in (paused, resumed, cancelled)] == [
        "paused",
        "scheduled",
        "cancelled",
    ]
    assert held == 4
    assert again.status_code == 409
    assert stats["skipped_by_reason"] == {"cancelled": 4}
    assert stats["audience"] == 4


@pytest.mark.django_db
def test_a_profiles_messages_are_listed(writer: APIClient, template: Any, newsletter: Any) -> None:
    (person,) = make_people(1)
    broadcast = writer.post(
        "/api/campaigns/broadcasts/",
        {
            "name": "B",
            "segment": static_segment([person]).pk,
            "template": template.pk,
            "purpose": newsletter.pk,
        },
        format="json",
    ).json()
    writer.post(f"/api/campaigns/broadcasts/{broadcast['id']}/send/")

    response = writer.get(f"/api/campaigns/profiles/{person.pk}/messages/")

    assert response.status_code == 200
    (message,) = response.json()["results"]
    assert (message["origin_kind"], message["origin_id"], message["status"]) == (
        "broadcast",
        broadcast["id"],
        "queued",
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("part", "source", "line"),
    [
        # A loop past 2,000 iterations, on the template's third line.
        ("text", "Hi\n\n{% for i in (1..5000) %}x{% endfor %}", 3),
        # Output past 500,000 characters.
        ("text", "Hi\n{% for i in (1..1500) %}{{ '" + "y" * 400 + "' }}{% endfor %}", 2),
        # In the MJML body, named by the line the author wrote it on.
        (
            "mjml",
            "<mjml><mj-body>\n<mj-section><mj-column>\n<mj-text>Hi</mj-text>\n"
            "<mj-text>{% for i in (1..5000) %}x{% endfor %}</mj-text>\n"
            "</mj-column></mj-section></mj-body></mjml>",
            4,
        ),
        # Blocks nested past the depth limit.
        ("subject", "{% if true %}" * 60 + "deep" + "{% endif %}" * 60, 1),
    ],
)
def test_a_template_past_the_limits_is_refused_with_its_line_and_saves_nothing(
    writer: APIClient, part: str, source: str, line: int
) -> None:
    content = variants()
    content["en"][part] = source

    response = writer.post(
        "/api/campaigns/templates/", {"name": "T", "variants": content}, format="json"
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_template"
    (message,) = error["fields"][f"variants.en.{part}"]
    assert message.startswith(f"line {line}:")
    assert (Template.objects.count(), TemplateVersion.objects.count()) == (0, 0)
