"""Admin: the builder's live preview, saving through the services, the member list,
CSV export, static-list edits, the size chart and the 360° panels."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from core.leases import job_lease_claim, job_lease_release
from segments.models import Membership, Persona, Segment
from segments.services import segment_create, segment_refresh, segment_refresh_job

FRENCH = {"field": "country", "op": "eq", "value": "FR"}


def test_the_builder_preview_gives_count_sample_and_words(
    admin_client: Client, make_profile: Any
) -> None:
    ada = make_profile(country="FR", first_name="Ada")
    make_profile(country="DE")

    response = admin_client.post(
        "/admin/segments/segment/preview/",
        json.dumps({"rule": {"all": [FRENCH]}}),
        content_type="application/json",
    )

    body = response.json()
    assert response.status_code == 200
    assert body["count"] == 1
    assert [p["id"] for p in body["sample"]] == [ada.pk]
    assert "country is “FR”" in body["words"]
    assert Segment.objects.count() == 0


def test_the_builder_preview_names_the_offending_node(admin_client: Client) -> None:
    response = admin_client.post(
        "/admin/segments/segment/preview/",
        json.dumps(
            {"rule": {"any": [FRENCH, {"field": "quality_score", "op": "contains", "value": "x"}]}}
        ),
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.json()["error"]["path"] == "rule.any[1].op"


def test_adding_a_segment_in_admin_validates_the_rule_and_saves_nothing_when_bad(
    admin_client: Client,
) -> None:
    form = {
        "name": "French",
        "description": "",
        "kind": "dynamic",
        "refresh_every_minutes": 60,
        "is_active": "on",
    }

    bad = admin_client.post(
        "/admin/segments/segment/add/",
        {**form, "rule": json.dumps({"field": "shoe_size", "op": "eq", "value": 1})},
    )
    good = admin_client.post("/admin/segments/segment/add/", {**form, "rule": json.dumps(FRENCH)})

    assert bad.status_code == 200
    assert "rule.field: unknown field" in bad.content.decode()
    assert good.status_code == 302
    segment = Segment.objects.get()
    assert (segment.name, segment.rule, segment.created_by.username) == ("French", FRENCH, "admin")


def test_the_change_page_shows_the_rule_in_words_and_the_size_chart(
    admin_client: Client, make_profile: Any
) -> None:
    make_profile(country="FR")
    segment = segment_create(name="French", rule=FRENCH)
    segment_refresh(segment_id=segment.pk)
    segment_refresh(segment_id=segment.pk)

    page = admin_client.get(f"/admin/segments/segment/{segment.pk}/change/").content.decode()

    assert "country is “FR”" in page
    assert '<svg class="segment-sizes"' in page
    assert 'id="rule-builder"' in page
    assert "segments/builder.js" in page


def test_the_size_chart_is_a_line_from_creation_to_now_topped_by_the_member_count(
    admin_client: Client, make_profile: Any
) -> None:
    import re

    make_profile(country="FR")
    segment = segment_create(name="French", rule=FRENCH)
    segment_refresh(segment_id=segment.pk)
    make_profile(country="FR")
    make_profile(country="FR")
    segment_refresh(segment_id=segment.pk)

    page = admin_client.get(f"/admin/segments/segment/{segment.pk}/change/").content.decode()

    segment.refresh_from_db()
    svg = re.search(r'<svg class="segment-sizes".*?</svg>', page, flags=re.S).group(0)
    points = [
        tuple(map(float, pair.split(",")))
        for pair in re.search(r'points="([^"]+)"', svg).group(1).split()
    ]
    assert segment.member_count == 3
    assert points[0][0] == 0.0  # from the segment's creation
    assert points[-1][0] == 640.0  # to now
    assert len(points) == 2 + 2 * 2  # creation, a step per refresh, now
    assert points[-1][1] == 5.0  # the line ends at the top: the member count is the maximum
    assert points[0][1] > points[-1][1]  # it started lower (1 member)
    assert "max 3</text>" in svg
    assert "now · 3</text>" in svg


def test_the_first_refresh_backfills_the_size_from_when_members_were_first_seen(
    admin_client: Client, make_profile: Any
) -> None:
    import re
    from datetime import timedelta

    from django.utils import timezone

    from segments.models import SegmentSize
    from segments.services.membership import BACKFILL_POINTS

    now = timezone.now()
    seen = [now - timedelta(days=days) for days in (30, 20, 10)]
    for at in seen:
        make_profile(country="FR", first_seen_at=at)
    make_profile(country="FR")  # seen today
    make_profile(country="DE", first_seen_at=now - timedelta(days=40))
    segment = segment_create(name="French", rule=FRENCH)

    segment_refresh(segment_id=segment.pk)
    segment_refresh(segment_id=segment.pk)

    rows = list(SegmentSize.objects.filter(segment=segment).order_by("at", "pk"))
    estimated = [row for row in rows if row.backfilled]
    assert len(estimated) == BACKFILL_POINTS
    assert [row.backfilled for row in rows] == [True] * BACKFILL_POINTS + [False, False]
    assert estimated[0].at == seen[0]  # from the oldest member's first sight
    # each point counts the members seen by then, on the profiles' own dates
    assert [row.size for row in estimated] == [
        sum(at <= row.at for at in seen) for row in estimated
    ]
    assert [row.size for row in rows[-2:]] == [4, 4]
    page = admin_client.get(f"/admin/segments/segment/{segment.pk}/change/").content.decode()
    svg = re.search(r'<svg class="segment-sizes".*?</svg>', page, flags=re.S).group(0)
    assert 'class="segment-sizes-estimated"' in svg
    assert "max 4</text>" in svg  # the top of the chart is the member count
    assert "now · 4</text>" in svg
    assert "Dashed: estimated when the segment was created" in page


def test_a_segment_of_people_all_seen_today_has_no_past_to_backfill(make_profile: Any) -> None:
    from segments.models import SegmentSize

    make_profile(country="FR")
    segment = segment_create(name="French", rule=FRENCH)

    segment_refresh(segment_id=segment.pk)

    assert list(SegmentSize.objects.filter(segment=segment).values_list("backfilled", "size")) == [
        (False, 1)
    ]


def test_members_list_export_and_static_edits(admin_client: Client, make_profile: Any) -> None:
    ada = make_profile(email="ada@example.org", first_name="Ada", country="FR")
    grace = make_profile(email="grace@example.org", first_name="Grace", country="FR")
    segment = segment_create(name="VIP", kind="static")

    added = admin_client.post(
        f"/admin/segments/segment/{segment.pk}/members/",
        {"identifiers": f"{ada.pk}\n{grace.pk}, 424242"},
    )
    removed = admin_client.post(
        f"/admin/segments/segment/{segment.pk}/members/",
        {"identifiers": str(grace.pk), "remove": "on"},
    )
    listing = admin_client.get(f"/admin/segments/segment/{segment.pk}/members/")
    export = admin_client.get(f"/admin/segments/segment/{segment.pk}/export/")

    assert (added.status_code, removed.status_code) == (302, 302)
    assert "ada@example.org" in listing.content.decode()
    assert "grace@example.org" not in listing.content.decode()
    lines = b"".join(export.streaming_content).decode().splitlines()
    assert lines[0] == "profile_id,email,first_name,last_name,company,country,entered_at"
    assert lines[1].startswith(f"{ada.pk},ada@example.org,Ada,,,FR,")
    assert len(lines) == 2
    assert Membership.objects.filter(segment=segment).count() == 2


def test_the_360_page_shows_segments_and_personas(admin_client: Client, make_profile: Any) -> None:
    ada = make_profile(country="FR")
    segment = segment_create(name="French", rule=FRENCH)
    segment_refresh(segment_id=segment.pk)
    Persona.objects.create(name="Marketing Marie", segment=segment, messaging="Show ROI")

    page = admin_client.get(f"/admin/profiles/profile/{ada.pk}/change/").content.decode()

    assert "<h2>Segments</h2>" in page
    assert "French" in page
    assert "Marketing Marie" in page
    assert "Show ROI" in page


def test_a_refresh_asked_for_in_admin_shows_queued_then_running_then_nothing(
    admin_client: Client, make_profile: Any, django_capture_on_commit_callbacks: Any
) -> None:
    make_profile(country="FR")
    segment = segment_create(name="French", rule=FRENCH)
    with django_capture_on_commit_callbacks() as sent:
        admin_client.post(
            "/admin/segments/segment/",
            {"action": "refresh_now", "_selected_action": [segment.pk]},
        )
    queued = admin_client.get("/admin/segments/segment/").content.decode()
    lease = job_lease_claim(job=segment_refresh_job(segment.pk))
    assert lease is not None
    running = admin_client.get(f"/admin/segments/segment/{segment.pk}/change/").content.decode()
    job_lease_release(lease, done=True)
    done = admin_client.get("/admin/segments/segment/").content.decode()

    assert [c.keywords for c in sent] == [{"kwargs": {"segment_id": segment.pk}}]
    assert '<td class="field-refresh_state">queued</td>' in queued
    assert "running since" in running
    assert '<td class="field-refresh_state">—</td>' in done
