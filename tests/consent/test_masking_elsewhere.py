"""Names stay out of labels viewers see in any admin page; segment members are audited."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from consent.models import AccessLog
from profiles.models import Profile
from profiles.services import profile_merge
from segments.services import segment_create, segment_members_add
from tests.consent.helpers import decide

pytestmark = pytest.mark.django_db


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def log_rows() -> list[tuple[str, str, str, int | None, bool]]:
    return list(
        AccessLog.objects.order_by("id").values_list(
            "user__username", "action", "what", "profile_id", "masked"
        )
    )


@pytest.fixture
def members(make_profile: Any) -> tuple[Any, Profile]:
    ada = make_profile("ada@example.org", first_name="Augusta", last_name="Byron")
    segment = segment_create(name="VIP", kind="static")
    segment_members_add(segment_id=segment.pk, profile_ids=[ada.pk])
    return segment, ada


def test_a_profile_label_is_its_id_only(make_profile: Any) -> None:
    ada = make_profile("ada@example.org", first_name="Augusta", last_name="Byron")
    assert str(ada) == f"#{ada.pk}"


def test_viewers_see_no_name_in_the_ledger_and_the_merge_log(
    role_user: Any, make_profile: Any, newsletter: Any
) -> None:
    ada = make_profile("ada@example.org", first_name="Augusta", last_name="Byron")
    twin = make_profile("ada@work.example", first_name="Augusta", last_name="Byron")
    decide(ada, newsletter)
    profile_merge(survivor_id=ada.pk, absorbed_id=twin.pk)
    client = logged_in(role_user("viewer"))

    pages = [
        client.get("/admin/consent/consentrecord/"),
        client.get("/admin/profiles/profilemerge/"),
    ]

    assert [page.status_code for page in pages] == [200, 200]
    for page in pages:
        assert "Augusta" not in page.content.decode()
        assert "Byron" not in page.content.decode()


def test_segment_members_are_masked_for_viewers_and_exported_by_stewards_only(
    role_user: Any, members: tuple[Any, Profile]
) -> None:
    segment, ada = members
    viewer = logged_in(role_user("viewer"))
    steward = logged_in(role_user("steward"))

    masked = viewer.get(f"/admin/segments/segment/{segment.pk}/members/").content.decode()
    shown = steward.get(f"/admin/segments/segment/{segment.pk}/members/").content.decode()
    export = steward.get(f"/admin/segments/segment/{segment.pk}/export/")
    masked_export = viewer.get(f"/admin/segments/segment/{segment.pk}/export/")

    assert "Augusta" not in masked
    assert "ada@example.org" not in masked
    assert "a***@e***" in masked
    assert "Augusta Byron" in shown
    assert "ada@example.org" in shown
    lines = b"".join(export.streaming_content).decode().splitlines()
    assert lines[1].startswith(f"{ada.pk},ada@example.org,Augusta,Byron,")
    assert masked_export.status_code == 403
    what = f"segment-members:{segment.pk}"
    assert log_rows() == [
        ("viewer-user", "view", f"admin:{what}", None, True),
        ("steward-user", "view", f"admin:{what}", None, False),
        ("steward-user", "export", f"admin:segment-export:{segment.pk}", None, False),
    ]


def test_the_api_member_list_is_logged_and_masked_for_viewers(
    role_client: Any, members: tuple[Any, Profile]
) -> None:
    segment, _ada = members

    body = role_client("viewer").get(f"/api/segments/{segment.pk}/members/").json()

    assert [row["profile"]["email"] for row in body["results"]] == ["a***@e***"]
    assert log_rows() == [("viewer-user", "view", f"api:segment-members:{segment.pk}", None, True)]
