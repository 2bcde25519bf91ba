"""The steward's duplicate queue in admin: list, side-by-side compare, decisions, settings."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages

from cdp_site.periodic import PERIODIC_TASKS
from profiles.models import DuplicateCandidate, DuplicateSettings, Profile, ProfileMerge
from profiles.services import Message, ingest_messages
from profiles.services.duplicates import duplicates_scan
from profiles.tasks import duplicates_full_scan_task, duplicates_scan_task

pytestmark = pytest.mark.django_db

ADA = {
    "firstName": "Ada",
    "lastName": "Lovelace",
    "postcode": "SW1Y 4JH",
    "city": "London",
    "birthday": "1915-12-10",
}


def user_in(group: str) -> Any:
    user = get_user_model().objects.create_user(group, password="pw-123456789", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def steward(client: Any) -> Any:
    client.force_login(user_in("steward"))
    return client


@pytest.fixture
def candidate(crm: Any) -> DuplicateCandidate:
    ingest_messages(
        source=crm,
        messages=[
            Message(type="identify", message_id="a", external_id="c-1", traits=ADA),
            Message(
                type="identify",
                message_id="b",
                external_id="c-2",
                traits={**ADA, "firstName": "Adah", "city": "Londres"},
            ),
        ],
    )
    duplicates_scan()
    return DuplicateCandidate.objects.get()


def test_the_queue_lists_open_pairs_with_their_score(steward: Any, candidate: Any) -> None:
    response = steward.get("/admin/profiles/duplicatecandidate/")

    page = response.content.decode()
    assert response.status_code == 200
    assert f"Compare #{candidate.profile_low_id} / #{candidate.profile_high_id}" in page
    assert f"{candidate.score:.3f}" in page


def test_the_compare_page_shows_both_profiles_side_by_side(steward: Any, candidate: Any) -> None:
    response = steward.get(f"/admin/profiles/duplicatecandidate/{candidate.pk}/change/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "Adah" in page
    assert "Londres" in page
    assert f"Merge, keep #{candidate.profile_low_id}" in page
    assert "Not the same person" in page


def test_the_merge_button_merges_into_the_chosen_side_once_confirmed(
    steward: Any, candidate: Any
) -> None:
    url = f"/admin/profiles/duplicatecandidate/{candidate.pk}/change/"
    chosen = {"decision": "merge", "survivor": str(candidate.profile_high_id)}

    preview = steward.post(url, chosen)

    page = preview.content.decode()
    assert preview.status_code == 200
    assert not ProfileMerge.objects.exists()
    assert f"Merge #{candidate.profile_low_id} into #{candidate.profile_high_id}" in page
    assert "After the merge" in page
    response = steward.post(url, {**chosen, "confirm": "yes"})

    merge = ProfileMerge.objects.get()
    candidate.refresh_from_db()
    assert response.status_code == 302
    assert (merge.survivor_id, merge.absorbed_id) == (
        candidate.profile_high_id,
        candidate.profile_low_id,
    )
    assert candidate.status == "merged"
    assert candidate.decided_by.username == "steward"
    assert Profile.objects.get(pk=candidate.profile_low_id).status == "merged"


def test_not_the_same_person_is_remembered(steward: Any, candidate: Any) -> None:
    response = steward.post(
        f"/admin/profiles/duplicatecandidate/{candidate.pk}/change/",
        {"decision": "not_same_person"},
    )
    duplicates_scan(profile_ids=[candidate.profile_low_id, candidate.profile_high_id])

    candidate.refresh_from_db()
    assert response.status_code == 302
    assert candidate.status == "not_same_person"
    assert DuplicateCandidate.objects.count() == 1
    assert not ProfileMerge.objects.exists()


def test_deciding_twice_shows_an_error_and_changes_nothing(steward: Any, candidate: Any) -> None:
    url = f"/admin/profiles/duplicatecandidate/{candidate.pk}/change/"
    steward.post(url, {"decision": "not_same_person"})

    response = steward.post(url, {"decision": "merge"})

    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert response.status_code == 302
    assert any("already decided" in text for text in texts)
    assert not ProfileMerge.objects.exists()


def test_a_viewer_neither_sees_the_pair_nor_decides(client: Any, candidate: Any) -> None:
    client.force_login(user_in("viewer"))
    url = f"/admin/profiles/duplicatecandidate/{candidate.pk}/change/"

    page = client.get(url)
    refused = client.post(url, {"decision": "not_same_person"})

    # Two people side by side, unmasked: not a page for viewers.
    assert page.status_code == 403
    assert refused.status_code == 403
    assert DuplicateCandidate.objects.get().status == "open"


def test_the_steward_enables_auto_merge_in_the_settings_page(steward: Any) -> None:
    response = steward.post(
        "/admin/profiles/duplicatesettings/1/change/",
        {
            "review_threshold": "0.6",
            "auto_merge_threshold": "0.999",
            "auto_merge_enabled": "on",
            "max_block_size": "40",
        },
    )

    saved = DuplicateSettings.objects.get()
    assert response.status_code == 302
    assert (saved.review_threshold, saved.auto_merge_threshold, saved.auto_merge_enabled) == (
        0.6,
        0.999,
        True,
    )


def test_the_settings_list_opens_the_one_settings_row(steward: Any) -> None:
    response = steward.get("/admin/profiles/duplicatesettings/")

    assert response.status_code == 302
    assert response["Location"].endswith("/admin/profiles/duplicatesettings/1/change/")


def test_the_scan_task_requeues_itself_while_more_is_due(
    crm: Any, django_capture_on_commit_callbacks: Any
) -> None:
    ingest_messages(
        source=crm,
        messages=[
            Message(type="identify", message_id=f"m{n}", external_id=f"c-{n}", traits=ADA)
            for n in range(3)
        ],
    )
    with django_capture_on_commit_callbacks() as callbacks:
        scanned = duplicates_scan_task(max_batches=1, batch_rows=2)

    assert scanned == 2
    assert [(callback.func, callback.keywords) for callback in callbacks] == [
        (duplicates_scan_task.apply_async, {"kwargs": {"max_batches": 1, "batch_rows": 2}})
    ]


def test_the_full_scan_task_runs_to_the_end(crm: Any) -> None:
    ingest_messages(
        source=crm,
        messages=[
            Message(type="identify", message_id=f"m{n}", external_id=f"c-{n}", traits=ADA)
            for n in range(3)
        ],
    )

    scanned = duplicates_full_scan_task()

    assert scanned == 3
    assert DuplicateCandidate.objects.count() == 3


def test_both_scans_are_scheduled() -> None:
    tasks = {spec.task: spec for spec in PERIODIC_TASKS}

    assert tasks["profiles.tasks.duplicates_scan_task"].every_seconds == 60
    assert tasks["profiles.tasks.duplicates_full_scan_task"].crontab == "41 2 * * *"
