"""Admin: merge two selected profiles after choosing the survivor; undo; the steward queue."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages

from profiles.models import BlockedIdentifier, IdentityConflict, Profile, ProfileMerge
from profiles.services import Message, ingest_messages, profile_merge

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Any) -> Any:
    user = get_user_model().objects.create_superuser("root", "root@lovelace.org", "pw-12345678")
    client.force_login(user)
    return client


def person(source: Any, message_id: str, **traits: Any) -> int:
    result = ingest_messages(
        source=source, messages=[Message(type="identify", message_id=message_id, traits=traits)]
    )
    return result.results[0].profile_id


def texts(response: Any) -> str:
    return " ".join(str(message) for message in get_messages(response.wsgi_request))


def test_merging_two_selected_profiles_asks_for_the_survivor_first(
    admin_client: Any, web_form: Any
) -> None:
    ada = person(web_form, "m1", email="ada@lovelace.org", firstName="Ada")
    other = person(web_form, "m2", email="ada.l@lovelace.org", lastName="Lovelace")
    selection = {"action": "merge_selected", "_selected_action": [ada, other]}

    page = admin_client.post("/admin/profiles/profile/", selection)
    assert page.status_code == 200
    assert b"Choose the profile to keep" in page.content
    assert ProfileMerge.objects.count() == 0

    done = admin_client.post(
        "/admin/profiles/profile/",
        {**selection, "confirm": "yes", "survivor": other, "reason": "same"},
    )

    assert done.status_code == 302
    merge = ProfileMerge.objects.get()
    assert (merge.survivor_id, merge.absorbed_id, merge.reason) == (other, ada, "same")
    assert merge.actor.username == "root"
    assert f"Merged #{ada} into #{other}" in texts(done)


def test_merging_needs_exactly_two_profiles(admin_client: Any, web_form: Any) -> None:
    ada = person(web_form, "m1", email="ada@lovelace.org")
    response = admin_client.post(
        "/admin/profiles/profile/", {"action": "merge_selected", "_selected_action": [ada]}
    )
    assert "exactly two" in texts(response)
    assert ProfileMerge.objects.count() == 0


def test_the_merge_page_undoes_once_then_explains(admin_client: Any, web_form: Any) -> None:
    ada = person(web_form, "m1", email="ada@lovelace.org")
    other = person(web_form, "m2", email="ada.l@lovelace.org")
    merge = profile_merge(survivor_id=ada, absorbed_id=other)

    page = admin_client.get(f"/admin/profiles/profilemerge/{merge.pk}/change/")
    first = admin_client.post(f"/admin/profiles/profilemerge/{merge.pk}/undo/")
    second = admin_client.post(
        "/admin/profiles/profilemerge/",
        {"action": "undo_selected", "_selected_action": [merge.pk]},
    )

    assert b"Undo this merge" in page.content
    assert first.status_code == 302
    assert Profile.objects.get(pk=other).status == "active"
    assert f"Merge #{merge.pk} was undone on" in texts(second)


def test_conflicts_are_merged_or_dismissed_from_the_queue(admin_client: Any, web_form: Any) -> None:
    ada = person(web_form, "m1", email="ada@lovelace.org", phone="+33140205050")
    grace = person(web_form, "m2", email="grace@lovelace.org", phone="+33140205050")
    conflict = IdentityConflict.objects.get()

    listing = admin_client.get("/admin/profiles/identityconflict/")
    dismissed = admin_client.post(
        "/admin/profiles/identityconflict/",
        {"action": "dismiss", "_selected_action": [conflict.pk]},
    )
    refused = admin_client.post(
        "/admin/profiles/identityconflict/",
        {"action": "merge_them", "_selected_action": [conflict.pk]},
    )

    assert b"+33140205050" not in listing.content
    assert b"+331******50" in listing.content
    assert "1 conflict(s) dismissed" in texts(dismissed)
    assert "is dismissed already" in texts(refused)
    assert Profile.objects.filter(pk__in=[ada, grace], status="active").count() == 2


def test_a_blocked_pattern_must_compile(admin_client: Any) -> None:
    response = admin_client.post(
        "/admin/profiles/blockedidentifier/add/",
        {"kind": "email", "pattern": "^(info@", "reason": "generic", "is_active": "on"},
    )
    assert response.status_code == 200
    assert b"Not a valid regular expression" in response.content
    assert not BlockedIdentifier.objects.filter(pattern="^(info@").exists()


def test_the_merge_shows_each_fields_outcome_and_merges_only_once_confirmed(
    admin_client: Any, web_form: Any, crm: Any
) -> None:
    kept = person(web_form, "m1", email="ada@lovelace.org", firstName="Ada", city="Paris")
    other = person(crm, "m2", email="ada.l@lovelace.org", firstName="Augusta", phone="+33612345678")
    selection = {"action": "merge_selected", "_selected_action": [kept, other]}

    preview = admin_client.post(
        "/admin/profiles/profile/", {**selection, "preview": "yes", "survivor": kept}
    )

    page = preview.content.decode()
    assert preview.status_code == 200
    assert ProfileMerge.objects.count() == 0
    assert f"Merge #{other} into #{kept}?" in page
    # One row per field: both values, the one kept and why, as the merge computes it.
    assert "<th>First name</th>" in page
    assert "CRM export is trusted more than Website sign-up" in page
    assert "only the other profile has a value" in page
    assert 'name="confirm" value="yes"' in page

    done = admin_client.post(
        "/admin/profiles/profile/", {**selection, "confirm": "yes", "survivor": kept}
    )

    assert done.status_code == 302
    survivor = Profile.objects.get(pk=kept)
    assert (survivor.first_name, survivor.email, survivor.city) == (
        "Augusta",
        "ada.l@lovelace.org",
        "Paris",
    )
    undone = admin_client.post(
        f"/admin/profiles/profilemerge/{ProfileMerge.objects.get().pk}/undo/"
    )
    assert undone.status_code == 302
    assert Profile.objects.get(pk=kept).first_name == "Ada"


def test_an_identity_conflicts_merge_is_confirmed_field_by_field(
    admin_client: Any, web_form: Any
) -> None:
    ada = person(web_form, "m1", email="ada@lovelace.org", phone="+33140205050", firstName="Ada")
    grace = person(web_form, "m2", email="ada2@lovelace.org", phone="+33140205050", firstName="Ada")
    conflict = IdentityConflict.objects.get()
    chosen = {"action": "merge_them", "_selected_action": [conflict.pk]}

    preview = admin_client.post("/admin/profiles/identityconflict/", chosen)

    assert preview.status_code == 200
    assert f"Conflict #{conflict.pk}" in preview.content.decode()
    assert ProfileMerge.objects.count() == 0
    done = admin_client.post("/admin/profiles/identityconflict/", {**chosen, "confirm": "yes"})
    assert done.status_code == 302
    assert Profile.objects.filter(pk__in=[ada, grace], status="merged").count() == 1


def test_the_conflict_queue_ranks_pairs_by_score_with_their_reasons(admin_client: Any) -> None:
    def pair(first: dict[str, str], second: dict[str, str], value: str) -> IdentityConflict:
        return IdentityConflict.objects.create(
            profile=Profile.objects.create(**first),
            other_profile=Profile.objects.create(**second),
            kind="phone",
            value_hash=value,
            value_masked=value,
            reason="different",
        )

    ada = {"first_name": "Ada", "last_name": "Lovelace", "city": "London"}
    unlikely = pair(
        {"first_name": "Jean", "last_name": "Martin", "city": "Lyon"},
        {"first_name": "Jean", "last_name": "Martin", "city": "Brest", "email": "jm@x.fr"},
        "+331******01",
    )
    likely = pair({**ada, "email": "ada@x.org"}, {**ada, "email": "ada@x.org"}, "+331******02")

    page = admin_client.get("/admin/profiles/identityconflict/").content.decode()

    likely.refresh_from_db()
    unlikely.refresh_from_db()
    assert likely.score is not None
    assert unlikely.score is not None
    assert likely.score > unlikely.score
    assert page.index("+331******02") < page.index("+331******01")
    assert "same email" in page
    assert "different city" in page
    assert f"{likely.score:.3f}" in page
