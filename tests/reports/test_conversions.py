"""Conversions attributed to the first and last touch (UTM), and the days to convert."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from consent.services import person_erase
from profiles.models import Event, Profile
from profiles.services import ingest_messages
from profiles.services.messages import Message
from reports.builtin import report_build
from reports.models import Conversion
from reports.services import rollups_catch_up, rollups_rebuild

START = date(2026, 11, 2)


def event(person: str, name: str, day: int, campaign: str = "", source: str = "") -> Message:
    """A page view (or a named track) `day` days after START, with a UTM campaign."""
    context = (
        {"campaign": {"name": campaign, "source": source or "ads", "medium": "cpc"}}
        if campaign
        else {}
    )
    when = datetime(START.year, START.month, START.day, 10, tzinfo=UTC) + timedelta(days=day)
    return Message(
        type="track",
        message_id=f"{person}-{name}-{day}",
        user_id=person,
        name=name,
        context=context,
        timestamp=when.isoformat(),
    )


@pytest.fixture
def journeys_of_people(web_form: Any) -> None:
    result = ingest_messages(
        source=web_form,
        messages=[
            # Ann: an ad in spring, a retargeting mail, then an order (9 days after her
            # first visit); a touch after the order does not count for it.
            event("ann", "Product Viewed", 0, "spring", "ads"),
            event("ann", "Newsletter Opened", 7, "retarget", "news"),
            event("ann", "Order Completed", 9),
            event("ann", "Product Viewed", 10, "later", "ads"),
            # Bob: orders the day he arrives, untouched by any campaign.
            event("bob", "Order Completed", 3),
            # Cid: a touch and an order the same day, then a second order 20 days later.
            event("cid", "Product Viewed", 1, "summer", "social"),
            event("cid", "Order Completed", 1),
            event("cid", "Order Completed", 21),
        ],
    )
    assert result.rejected == 0


def rows() -> dict[tuple[str, int], tuple[str, str, int | None]]:
    found = {}
    for row in Conversion.objects.all():
        event = Event.objects.filter(pk=row.event_id).first()
        person = event.profile.identities.get(kind="user_id").value if event else "erased"
        found[(person, (row.day - START).days)] = (
            row.first_campaign,
            row.last_campaign,
            row.days_to_convert,
        )
    return found


EXPECTED = {
    ("ann", 9): ("spring", "retarget", 9),
    ("bob", 3): ("", "", 0),
    ("cid", 1): ("summer", "summer", 0),
    ("cid", 21): ("summer", "summer", 20),
}


def test_the_catch_up_attributes_each_conversion_once_and_the_rebuild_agrees(
    journeys_of_people: None,
) -> None:
    rollups_catch_up()
    assert rows() == EXPECTED
    rollups_catch_up()
    assert Conversion.objects.count() == 4
    rollups_rebuild()
    assert rows() == EXPECTED


def test_an_erased_persons_conversions_stay_as_anonymous_rows(
    journeys_of_people: None,
) -> None:
    rollups_catch_up()
    ann = Profile.objects.get(identities__value="ann")
    person_erase(profile_ids=[ann.pk])
    rollups_rebuild()
    found = rows()
    assert found[("erased", 9)] == ("spring", "retarget", 9)
    assert len(found) == 4


def test_conversions_unread_at_the_erasure_are_attributed_before_the_events_go(
    journeys_of_people: None,
) -> None:
    rollups_rebuild()  # the cursor exists and has read nothing since
    ingest_messages(
        source=Profile.objects.get(identities__value="ann").events.first().source,
        messages=[event("ann", "Order Completed", 30)],
    )
    person_erase(profile_ids=[Profile.objects.get(identities__value="ann").pk])
    rollups_catch_up()
    assert ("spring", "later", 30) in [
        (r.first_campaign, r.last_campaign, r.days_to_convert) for r in Conversion.objects.all()
    ]


def test_the_reports_show_first_and_last_touch_and_the_time_to_convert(
    journeys_of_people: None,
) -> None:
    rollups_catch_up()
    start, end = START, START + timedelta(days=27)

    marketing = report_build(code="marketing", start=start, end=end)
    tables = {str(table.title): table.rows for table in marketing.tables}
    assert tables["Conversions by first touch"] == [
        ("summer", "social", "cpc", 2),
        ("(no campaign)", "—", "—", 1),
        ("spring", "ads", "cpc", 1),
    ]
    assert tables["Conversions by last touch"][0] == ("summer", "social", "cpc", 2)
    assert ("retarget", "news", "cpc", 1) in tables["Conversions by last touch"]

    funnel = report_build(code="funnel", start=start, end=end)
    figures = {str(figure.label): figure.value for figure in funnel.figures}
    assert figures["Median days to convert"] == 4.5  # 0, 0, 9, 20
    buckets = {
        str(table.title): table.rows
        for table in funnel.tables
        if "Time to convert" in str(table.title)
    }
    (to_convert,) = buckets.values()
    assert [(str(label), n) for label, n, _ in to_convert] == [
        ("The same day", 2),
        ("1 to 7 days", 0),
        ("8 to 30 days", 2),
        ("31 to 90 days", 0),
        ("More than 90 days", 0),
    ]
