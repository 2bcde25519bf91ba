"""Staff API of merges: merge, list and filter the log, undo; errors as 4xx with reasons."""

from __future__ import annotations

from typing import Any

import pytest

from profiles.models import Identity, Profile, ProfileMerge
from profiles.services import Message, ingest_messages

pytestmark = pytest.mark.django_db


def person(source: Any, message_id: str, **traits: Any) -> int:
    result = ingest_messages(
        source=source, messages=[Message(type="identify", message_id=message_id, traits=traits)]
    )
    return result.results[0].profile_id


@pytest.fixture
def two(web_form: Any) -> tuple[int, int]:
    return (
        person(web_form, "m1", email="ada@lovelace.org", firstName="Ada"),
        person(web_form, "m2", email="ada.l@lovelace.org", lastName="Lovelace"),
    )


def test_post_merge_answers_201_with_the_log_entry(api_client: Any, two: tuple[int, int]) -> None:
    survivor, absorbed = two

    response = api_client.post(
        f"/api/profiles/{survivor}/merge/",
        {"absorbed_id": absorbed, "reason": "same person", "score": 0.97},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    merge = ProfileMerge.objects.get()
    assert body == {
        "id": merge.pk,
        "survivor": survivor,
        "absorbed": absorbed,
        "actor": "ada",
        "rule": "",
        "reason": "same person",
        "score": 0.97,
        "merged_at": body["merged_at"],
        "undone_at": None,
        "undone_by": None,
        "moved": {"identities": 1, "events": 1, "consent_records": 0, "provenance": 1},
    }
    assert Profile.objects.get(pk=absorbed).merged_into_id == survivor


def test_the_log_is_listed_filtered_and_undone(
    api_client: Any, two: tuple[int, int], django_assert_max_num_queries: Any
) -> None:
    survivor, absorbed = two
    api_client.post(f"/api/profiles/{survivor}/merge/", {"absorbed_id": absorbed}, format="json")
    merge = ProfileMerge.objects.get()

    with django_assert_max_num_queries(4):
        listed = api_client.get(f"/api/merges/?profile={absorbed}&undone=false")
    other = api_client.get("/api/merges/?profile=999999")
    detail = api_client.get(f"/api/merges/{merge.pk}/")
    undone = api_client.post(f"/api/merges/{merge.pk}/undo/")
    again = api_client.post(f"/api/merges/{merge.pk}/undo/")
    after = api_client.get("/api/merges/?undone=true")

    assert [row["id"] for row in listed.json()["results"]] == [merge.pk]
    assert other.json()["results"] == []
    assert detail.json()["survivor"] == survivor
    assert (undone.status_code, undone.json()["undone_by"]) == (200, "ada")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_undone"
    assert [row["id"] for row in after.json()["results"]] == [merge.pk]
    assert Profile.objects.get(pk=absorbed).status == "active"
    assert Identity.objects.get(value="ada.l@lovelace.org").profile_id == absorbed


@pytest.mark.parametrize(
    ("absorbed", "status", "code"),
    [("self", 400, "self_merge"), (999_999, 404, "not_found"), ("x", 400, "invalid")],
)
def test_bad_merges_are_4xx_with_the_reason(
    api_client: Any, two: tuple[int, int], absorbed: Any, status: int, code: str
) -> None:
    survivor, _ = two
    payload = {"absorbed_id": survivor if absorbed == "self" else absorbed}

    response = api_client.post(f"/api/profiles/{survivor}/merge/", payload, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert ProfileMerge.objects.count() == 0
    assert Profile.objects.filter(status="merged").count() == 0


def test_merging_into_a_tombstone_is_a_409(api_client: Any, two: tuple[int, int]) -> None:
    survivor, absorbed = two
    api_client.post(f"/api/profiles/{survivor}/merge/", {"absorbed_id": absorbed}, format="json")

    response = api_client.post(
        f"/api/profiles/{absorbed}/merge/", {"absorbed_id": survivor}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "merged_profile"
    assert response.json()["error"]["fields"] == {
        "survivor_id": [f"#{absorbed} is a merged profile (tombstone)"]
    }
    assert ProfileMerge.objects.count() == 1


def test_undo_of_an_unknown_merge_is_a_404(api_client: Any) -> None:
    response = api_client.post("/api/merges/4242/undo/")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


def test_anonymous_callers_cannot_merge(anon_client: Any, two: tuple[int, int]) -> None:
    response = anon_client.post(f"/api/profiles/{two[0]}/merge/", {"absorbed_id": two[1]})
    assert response.status_code in (401, 403)
    assert ProfileMerge.objects.count() == 0


@pytest.mark.parametrize("name", ["profile", "survivor", "absorbed"])
def test_a_profile_id_past_64_bits_is_a_400(api_client: Any, name: str) -> None:
    response = api_client.get("/api/merges/", {name: str(2**63)})

    assert response.status_code == 400
    assert name in response.json()["error"]["fields"]


def test_the_merge_preview_lists_each_field_and_writes_nothing(
    api_client: Any, two: tuple[int, int]
) -> None:
    survivor, absorbed = two

    response = api_client.get(f"/api/profiles/{survivor}/merge-preview/?absorbed_id={absorbed}")

    assert response.status_code == 200, response.json()
    fields = {row["field"]: row for row in response.json()["fields"]}
    assert fields["email"] == {
        "field": "email",
        "kept": "ada@lovelace.org",
        "other": "ada.l@lovelace.org",
        "result": "ada@lovelace.org",
        "winner": "kept",
        "why": "sources equally trusted: the kept profile's value stays",
    }
    assert (fields["last_name"]["result"], fields["last_name"]["winner"]) == ("Lovelace", "other")
    assert ProfileMerge.objects.count() == 0
    api_client.post(f"/api/profiles/{survivor}/merge/", {"absorbed_id": absorbed}, format="json")
    merged = Profile.objects.get(pk=survivor)
    assert (merged.email, merged.last_name) == ("ada@lovelace.org", "Lovelace")


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("", 400, "invalid"),
        ("?absorbed_id=x", 400, "invalid"),
        ("?absorbed_id=999999", 404, "not_found"),
    ],
)
def test_a_bad_merge_preview_is_a_4xx(
    api_client: Any, two: tuple[int, int], query: str, status: int, code: str
) -> None:
    response = api_client.get(f"/api/profiles/{two[0]}/merge-preview/{query}")

    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
