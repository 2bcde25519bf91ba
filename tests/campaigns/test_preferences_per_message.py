"""An email's preference link names its message: withdrawing that email's purpose on the
preference page counts the unsubscribe for it, once; nothing else counts."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db.models import Sum
from django.test import Client

from campaigns.models import Broadcast, Message
from campaigns.selectors import broadcast_stats
from campaigns.services import broadcast_create, broadcast_schedule, outbox_send_due
from consent.links import preferences_link_read, preferences_token_make
from consent.models import ConsentRecord
from consent.selectors import consent_current
from profiles.models import Event, Profile
from profiles.services import profile_merge
from reports.models import DailyMessages
from reports.services import rollups_catch_up
from tests.campaigns.conftest import grant, make_people, static_segment

pytestmark = pytest.mark.django_db
UNSUBSCRIBED = "Email Unsubscribed"


class _Page(HTMLParser):
    """The links of an email, or the fields the preference form posts (as a browser would)."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.fields: list[tuple[str, str]] = []
        self.boxes: dict[str, bool] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "a":
            self.hrefs.append(found.get("href", ""))
        elif tag == "input" and found.get("type") == "hidden":
            self.fields.append((found["name"], found["value"]))
        elif tag == "input" and found.get("type") == "checkbox" and "disabled" not in found:
            self.boxes[found["value"]] = "checked" in found


def _parsed(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def _send(people: list[Profile], template: Any, purposes: dict[str, Any]) -> Broadcast:
    """A newsletter broadcast to people who gave both the newsletter and the partners."""
    for person in people:
        grant(person, purposes["newsletter"])
        grant(person, purposes["partners"])
    broadcast = broadcast_create(
        name="News",
        segment_id=static_segment(people).pk,
        template_id=template.pk,
        purpose_id=purposes["newsletter"].pk,
    )
    broadcast_schedule(broadcast_id=broadcast.pk)
    assert outbox_send_due().sent == len(people)
    return broadcast


def _preferences_path(smtp_sink: Any, person: Profile) -> str:
    """The path of the preference link in the HTML of the email the person received."""
    mail = next(m for m in smtp_sink.messages if m["To"] == person.email)
    html = next(
        part.get_payload(decode=True).decode()
        for part in mail.walk()
        if part.get_content_type() == "text/html"
    )
    (url,) = [h for h in _parsed(html).hrefs if "/consent/preferences/" in h]
    return urlsplit(url).path


def _token(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[1]


def _save(client: Client, path: str, *, untick: str = "", tick: str = "") -> Any:
    """Open the preference page, untick or tick one box, save, as a person does."""
    page = client.get(path)
    assert page.status_code == 200
    form = _parsed(page.content.decode())
    data: dict[str, list[str]] = {}
    for name, value in form.fields:
        data.setdefault(name, []).append(value)
    ticked = {code for code, on in form.boxes.items() if on} - {untick} | ({tick} - {""})
    data["granted"] = sorted(ticked)
    return client.post(path, data)


def _unsubscribed_rolled(broadcast: Broadcast) -> int:
    rows = DailyMessages.objects.filter(
        origin_kind="broadcast", origin_id=broadcast.pk, metric="unsubscribed"
    )
    return rows.aggregate(n=Sum("count"))["n"] or 0


def _counted(broadcast: Broadcast) -> tuple[int, int, int]:
    """(Email Unsubscribed events, the broadcast's stats, the message rollup)."""
    rollups_catch_up()
    return (
        Event.objects.filter(name=UNSUBSCRIBED).count(),
        broadcast_stats(broadcast=broadcast).unsubscribed,
        _unsubscribed_rolled(broadcast),
    )


def test_the_emails_preference_link_names_its_message(
    smtp_sink: Any, template: Any, purposes: dict[str, Any]
) -> None:
    people = make_people(2)
    broadcast = _send(people, template, purposes)

    for person in people:
        link = preferences_link_read(token=_token(_preferences_path(smtp_sink, person)))
        message = Message.objects.get(profile=person, origin_id=broadcast.pk)
        assert (link.profile_id, link.message_id) == (person.pk, message.pk)


def test_withdrawing_the_emails_purpose_on_the_page_counts_once_for_its_message(
    smtp_sink: Any, template: Any, purposes: dict[str, Any]
) -> None:
    newsletter, partners = purposes["newsletter"], purposes["partners"]
    people = make_people(2)
    broadcast = _send(people, template, purposes)
    message = Message.objects.get(profile=people[0], origin_id=broadcast.pk)
    path = _preferences_path(smtp_sink, people[0])
    client = Client()

    first = _save(client, path, untick="newsletter")
    second = _save(client, path, untick="newsletter")  # the same choices saved again
    _save(client, path, tick="newsletter")  # changed their mind, then unticked again
    third = _save(client, path, untick="newsletter")

    assert (first.status_code, second.status_code, third.status_code) == (303, 303, 303)
    current = consent_current(profile_id=people[0].pk, purpose=newsletter)
    assert (current.status, current.method) == ("withdrawn", "preference_page")
    assert consent_current(profile_id=people[0].pk, purpose=partners).status == "granted"
    events = Event.objects.filter(name=UNSUBSCRIBED)
    assert [(e.profile_id, e.message_id) for e in events] == [
        (people[0].pk, f"unsubscribed:{message.message_id}")
    ]
    assert events.get().properties["message"] == message.pk
    assert _counted(broadcast) == (1, 1, 1)
    assert consent_current(profile_id=people[1].pk, purpose=newsletter).status == "granted"


def test_withdrawing_another_purpose_on_the_page_counts_nothing(
    smtp_sink: Any, template: Any, purposes: dict[str, Any]
) -> None:
    people = make_people(1)
    broadcast = _send(people, template, purposes)

    response = _save(Client(), _preferences_path(smtp_sink, people[0]), untick="partners")

    assert response.status_code == 303
    assert consent_current(profile_id=people[0].pk, purpose=purposes["partners"]).status == (
        "withdrawn"
    )
    assert consent_current(profile_id=people[0].pk, purpose=purposes["newsletter"]).status == (
        "granted"
    )
    assert _counted(broadcast) == (0, 0, 0)


def test_an_old_preference_link_without_a_message_still_works_and_counts_nothing(
    smtp_sink: Any, template: Any, purposes: dict[str, Any]
) -> None:
    people = make_people(1)
    broadcast = _send(people, template, purposes)
    old = preferences_token_make(profile_id=people[0].pk)
    assert preferences_link_read(token=old).message_id is None

    response = _save(Client(), f"/consent/preferences/{old}/", untick="newsletter")

    assert response.status_code == 303
    record = consent_current(profile_id=people[0].pk, purpose=purposes["newsletter"])
    assert (record.status, record.method) == (
        ConsentRecord.Status.WITHDRAWN,
        ConsentRecord.Method.PREFERENCE_PAGE,
    )
    assert _counted(broadcast) == (0, 0, 0)


def test_a_preference_link_naming_another_persons_message_counts_nothing(
    smtp_sink: Any, template: Any, purposes: dict[str, Any]
) -> None:
    newsletter = purposes["newsletter"]
    people = make_people(2)
    broadcast = _send(people, template, purposes)
    theirs = Message.objects.get(profile=people[1], origin_id=broadcast.pk)
    forged = preferences_token_make(profile_id=people[0].pk, message_id=theirs.pk)

    response = _save(Client(), f"/consent/preferences/{forged}/", untick="newsletter")

    # Signed for this person: their withdrawal stands; the message is not theirs.
    assert response.status_code == 303
    assert consent_current(profile_id=people[0].pk, purpose=newsletter).status == "withdrawn"
    assert consent_current(profile_id=people[1].pk, purpose=newsletter).status == "granted"
    assert _counted(broadcast) == (0, 0, 0)


def test_the_link_of_an_email_sent_before_a_merge_counts_for_its_message(
    smtp_sink: Any, template: Any, purposes: dict[str, Any]
) -> None:
    newsletter = purposes["newsletter"]
    absorbed, survivor = make_people(2)
    broadcast = _send([absorbed], template, purposes)
    path = _preferences_path(smtp_sink, absorbed)
    profile_merge(survivor_id=survivor.pk, absorbed_id=absorbed.pk)

    response = _save(Client(), path, untick="newsletter")

    assert response.status_code == 303
    assert consent_current(profile_id=survivor.pk, purpose=newsletter).status == "withdrawn"
    assert _counted(broadcast) == (1, 1, 1)
