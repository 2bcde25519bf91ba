"""The journeys API and admin: bad input with the step's path, actions, stats, simulation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from campaigns.journeys.engine import journeys_advance
from campaigns.journeys.selectors import ab_compare
from campaigns.models import Enrolment, Journey, JourneyVersion
from tests.campaigns.conftest import make_people, static_segment
from tests.campaigns.journeys import welcome_definition


@pytest.fixture
def writer(api_client: APIClient, staff_user: Any) -> APIClient:
    codes = ["view_journey", "add_journey", "change_journey", "delete_journey", "view_enrolment"]
    staff_user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="campaigns", codename__in=codes),
        Permission.objects.get(codename="view_profile"),
    )
    return api_client


@pytest.fixture
def definition(template: Any) -> dict[str, Any]:
    return welcome_definition(static_segment([]).pk, template.pk)


def _create(client: APIClient, definition: Any, purpose: Any, **extra: Any) -> Any:
    body = {"name": "Welcome", "purpose": purpose.pk, "definition": definition, **extra}
    return client.post("/api/campaigns/journeys/", body, format="json")


def test_a_step_pointing_nowhere_is_a_400_with_its_path_and_nothing_is_written(
    writer: APIClient, definition: dict[str, Any], newsletter: Any
) -> None:
    definition["steps"]["wait"]["next"] = "nowhere"

    response = _create(writer, definition, newsletter)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_journey"
    assert list(error["fields"]) == ["definition.steps.wait.next"]
    assert (Journey.objects.count(), JourneyVersion.objects.count()) == (0, 0)


def test_validate_answers_without_saving(writer: APIClient, definition: dict[str, Any]) -> None:
    good = writer.post(
        "/api/campaigns/journeys/validate/", {"definition": definition}, format="json"
    )
    definition["steps"]["clicked"]["rule"] = {"field": "shoe_size", "op": "eq", "value": 1}
    bad = writer.post(
        "/api/campaigns/journeys/validate/", {"definition": definition}, format="json"
    )

    assert (good.status_code, good.json()) == (200, {"valid": True, "steps": 6})
    assert bad.status_code == 400
    assert list(bad.json()["error"]["fields"]) == ["definition.steps.clicked.rule.field"]
    assert Journey.objects.count() == 0


def test_life_of_a_journey_through_the_api(
    writer: APIClient, definition: dict[str, Any], newsletter: Any
) -> None:
    journey_id = _create(writer, definition, newsletter).json()["id"]
    person = make_people(1)[0]
    base = f"/api/campaigns/journeys/{journey_id}"

    refused = writer.post(f"{base}/enrol/", {"profiles": [person.pk]}, format="json")
    assert writer.post(f"{base}/activate/").json()["status"] == "active"
    enrolled = writer.post(f"{base}/enrol/", {"profiles": [person.pk]}, format="json")
    journeys_advance()
    deleted = writer.delete(f"{base}/")
    paused = writer.post(f"{base}/pause/")
    resumed = writer.post(f"{base}/resume/")
    stats = writer.get(f"{base}/stats/").json()
    simulated = writer.post(f"{base}/simulate/", {"profile": person.pk}, format="json").json()
    enrolments = writer.get(f"/api/campaigns/profiles/{person.pk}/enrolments/").json()
    archived = writer.post(f"{base}/archive/")

    assert refused.status_code == 409
    assert enrolled.json() == {"enrolled": 1}
    assert deleted.status_code == 409
    assert (paused.json()["status"], resumed.json()["status"]) == ("paused", "active")
    assert stats["steps"]["welcome"]["passed"] == 1
    assert stats["steps"]["wait"]["waiting"] == 1
    assert stats["sends"][0]["messages"] == 1
    assert [s["step"] for s in simulated["steps"]] == [
        "welcome",
        "wait",
        "clicked",
        "reminder",
        "done",
    ]
    assert [e["step"] for e in enrolments["results"]] == ["wait"]
    assert archived.json()["status"] == "archived"
    assert Enrolment.objects.get().exit_reason == "archived"


def test_a_new_version_leaves_running_people_on_theirs(
    writer: APIClient, definition: dict[str, Any], newsletter: Any
) -> None:
    journey_id = _create(writer, definition, newsletter).json()["id"]
    definition["steps"]["wait"]["duration"] = {"hours": 1}

    response = writer.post(
        f"/api/campaigns/journeys/{journey_id}/versions/",
        {"definition": definition},
        format="json",
    )

    assert (response.status_code, response.json()["version"]) == (201, 2)
    assert JourneyVersion.objects.filter(journey_id=journey_id).count() == 2


def test_significance_uses_fisher_for_small_counts_and_chi_squared_for_large() -> None:
    small = ab_compare(converted=3, enrolled=10, base_converted=0, base_enrolled=10)
    large = ab_compare(converted=120, enrolled=1000, base_converted=80, base_enrolled=1000)

    assert (small[1], round(small[0] or 0, 4)) == ("fisher", 0.2105)
    assert large[1] == "chi2"
    assert (large[0] or 1) < 0.01


def test_admin_shows_the_offending_step_and_draws_the_graph(
    admin_client: Any, definition: dict[str, Any], newsletter: Any
) -> None:
    form = {
        "name": "Welcome",
        "description": "",
        "purpose": newsletter.pk,
        "reentry": "never",
        "reentry_days": "",
        "goal_event": "",
        "goal_days": "",
    }
    definition["steps"]["welcome"].pop("template")
    refused = admin_client.post(
        "/admin/campaigns/journey/add/", {**form, "definition": json.dumps(definition)}
    )
    definition["steps"]["welcome"]["template"] = definition["steps"]["offer"]["template"]
    admin_client.post(
        "/admin/campaigns/journey/add/", {**form, "definition": json.dumps(definition)}
    )
    journey = Journey.objects.get()
    admin_client.post(f"/admin/campaigns/journey/{journey.pk}/act/", {"action": "activate"})
    person = make_people(1)[0]
    graph = admin_client.get(f"/admin/campaigns/journey/{journey.pk}/graph/?profile={person.pk}")

    assert "definition.steps.welcome.template" in refused.content.decode()
    journey.refresh_from_db()
    assert journey.status == "active"
    page = graph.content.decode()
    assert graph.status_code == 200
    assert "reminder" in page
    assert "yes → offer" in page


def test_admin_edit_refuses_a_goal_without_days_and_saves_steps_as_a_version(
    admin_client: Any, definition: dict[str, Any], newsletter: Any
) -> None:
    form = {
        "name": "Welcome",
        "description": "",
        "purpose": newsletter.pk,
        "reentry": "never",
        "reentry_days": "",
        "goal_event": "",
        "goal_days": "",
        "definition": json.dumps(definition),
    }
    admin_client.post("/admin/campaigns/journey/add/", form)
    journey = Journey.objects.get()
    url = f"/admin/campaigns/journey/{journey.pk}/change/"
    refused = admin_client.post(url, {**form, "goal_event": "Order Completed"})
    definition["steps"]["wait"]["duration"] = {"days": 5}
    admin_client.post(url, {**form, "definition": json.dumps(definition)})

    assert refused.status_code == 200
    journey.refresh_from_db()
    assert (journey.goal_event, journey.version.version) == ("", 2)
