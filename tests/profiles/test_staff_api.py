from typing import Any

import pytest

from profiles.models import Profile, Source
from profiles.services import Message, ingest_messages, source_authenticate

pytestmark = pytest.mark.django_db


def _people(source: Any) -> None:
    ingest_messages(
        source=source,
        messages=[
            Message(
                type="identify",
                user_id="u1",
                traits={
                    "email": "ada@example.org",
                    "firstName": "Ada",
                    "lastName": "Lovelace",
                    "phone": "+33 6 12 34 56 78",
                },
            ),
            Message(
                type="identify",
                traits={
                    "email": "alan@example.org",
                    "firstName": "Alan",
                    "lastName": "Turing",
                    "country": "GB",
                },
            ),
            Message(
                type="track",
                user_id="u1",
                name="Signed Up",
                properties={"plan": "pro"},
                context={"campaign": {"source": "news", "name": "spring"}},
            ),
        ],
    )


def test_profiles_list_is_paginated_newest_first(
    api_client: Any, web_form: Any, django_assert_max_num_queries: Any
) -> None:
    _people(web_form)

    with django_assert_max_num_queries(4):
        response = api_client.get("/api/profiles/")

    body = response.json()
    assert response.status_code == 200
    assert [p["email"] for p in body["results"]] == ["alan@example.org", "ada@example.org"]
    assert body["next"] is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ADA@example.org", ["ada@example.org"]),
        ("06 12 34 56 78", ["ada@example.org"]),  # national form: the default region, FR
        ("0612345678", ["ada@example.org"]),
        ("+33612345678", ["ada@example.org"]),
        ("ada", ["ada@example.org"]),  # a first name
        ("al", ["alan@example.org"]),  # the start of a first name or an email
        ("lovel", ["ada@example.org"]),
        ("ada lovelace", ["ada@example.org"]),
        ("Lovelace Ada", ["ada@example.org"]),
        ("tur", ["alan@example.org"]),
        ("zzz", []),
    ],
)
def test_profile_search_finds_by_email_phone_and_name(
    api_client: Any, web_form: Any, query: str, expected: list[str]
) -> None:
    _people(web_form)

    response = api_client.get("/api/profiles/", {"q": query})

    assert [p["email"] for p in response.json()["results"]] == expected


def test_profiles_filter_by_country_and_lifecycle(api_client: Any, web_form: Any) -> None:
    _people(web_form)

    response = api_client.get("/api/profiles/", {"country": "gb", "lifecycle_stage": "lead"})

    assert [p["email"] for p in response.json()["results"]] == ["alan@example.org"]


def test_a_bad_filter_value_is_a_400_with_the_field_named(api_client: Any) -> None:
    response = api_client.get("/api/profiles/", {"last_seen_after": "yesterday"})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["last_seen_after"]


def test_profile_detail_is_the_360_view(api_client: Any, web_form: Any) -> None:
    _people(web_form)
    ada = Profile.objects.get(email="ada@example.org")

    body = api_client.get(f"/api/profiles/{ada.pk}/").json()

    assert body["profile"]["first_name"] == "Ada"
    assert {(i["kind"], i["value"]) for i in body["identities"]} == {
        ("user_id", "u1"),
        ("email", "ada@example.org"),
        ("phone", "+33612345678"),
    }
    assert body["event_counts"] == {"identify": 1, "track": 1}
    email = next(row for row in body["provenance"] if row["field"] == "email")
    assert email["value"] == "ada@example.org"
    assert [(s["source"], s["wins"]) for s in email["sources"]] == [("Website sign-up", True)]


def test_profile_events_are_the_timeline(api_client: Any, web_form: Any) -> None:
    _people(web_form)
    ada = Profile.objects.get(email="ada@example.org")

    response = api_client.get(f"/api/profiles/{ada.pk}/events/", {"type": "track"})

    results = response.json()["results"]
    assert [(e["type"], e["name"], e["utm_campaign"]) for e in results] == [
        ("track", "Signed Up", "spring")
    ]
    assert results[0]["source"] == web_form.slug


def test_an_unknown_profile_is_a_json_404(api_client: Any) -> None:
    response = api_client.get("/api/profiles/999999/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_creating_a_source_answers_its_write_key_once(api_client: Any) -> None:
    response = api_client.post(
        "/api/sources/",
        {"name": "Trade show 2026", "kind": "trade_show", "trust_rank": 40},
        format="json",
    )

    body = response.json()
    assert response.status_code == 201
    assert body["slug"] == "trade-show-2026"
    assert source_authenticate(write_key=body["write_key"], client="127.0.0.1").pk == body["id"]
    listed = api_client.get("/api/sources/").json()["results"]
    assert "write_key" not in listed[0]
    assert Source.objects.get().write_key_hash != body["write_key"]


def test_a_source_with_bad_fields_is_refused_with_field_messages(api_client: Any) -> None:
    response = api_client.post(
        "/api/sources/", {"name": "X", "kind": "fax", "trust_rank": 500}, format="json"
    )

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"kind", "trust_rank"}
    assert Source.objects.count() == 0


def test_rotating_a_key_revokes_the_old_one(api_client: Any, make_source: Any) -> None:
    source, old_key = make_source("CRM")

    response = api_client.post(f"/api/sources/{source.pk}/rotate-key/")

    new_key = response.json()["write_key"]
    assert source_authenticate(write_key=new_key, client="127.0.0.1").pk == source.pk
    with pytest.raises(Exception, match="unknown or revoked write key"):
        source_authenticate(write_key=old_key, client="127.0.0.1")


def test_the_staff_api_refuses_anonymous_callers(anon_client: Any) -> None:
    assert anon_client.get("/api/profiles/").status_code == 401
    assert anon_client.post("/api/sources/", {"name": "x", "kind": "api"}).status_code == 401


def test_a_non_numeric_profile_id_is_a_404(api_client: Any) -> None:
    assert api_client.get("/api/profiles/null/").status_code == 404


def test_an_extreme_utc_offset_is_compared_in_utc(api_client: Any, web_form: Any) -> None:
    _people(web_form)

    response = api_client.get("/api/profiles/", {"created_after": "2000-01-01T00:00:00+16:00"})

    assert response.status_code == 200
    assert len(response.json()["results"]) == 2


def test_unmasking_is_a_permission_held_not_a_mask_missing(db: None) -> None:
    """A staff user given only the view permission (no role) sees personal data masked."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from rest_framework.test import APIClient

    Profile.objects.create(email="ada@example.org", first_name="Ada")
    user = get_user_model().objects.create_user("reader", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_profile"))
    client = APIClient()
    client.force_authenticate(user)

    body = client.get("/api/profiles/").json()

    assert [(row["email"], row["first_name"]) for row in body["results"]] == [("a***@e***", "A***")]


def test_a_viewer_may_not_write_through_the_staff_api(role_client: Any, make_source: Any) -> None:
    viewer = role_client("viewer")
    source, _ = make_source("Shop")
    a = Profile.objects.create(email="a@example.org")
    b = Profile.objects.create(email="b@example.org")

    created = viewer.post("/api/sources/", {"name": "Evil", "kind": "api"})
    rotated = viewer.post(f"/api/sources/{source.pk}/rotate-key/")
    merged = viewer.post(f"/api/profiles/{a.pk}/merge/", {"absorbed_id": b.pk})
    segment = viewer.post("/api/segments/", {"name": "S", "kind": "static"})

    assert [r.status_code for r in (created, rotated, merged, segment)] == [403, 403, 403, 403]
    assert Source.objects.count() == 1
    assert Profile.objects.filter(status="active").count() == 2
