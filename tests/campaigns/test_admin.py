"""Admin: templates saved as versions, the broadcast wizard (create → confirm), preview."""

from __future__ import annotations

from email.header import decode_header, make_header
from typing import Any

import pytest

from campaigns.models import Broadcast, Message, Template, TemplateVersion
from tests.campaigns.conftest import grant, make_people, static_segment, variants


def _template_post(content: dict[str, Any], name: str = "Welcome") -> dict[str, str]:
    data = {"name": name, "description": "", "default_language": "en"}
    for language, parts in content.items():
        for part, value in parts.items():
            data[f"{part}_{language}"] = value
    return data


@pytest.mark.django_db
def test_a_template_with_a_broken_tag_shows_the_line_and_saves_nothing(admin_client: Any) -> None:
    content = variants()
    content["en"]["subject"] = "Hi {% if %}"

    response = admin_client.post("/admin/campaigns/template/add/", _template_post(content))

    assert response.status_code == 200
    assert "line 1: missing expression" in response.content.decode()
    assert Template.objects.count() == 0


@pytest.mark.django_db
def test_each_save_of_a_template_is_a_new_version(admin_client: Any) -> None:
    admin_client.post("/admin/campaigns/template/add/", _template_post(variants()))
    template = Template.objects.get()
    changed = variants()
    changed["fr"]["subject"] = "Salut {{ profile.first_name }}"

    response = admin_client.post(
        f"/admin/campaigns/template/{template.pk}/change/", _template_post(changed)
    )

    assert response.status_code == 302
    versions = list(TemplateVersion.objects.order_by("version").values_list("version", flat=True))
    assert versions == [1, 2]
    assert TemplateVersion.objects.get(version=2).variants["fr"]["subject"].startswith("Salut")


@pytest.mark.django_db
def test_the_wizard_confirms_with_the_counts_then_schedules(
    admin_client: Any, template: Any, newsletter: Any
) -> None:
    people = make_people(3)
    grant(people[0], newsletter)
    segment = static_segment(people)

    created = admin_client.post(
        "/admin/campaigns/broadcast/add/",
        {
            "name": "News",
            "segment": segment.pk,
            "template": template.pk,
            "purpose": newsletter.pk,
            "kind": "marketing",
        },
    )
    broadcast = Broadcast.objects.get()
    page = admin_client.get(created["Location"])
    confirmed = admin_client.post(created["Location"])

    assert created["Location"] == f"/admin/campaigns/broadcast/{broadcast.pk}/confirm/"
    body = page.content.decode()
    assert "<td>3</td>" in body
    assert "<td>1</td>" in body
    assert "<td>2</td>" in body
    assert confirmed.status_code == 302
    assert Message.objects.count() == 3
    broadcast.refresh_from_db()
    assert broadcast.status == "scheduled"


@pytest.mark.django_db
def test_the_preview_shows_the_person_in_their_language(
    admin_client: Any, template: Any, newsletter: Any
) -> None:
    (person,) = make_people(1, language="fr")

    response = admin_client.get(
        f"/admin/campaigns/template/{template.pk}/preview/?profile={person.pk}"
    )

    assert response.status_code == 200
    assert "Bonjour P0" in response.content.decode()


@pytest.mark.django_db
def test_the_preview_shows_both_widths_and_mails_a_test_copy_to_the_steward(
    admin_client: Any, admin_user: Any, smtp_sink: Any, template: Any, newsletter: Any
) -> None:
    (person,) = make_people(1, language="fr")
    url = f"/admin/campaigns/template/{template.pk}/preview/"

    page = admin_client.get(f"{url}?profile={person.pk}").content.decode()
    sent = admin_client.post(url, {"profile": person.pk})

    assert "width:640px" in page
    assert "width:375px" in page
    assert sent.status_code == 302
    (copy,) = smtp_sink.messages
    assert copy["To"] == admin_user.email
    assert str(make_header(decode_header(copy["Subject"]))) == "[TEST] Bonjour P0"
    assert Message.objects.count() == 0  # a test copy is no outbox row, no profile event
