"""An email's own unsubscribe link names its message: the unsubscribe counts for it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db.models import Sum
from django.test import Client

from campaigns.models import Broadcast, Message
from campaigns.selectors import broadcast_stats
from campaigns.services import broadcast_create, broadcast_schedule, outbox_send_due
from consent.links import unsubscribe_link_read, unsubscribe_token_make
from consent.models import ConsentRecord
from consent.selectors import consent_current
from profiles.models import Event, Profile
from reports.models import DailyMessages
from reports.services import rollups_catch_up
from tests.campaigns.conftest import grant, make_people, static_segment

pytestmark = pytest.mark.django_db
UNSUBSCRIBED = "Email Unsubscribed"


def _send(people: list[Profile], template: Any, purpose: Any) -> Broadcast:
    for person in people:
        grant(person, purpose)
    broadcast = broadcast_create(
        name="News",
        segment_id=static_segment(people).pk,
        template_id=template.pk,
        purpose_id=purpose.pk,
    )
    broadcast_schedule(broadcast_id=broadcast.pk)
    assert outbox_send_due().sent == len(people)
    return broadcast


def _one_click_path(mail: Any) -> str:
    """The path of the List-Unsubscribe URL the email carries, as a mail provider reads it."""
    url = mail["List-Unsubscribe"].strip().removeprefix("<").removesuffix(">")
    return urlsplit(url).path


def _one_click(path: str) -> Any:
    return Client().post(path, {"List-Unsubscribe": "One-Click"})


def _unsubscribed_rolled(broadcast: Broadcast) -> int:
    rows = DailyMessages.objects.filter(
        origin_kind="broadcast", origin_id=broadcast.pk, metric="unsubscribed"
    )
    return rows.aggregate(n=Sum("count"))["n"] or 0


def test_the_one_click_link_of_a_sent_email_counts_the_unsubscribe_for_its_message(
    smtp_sink: Any, template: Any, newsletter: Any
) -> None:
    people = make_people(2)
    broadcast = _send(people, template, newsletter)
    mail = next(m for m in smtp_sink.messages if m["To"] == people[0].email)
    message = Message.objects.get(profile=people[0], origin_id=broadcast.pk)
    path = _one_click_path(mail)
    link = unsubscribe_link_read(token=path.rstrip("/").rsplit("/", 1)[1])
    assert (link.profile_id, link.purpose_id, link.message_id) == (
        people[0].pk,
        newsletter.pk,
        message.pk,
    )

    first = _one_click(path)
    second = _one_click(path)

    assert (first.status_code, second.status_code) == (200, 200)
    current = consent_current(profile_id=people[0].pk, purpose=newsletter)
    assert (current.status, current.method) == ("withdrawn", "unsubscribe_link")
    events = Event.objects.filter(name=UNSUBSCRIBED)
    assert [(e.profile_id, e.message_id) for e in events] == [
        (people[0].pk, f"unsubscribed:{message.message_id}")
    ]
    assert events.get().properties["message"] == message.pk
    assert broadcast_stats(broadcast=broadcast).unsubscribed == 1
    rollups_catch_up()
    assert _unsubscribed_rolled(broadcast) == 1
    assert consent_current(profile_id=people[1].pk, purpose=newsletter).status == "granted"


def test_the_page_button_counts_it_too(smtp_sink: Any, template: Any, newsletter: Any) -> None:
    people = make_people(1)
    broadcast = _send(people, template, newsletter)
    path = _one_click_path(smtp_sink.messages[0])

    assert Client().get(path).status_code == 200
    assert not Event.objects.filter(name=UNSUBSCRIBED).exists()  # a GET changes nothing
    assert Client().post(path).status_code == 200

    assert Event.objects.filter(name=UNSUBSCRIBED).count() == 1
    assert broadcast_stats(broadcast=broadcast).unsubscribed == 1


def test_a_link_naming_another_persons_message_withdraws_but_counts_nothing(
    smtp_sink: Any, template: Any, newsletter: Any
) -> None:
    people = make_people(2)
    broadcast = _send(people, template, newsletter)
    theirs = Message.objects.get(profile=people[1], origin_id=broadcast.pk)
    forged = [
        unsubscribe_token_make(
            profile_id=people[0].pk, purpose_id=newsletter.pk, message_id=theirs.pk
        ),
        unsubscribe_token_make(
            profile_id=people[0].pk, purpose_id=newsletter.pk, message_id=10**12
        ),
    ]

    for token in forged:
        assert _one_click(f"/consent/unsubscribe/{token}/").status_code == 200

    # The link is signed for this person and purpose: the withdrawal stands, the message
    # it names is not theirs (or does not exist), so no message counts it.
    assert consent_current(profile_id=people[0].pk, purpose=newsletter).status == "withdrawn"
    assert consent_current(profile_id=people[1].pk, purpose=newsletter).status == "granted"
    assert not Event.objects.filter(name=UNSUBSCRIBED).exists()
    rollups_catch_up()
    assert (broadcast_stats(broadcast=broadcast).unsubscribed, _unsubscribed_rolled(broadcast)) == (
        0,
        0,
    )


def test_a_tampered_message_id_is_refused(smtp_sink: Any, template: Any, newsletter: Any) -> None:
    people = make_people(1)
    _send(people, template, newsletter)
    path = _one_click_path(smtp_sink.messages[0])
    token = path.rstrip("/").rsplit("/", 1)[1]
    payload, signature = token.split(":")
    tampered = f"{payload[:-2]}{'AA' if payload[-2:] != 'AA' else 'BB'}:{signature}"

    response = _one_click(f"/consent/unsubscribe/{tampered}/")

    assert response.status_code == 400
    assert consent_current(profile_id=people[0].pk, purpose=newsletter).status == "granted"
    assert not Event.objects.filter(name=UNSUBSCRIBED).exists()


def test_an_old_link_without_a_message_still_unsubscribes(
    smtp_sink: Any, template: Any, newsletter: Any
) -> None:
    people = make_people(1)
    broadcast = _send(people, template, newsletter)
    old = unsubscribe_token_make(profile_id=people[0].pk, purpose_id=newsletter.pk)
    assert unsubscribe_link_read(token=old).message_id is None

    assert _one_click(f"/consent/unsubscribe/{old}/").status_code == 200

    record = consent_current(profile_id=people[0].pk, purpose=newsletter)
    assert (record.status, record.method) == (
        ConsentRecord.Status.WITHDRAWN,
        ConsentRecord.Method.UNSUBSCRIBE_LINK,
    )
    assert not Event.objects.filter(name=UNSUBSCRIBED).exists()
    assert broadcast_stats(broadcast=broadcast).unsubscribed == 0
