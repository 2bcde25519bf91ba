"""Staff API: segments CRUD, rule preview, members, sizes, a profile's segments, personas."""

from __future__ import annotations

import json
from typing import Any

import pytest

from segments.models import Membership, Persona, Segment
from segments.services import segment_create, segment_refresh

FRENCH = {"field": "country", "op": "eq", "value": "FR"}


def test_creating_a_segment_validates_and_queues_its_first_refresh(
    api_client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_client.post(
            "/api/segments/", {"name": "French", "rule": FRENCH}, format="json"
        )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["name"], body["kind"], body["rule"], body["member_count"]) == (
        "French",
        "dynamic",
        FRENCH,
        0,
    )
    assert [c.keywords for c in callbacks] == [{"kwargs": {"segment_id": body["id"]}}]


@pytest.mark.parametrize(
    ("rule", "path", "message"),
    [
        (
            {"all": [FRENCH, {"field": "shoe_size", "op": "eq", "value": "42"}]},
            "rule.all[1].field",
            "unknown field 'shoe_size'",
        ),
        (
            {"all": [FRENCH, {"not": {"field": "country", "op": "gt", "value": "FR"}}]},
            "rule.all[1].not.op",
            "gt does not apply to a text field",
        ),
        (
            {"any": [{"field": "date_of_birth", "op": "lt", "value": "1990-13-45"}]},
            "rule.any[0].value",
            "must be a date YYYY-MM-DD",
        ),
        (
            {
                "event": {"name": "x", "where": [{"property": "a", "op": "between", "value": [3]}]},
                "op": "at_least",
                "count": 1,
            },
            "rule.event.where[0].value",
            "must be a list [low, high]",
        ),
        ({"consent": "nope"}, "rule.consent", "no consent purpose with code 'nope'"),
        ({"all": []}, "rule.all", "must be a non-empty list"),
    ],
)
def test_a_bad_rule_is_a_400_naming_the_path_and_nothing_is_saved(
    api_client: Any, rule: Any, path: str, message: str
) -> None:
    response = api_client.post("/api/segments/", {"name": "Bad", "rule": rule}, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_rule"
    assert list(error["fields"]) == [path]
    assert message in error["fields"][path][0]
    assert Segment.objects.count() == 0


def test_a_segment_that_refers_to_itself_is_refused_and_unchanged(api_client: Any) -> None:
    first = segment_create(name="First", rule=FRENCH)
    second = segment_create(name="Second", rule={"segment": first.pk})

    itself = api_client.patch(
        f"/api/segments/{first.pk}/", {"rule": {"segment": first.pk}}, format="json"
    )
    through = api_client.patch(
        f"/api/segments/{first.pk}/",
        {"rule": {"all": [FRENCH, {"segment": second.pk}]}},
        format="json",
    )

    assert itself.status_code == 400
    assert itself.json()["error"]["fields"] == {
        "rule.segment": ["a segment cannot refer to itself"]
    }
    assert through.status_code == 400
    assert through.json()["error"]["fields"] == {
        "rule.all[1].segment": [
            f"refers back to this segment ({first.pk} -> {second.pk} -> {first.pk})"
        ]
    }
    first.refresh_from_db()
    assert first.rule == FRENCH


def test_preview_counts_and_samples_without_saving(api_client: Any, make_profile: Any) -> None:
    ada = make_profile(country="FR", first_name="Ada")
    grace = make_profile(country="FR", first_name="Grace")
    make_profile(country="DE")

    response = api_client.post(
        "/api/segments/preview/", {"rule": FRENCH, "sample": 1}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["count"] == 2
    assert [p["id"] for p in response.json()["sample"]] == [ada.pk]
    assert grace.pk
    assert Segment.objects.count() == 0


def test_members_are_paginated_by_cursor(
    api_client: Any, make_profile: Any, django_assert_max_num_queries: Any
) -> None:
    people = [make_profile(country="FR") for _ in range(3)]
    segment = segment_create(name="French", rule=FRENCH)
    segment_refresh(segment_id=segment.pk)

    # token, segment, the access-log row, one page of members, and the two permission
    # look-ups of masking: a constant, whatever the page size
    with django_assert_max_num_queries(6):
        first = api_client.get(f"/api/segments/{segment.pk}/members/?page_size=2")
    second = api_client.get(first.json()["next"])

    assert [m["profile"]["id"] for m in first.json()["results"]] == [p.pk for p in people[:2]]
    assert [m["profile"]["id"] for m in second.json()["results"]] == [people[2].pk]
    assert second.json()["next"] is None


def test_a_static_list_takes_ids_and_emails_and_reports_the_unknown(
    api_client: Any, make_profile: Any
) -> None:
    from profiles.models import Identity

    ada = make_profile(email="ada@example.org")
    Identity.objects.create(profile=ada, kind="email", value="ada@example.org")
    grace = make_profile()
    segment = segment_create(name="VIP", kind="static")

    added = api_client.post(
        f"/api/segments/{segment.pk}/members/",
        {"identifiers": ["ADA@example.org", str(grace.pk), "nobody@example.org", "999999"]},
        format="json",
    )
    removed = api_client.delete(
        f"/api/segments/{segment.pk}/members/", {"identifiers": [str(grace.pk)]}, format="json"
    )

    assert added.json() == {"changed": 2, "unknown": ["nobody@example.org", "999999"]}
    assert removed.json() == {"changed": 1, "unknown": []}
    assert list(
        Membership.objects.filter(segment=segment, exited_at__isnull=True).values_list(
            "profile_id", flat=True
        )
    ) == [ada.pk]


def test_members_cannot_be_added_by_hand_to_a_dynamic_segment(
    api_client: Any, make_profile: Any
) -> None:
    ada = make_profile()
    segment = segment_create(name="French", rule=FRENCH)

    response = api_client.post(
        f"/api/segments/{segment.pk}/members/", {"identifiers": [str(ada.pk)]}, format="json"
    )

    assert response.status_code == 409
    assert Membership.objects.count() == 0


def test_the_segments_and_personas_of_a_profile(api_client: Any, make_profile: Any) -> None:
    ada = make_profile(country="FR")
    segment = segment_create(name="French", rule=FRENCH)
    segment_refresh(segment_id=segment.pk)
    created = api_client.post(
        "/api/segments/personas/",
        {"name": "Marketing Marie", "segment": segment.pk, "goals": "Leads"},
        format="json",
    )

    response = api_client.get(f"/api/segments/profiles/{ada.pk}/")

    assert created.status_code == 201
    body = response.json()
    assert [(s["id"], s["name"]) for s in body["segments"]] == [(segment.pk, "French")]
    assert [p["name"] for p in body["personas"]] == ["Marketing Marie"]
    assert Persona.objects.get().goals == "Leads"


def test_sizes_and_delete(api_client: Any, make_profile: Any) -> None:
    make_profile(country="FR")
    segment = segment_create(name="French", rule=FRENCH)
    segment_refresh(segment_id=segment.pk)

    sizes = api_client.get(f"/api/segments/{segment.pk}/sizes/")
    deleted = api_client.delete(f"/api/segments/{segment.pk}/")

    assert [(s["size"], s["entered"]) for s in sizes.json()] == [(1, 1)]
    assert deleted.status_code == 204
    assert Segment.objects.count() == 0


def test_a_segment_used_by_another_cannot_be_deleted(api_client: Any) -> None:
    first = segment_create(name="First", rule=FRENCH)
    segment_create(name="Second", rule={"segment": first.pk})

    response = api_client.delete(f"/api/segments/{first.pk}/")

    assert response.status_code == 409
    assert Segment.objects.count() == 2


@pytest.mark.parametrize(
    ("rule", "path"),
    [
        ({"field": "first_name", "op": "eq", "value": "Ada\x00"}, "rule.value"),
        ({"all": [{"event": {"name": "signup\x00"}, "op": "performed"}]}, "rule.all[0].event.name"),
        ({"field": "city", "op": "in", "value": ["Paris", "\ud800"]}, "rule.value[1]"),
    ],
)
@pytest.mark.parametrize("url", ["/api/segments/", "/api/segments/preview/"])
def test_a_text_postgresql_refuses_in_a_rule_is_a_400_naming_the_node(
    api_client: Any, rule: Any, path: str, url: str
) -> None:
    # Sent as ASCII JSON (\u0000, \ud800 escapes), as a client would.
    body = json.dumps({"name": "Nul", "rule": rule})
    response = api_client.post(url, body, content_type="application/json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], list(error["fields"])) == ("invalid_rule", [path])
    assert Segment.objects.count() == 0


def test_the_member_export_neutralises_spreadsheet_formulas(
    client: Any, staff_user: Any, make_profile: Any
) -> None:
    from segments.services import segment_members_add

    evil = make_profile(
        email="x@example.org", first_name='=HYPERLINK("http://evil")', last_name="@SUM"
    )
    segment = segment_create(name="Static", kind="static")
    segment_members_add(segment_id=segment.pk, profile_ids=[evil.pk])
    client.force_login(staff_user)

    export = client.get(f"/admin/segments/segment/{segment.pk}/export/")

    lines = b"".join(export.streaming_content).decode().splitlines()
    assert lines[1].startswith(f'{evil.pk},x@example.org,"\'=HYPERLINK(""http://evil"")",\'@SUM,')
