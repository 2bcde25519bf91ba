"""Opens and clicks: signed links, no open redirect, events on the profile, machines flagged."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from campaigns.links import click_url, open_url
from campaigns.models import Message
from campaigns.selectors import origin_stats
from campaigns.services import broadcast_create, broadcast_schedule, outbox_send_due
from profiles.models import Event
from segments.models import Membership, Segment
from segments.services import segment_create, segment_refresh
from tests.campaigns.conftest import grant, make_people, static_segment

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Thunderbird/128.0"


@pytest.fixture
def sent(smtp_sink: Any, template: Any, newsletter: Any) -> Message:
    (person,) = make_people(1)
    grant(person, newsletter)
    broadcast = broadcast_create(
        name="B",
        segment_id=static_segment([person]).pk,
        template_id=template.pk,
        purpose_id=newsletter.pk,
    )
    broadcast_schedule(broadcast_id=broadcast.pk)
    outbox_send_due()
    # Read a minute later: not within the seconds that mark a machine.
    Message.objects.update(sent_at=timezone.now() - timedelta(minutes=1))
    return Message.objects.get()


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


@pytest.mark.django_db
def test_a_click_redirects_to_the_signed_url_and_becomes_a_profile_event(
    client: Any, sent: Message
) -> None:
    url = click_url(message_pk=sent.pk, url="https://example.org/offer?a=1")

    response = client.get(_path(url), HTTP_USER_AGENT=BROWSER)
    again = client.get(_path(url), HTTP_USER_AGENT=BROWSER)

    assert (response.status_code, response["Location"]) == (302, "https://example.org/offer?a=1")
    assert again.status_code == 302
    sent.refresh_from_db()
    assert sent.clicked_at is not None
    assert sent.opened_at is not None
    event = Event.objects.get(name="Email Clicked")
    assert (event.profile_id, event.properties["url"], event.properties["machine"]) == (
        sent.profile_id,
        "https://example.org/offer?a=1",
        False,
    )


@pytest.mark.django_db
def test_a_tampered_click_link_is_refused_and_redirects_nowhere(client: Any, sent: Message) -> None:
    token = _path(click_url(message_pk=sent.pk, url="https://example.org/")).split("/")[3]
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")

    response = client.get(f"/t/c/{forged}/", HTTP_USER_AGENT=BROWSER)

    assert response.status_code == 404
    assert not response.has_header("Location")
    assert Event.objects.filter(name="Email Clicked").count() == 0


@pytest.mark.django_db
def test_an_open_by_a_person_counts_and_a_scanner_is_flagged_apart(
    client: Any, sent: Message
) -> None:
    pixel = _path(open_url(message_pk=sent.pk))

    scanner = client.get(pixel, HTTP_USER_AGENT="Mozilla/5.0 (compatible; Barracuda scanner)")
    person = client.get(pixel, HTTP_USER_AGENT=BROWSER)

    assert (scanner.status_code, scanner["Content-Type"]) == (200, "image/gif")
    assert person.status_code == 200
    sent.refresh_from_db()
    assert sent.opened_at is not None
    assert sent.machine_opened_at is not None
    opens = dict(Event.objects.filter(name="Email Opened").values_list("message_id", "properties"))
    assert sorted(p["machine"] for p in opens.values()) == [False, True]
    stats = origin_stats(origin_kind="broadcast", origin_id=sent.origin_id)
    assert (stats.opened, stats.machine_opened, stats.delivered) == (1, 1, 1)


@pytest.mark.django_db
def test_an_open_seconds_after_sending_is_a_machine(client: Any, sent: Message) -> None:
    Message.objects.update(sent_at=timezone.now())

    client.get(_path(open_url(message_pk=sent.pk)), HTTP_USER_AGENT=BROWSER)

    sent.refresh_from_db()
    assert (sent.opened_at, sent.machine_opened_at is not None) == (None, True)


@pytest.mark.django_db
def test_a_click_puts_the_person_in_a_segment_whose_rule_asks_for_one(
    client: Any, sent: Message
) -> None:
    rule = {"event": {"name": "Email Clicked"}, "op": "at_least", "count": 1, "within_days": 30}
    clickers = segment_create(name="Clicked lately", kind=Segment.Kind.DYNAMIC, rule=rule)
    segment_refresh(segment_id=clickers.pk)
    before = set(
        Membership.objects.filter(segment=clickers, exited_at__isnull=True).values_list(
            "profile_id", flat=True
        )
    )

    client.get(
        _path(click_url(message_pk=sent.pk, url="https://example.org/offer?a=1")),
        HTTP_USER_AGENT=BROWSER,
    )
    segment_refresh(segment_id=clickers.pk)

    after = set(
        Membership.objects.filter(segment=clickers, exited_at__isnull=True).values_list(
            "profile_id", flat=True
        )
    )
    assert (before, after) == (set(), {sent.profile_id})
