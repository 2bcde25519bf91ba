"""Broadcast → outbox → SMTP: headers, languages, blocks, the consent gate, exactly once."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from campaigns.models import BlockedAddress, Broadcast, Message
from campaigns.services import broadcast_create, broadcast_schedule, outbox_send_due
from consent.models import Suppression
from consent.services import suppression_add, suppression_digest
from profiles.models import Event, Profile
from segments.services import persona_create
from tests.campaigns.conftest import grant, make_people, static_segment, withdraw


def _broadcast(segment: Any, template: Any, purpose: Any, **options: Any) -> Broadcast:
    broadcast = broadcast_create(
        name="November news",
        segment_id=segment.pk,
        template_id=template.pk,
        purpose_id=purpose.pk,
        **options,
    )
    return broadcast_schedule(broadcast_id=broadcast.pk)


@pytest.mark.django_db
def test_a_broadcast_reaches_each_consenting_member_once_with_its_headers(
    smtp_sink: Any, template: Any, newsletter: Any, django_capture_on_commit_callbacks: Any
) -> None:
    people = make_people(3)
    people[2].language = "fr-FR"
    people[2].save(update_fields=["language"])
    for person in people:
        grant(person, newsletter)
    segment = static_segment(people)
    persona_create(segment_id=segment.pk, name="Curious (demo)")
    broadcast = _broadcast(segment, template, newsletter)

    first = outbox_send_due()
    second = outbox_send_due()

    assert (first.sent, second.sent, second.claimed) == (3, 0, 0)
    rows = {m.profile_id: m for m in Message.objects.all()}
    received = {m["To"]: m for m in smtp_sink.messages}
    assert sorted(received) == [p.email for p in people]
    for person in people:
        mail = received[person.email]
        assert mail["Message-ID"] == rows[person.pk].message_id
        assert (
            mail["List-Unsubscribe"]
            .strip()
            .startswith("<http://localhost:8000/consent/unsubscribe/")
        )
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    fr = received[people[2].email]
    assert fr["Subject"] == "Bonjour P2"
    assert received[people[0].email]["Subject"] == "Hello P0"
    html = next(
        part.get_payload(decode=True).decode()
        for part in received[people[0].email].walk()
        if part.get_content_type() == "text/html"
    )
    assert "PERSONA-BLOCK" in html
    assert "color: #123456" in html  # CSS inlined
    assert "/t/c/" in html
    assert "/t/o/" in html
    assert "https://example.org/offer" not in html  # only through the signed redirect
    assert "/consent/preferences/" in html  # consent links are not rewritten
    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}
    assert Event.objects.filter(name="Email Sent").count() == 3
    assert broadcast.audience_size == 3


@pytest.mark.django_db
def test_the_gate_skips_each_person_who_may_not_be_contacted_with_the_reason(
    smtp_sink: Any, template: Any, newsletter: Any
) -> None:
    ok, withdrawn, never, suppressed, restricted, erased, bounced = make_people(7)
    for person in (ok, withdrawn, suppressed, restricted, erased, bounced):
        grant(person, newsletter)
    withdraw(withdrawn, newsletter)
    suppression_add(identifiers=[("email", suppressed.email)])
    BlockedAddress.objects.create(
        digest=suppression_digest(kind="email", value=bounced.email), reason="bounce"
    )
    segment = static_segment([ok, withdrawn, never, suppressed, restricted, erased, bounced])
    _broadcast(segment, template, newsletter)
    Profile.objects.filter(pk=restricted.pk).update(status="restricted")
    Profile.objects.filter(pk=erased.pk).update(status="erased", email="")

    result = outbox_send_due()

    assert [m["To"] for m in smtp_sink.messages] == [ok.email]
    assert result.skipped == {
        "withdrawn": 1,
        "no_consent": 1,
        "suppressed": 1,
        "restricted": 1,
        "erased": 1,
        "undeliverable": 1,
    }
    reasons = dict(Message.objects.values_list("profile_id", "skip_reason"))
    assert reasons[withdrawn.pk] == "withdrawn"
    assert reasons[never.pk] == "no_consent"


@pytest.mark.django_db
def test_an_expired_lease_is_retried_with_the_same_message_id(
    smtp_sink: Any, template: Any, newsletter: Any
) -> None:
    (person,) = make_people(1)
    grant(person, newsletter)
    _broadcast(static_segment([person]), template, newsletter)
    # A worker claimed the row then died before sending.
    from campaigns.services import outbox_claim

    claimed, _ = outbox_claim(limit=10)
    Message.objects.update(lease_until=timezone.now() - timezone.timedelta(seconds=1))

    result = outbox_send_due()

    message = Message.objects.get()
    assert (len(claimed), result.sent, message.status, message.attempts) == (1, 1, "sent", 2)
    assert smtp_sink.ids() == [message.message_id]


@pytest.mark.django_db
def test_quiet_hours_hold_marketing_until_they_end(
    smtp_sink: Any, template: Any, newsletter: Any, settings: Any
) -> None:
    settings.CDP_QUIET_HOURS = "00:00-23:59"
    (person,) = make_people(1)
    person.timezone = "Europe/Paris"
    person.save(update_fields=["timezone"])
    grant(person, newsletter)
    _broadcast(static_segment([person]), template, newsletter)

    result = outbox_send_due()

    message = Message.objects.get()
    assert (result.sent, result.deferred, message.status) == (0, 1, "queued")
    assert message.due_at > timezone.now()
    assert smtp_sink.messages == []


@pytest.mark.django_db
def test_a_frequency_cap_skips_marketing_but_not_transactional(
    smtp_sink: Any, template: Any, newsletter: Any, settings: Any
) -> None:
    settings.CDP_FREQUENCY_CAPS = {"email": {"day": 1, "week": 5}}
    (person,) = make_people(1)
    grant(person, newsletter)
    segment = static_segment([person])
    _broadcast(segment, template, newsletter)
    outbox_send_due()
    _broadcast(segment, template, newsletter)
    _broadcast(segment, template, newsletter, kind="transactional")

    result = outbox_send_due()

    assert (result.sent, result.skipped) == (1, {"frequency_cap": 1})
    assert len(smtp_sink.messages) == 2


@pytest.mark.django_db
def test_a_hard_bounce_fails_the_message_and_blocks_the_address_for_email_only(
    smtp_sink: Any, template: Any, newsletter: Any
) -> None:
    (person,) = make_people(1)
    Profile.objects.filter(pk=person.pk).update(email="bounce@example.org")
    grant(person, newsletter)
    segment = static_segment([person])
    _broadcast(segment, template, newsletter)

    first = outbox_send_due()
    _broadcast(segment, template, newsletter)
    second = outbox_send_due()

    assert (first.failed, second.skipped) == (1, {"undeliverable": 1})
    failed = Message.objects.get(status="failed")
    assert failed.last_error == "bounce 550"
    assert BlockedAddress.objects.get().reason == "bounce"
    assert smtp_sink.messages == []
    assert not Suppression.objects.exists()  # the person's data is not refused
