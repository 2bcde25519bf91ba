"""Message rollups equal plain queries over the outbox, the event log and the journeys."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.db.models import F, Sum
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from campaigns.journeys.engine import journeys_advance
from campaigns.journeys.selectors import ab_compare
from campaigns.journeys.services import journey_enrol
from campaigns.journeys.triggers import journeys_catch_up
from campaigns.models import Enrolment, Message, StepLog
from campaigns.services import (
    DeliveryEvent,
    bounce_record,
    broadcast_cancel,
    broadcast_create,
    broadcast_pause,
    broadcast_schedule,
    delivery_event_record,
    outbox_send_due,
    tracking_click,
    tracking_open,
)
from consent.links import unsubscribe_token_make
from consent.services import person_erase
from profiles.models import Event, Profile
from profiles.services import profile_merge
from profiles.services.events import system_source_get
from reports.builtin import report_build
from reports.models import DailyMessages, MessageStateChange, RollupCursor
from reports.services import rollups_catch_up, rollups_rebuild
from tests.campaigns.conftest import grant, newsletter, smtp_sink, static_segment, template
from tests.campaigns.journeys import live_journey

__all__ = ["newsletter", "smtp_sink", "template"]

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"
SCANNER = "curl/8.5"
DIMS = ("day", "origin_kind", "origin_id", "step", "variant", "channel", "metric", "reason")


def rolled() -> Counter:
    found: Counter = Counter()
    for row in DailyMessages.objects.values(*DIMS).annotate(n=Sum("count")).order_by():
        found[tuple(row[key] for key in DIMS)] += row["n"]
    return +found


def _day(at: Any) -> Any:
    return timezone.localtime(at).date()


def raw(*, profile_id: int | None = None, events_only: bool = False) -> Counter:
    """Per message of a broadcast: its events found by their ids, and its outbox state."""
    found: Counter = Counter()
    events = Event.objects.filter(source__slug="cdp-campaigns")
    if profile_id is not None:
        events = events.filter(profile_id=profile_id)
    for message in Message.objects.filter(origin_kind="broadcast"):
        origin = ("broadcast", message.origin_id, "", "", message.channel)
        for event in events.filter(message_id=f"sent:{message.message_id}"):
            found[(_day(event.occurred_at), *origin, "sent", "")] += 1
        for flag, metric in (("h", "opened"), ("m", "opened_machine")):
            for event in events.filter(message_id=f"open:{message.pk}:{flag}"):
                found[(_day(event.occurred_at), *origin, metric, "")] += 1
        for flag, metric in (("h", "clicked"), ("m", "clicked_machine")):
            first = (
                Event.objects.filter(
                    source__slug="cdp-campaigns",
                    message_id__startswith=f"click:{message.pk}:",
                    message_id__endswith=f":{flag}",
                )
                .order_by("id")
                .first()
            )
            if first is not None and events.filter(pk=first.pk).exists():
                found[(_day(first.occurred_at), *origin, metric, "")] += 1
        for event in events.filter(message_id=f"bounce:{message.message_id}"):
            reason = "hard" if event.properties["hard"] else "soft"
            found[(_day(event.occurred_at), *origin, "bounced", reason)] += 1
        for event in events.filter(message_id=f"complaint:{message.message_id}"):
            found[(_day(event.occurred_at), *origin, "complained", "")] += 1
        for event in events.filter(message_id=f"unsubscribed:{message.message_id}"):
            found[(_day(event.occurred_at), *origin, "unsubscribed", "")] += 1
        if events_only:
            continue
        if message.status == "skipped":
            found[(_day(message.due_at), *origin, "skipped", message.skip_reason)] += 1
        if message.status == "failed" and message.sent_at is None:
            found[(_day(message.due_at), *origin, "failed", "")] += 1
    return found


@pytest.fixture
def erased_counts() -> Counter:
    """What erased people's events counted, taken just before their erasure."""
    return Counter()


def _people(count: int) -> list[Profile]:
    return [
        Profile.objects.create(email=f"{uuid.uuid4().hex}@example.org", first_name="P")
        for _ in range(count)
    ]


def _broadcast(people: list[Profile], template: Any, purpose: Any) -> list[Message]:
    broadcast = broadcast_create(
        name="B",
        segment_id=static_segment(people, name=uuid.uuid4().hex).pk,
        template_id=template.pk,
        purpose_id=purpose.pk,
    )
    broadcast_schedule(broadcast_id=broadcast.pk)
    outbox_send_due()
    Message.objects.filter(origin_id=broadcast.pk).update(
        sent_at=timezone.now() - timedelta(minutes=5)
    )
    return list(Message.objects.filter(origin_id=broadcast.pk).order_by("id"))


def _unsubscribe(message: Message, *, by_link: bool) -> None:
    """By the one-click link the email carried (it names its message), else by an email
    service's report."""
    if by_link:
        token = unsubscribe_token_make(
            profile_id=message.profile_id, purpose_id=message.purpose_id, message_id=message.pk
        )
        Client().post(f"/consent/unsubscribe/{token}/", {"List-Unsubscribe": "One-Click"})
    else:
        delivery_event_record(
            DeliveryEvent(type="unsubscribed", message_pk=message.pk, source="mailgun")
        )


STEP = st.one_of(
    st.tuples(st.just("open"), st.integers(0, 3), st.booleans()),
    st.tuples(st.just("click"), st.integers(0, 3), st.integers(0, 2), st.booleans()),
    st.tuples(st.just("bounce"), st.integers(0, 3), st.booleans()),
    st.tuples(st.just("complaint"), st.integers(0, 3)),
    st.tuples(st.just("unsubscribe"), st.integers(0, 3), st.booleans()),
    st.tuples(st.just("catch_up")),
    st.tuples(st.just("erase"), st.integers(0, 3)),
    st.tuples(st.just("merge"), st.integers(0, 3), st.integers(0, 3)),
)


@given(
    consented=st.lists(st.booleans(), min_size=4, max_size=4),
    steps=st.lists(STEP, min_size=1, max_size=14),
)
@hypothesis_settings(
    max_examples=20,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_message_rollups_equal_the_raw_tables_after_any_history(
    consented: list[bool],
    steps: list[tuple],
    smtp_sink: Any,
    template: Any,
    newsletter: Any,
    erased_counts: Counter,
) -> None:
    people = _people(4)
    for person, yes in zip(people, consented, strict=True):
        if yes:
            grant(person, newsletter)
    messages = _broadcast(people, template, newsletter)
    for step in steps:
        message = messages[step[1] % len(messages)] if len(step) > 1 else None
        if message is not None:
            message.refresh_from_db()
        if step[0] == "open" and message is not None and message.status == "sent":
            tracking_open(message_pk=message.pk, user_agent=SCANNER if step[2] else BROWSER)
        elif step[0] == "click" and message is not None and message.status == "sent":
            tracking_click(
                message_pk=message.pk,
                url=f"https://example.org/{step[2]}",
                user_agent=SCANNER if step[3] else BROWSER,
            )
        elif step[0] == "bounce" and message is not None:
            bounce_record(kind="bounce", hard=step[2], status="5.1.1", message_pk=message.pk)
        elif step[0] == "complaint" and message is not None:
            bounce_record(kind="complaint", hard=False, status="abuse", message_pk=message.pk)
        elif step[0] == "unsubscribe" and message is not None:
            _unsubscribe(message, by_link=step[2])
        elif step[0] == "catch_up":
            rollups_catch_up()
        elif step[0] == "erase":
            profile = Profile.objects.get(pk=people[step[1]].pk)
            if profile.status in ("active", "restricted"):
                erased_counts.update(raw(profile_id=profile.pk, events_only=True))
                person_erase(profile_ids=[profile.pk])
        elif step[0] == "merge":
            survivor = Profile.objects.get(pk=people[step[1]].pk)
            absorbed = Profile.objects.get(pk=people[step[2]].pk)
            if survivor.pk != absorbed.pk and {survivor.status, absorbed.status} == {"active"}:
                profile_merge(survivor_id=survivor.pk, absorbed_id=absorbed.pk)

    rollups_catch_up()

    assert rolled() == +(raw() + erased_counts)

    rollups_rebuild()

    assert rolled() == +(raw() + erased_counts)


def _order(profile: Profile) -> None:
    now = timezone.now()
    Event.objects.create(
        profile=profile,
        source=system_source_get(slug="test-site", name="Test site"),
        type="track",
        name="Order Completed",
        properties={},
        message_id=uuid.uuid4().hex,
        occurred_at=now,
        received_at=now,
    )


def test_a_journey_counts_sends_assignments_and_conversions_per_step_and_variant(
    ab_journey: Any,
) -> None:
    journey = ab_journey
    today = timezone.localdate()
    messages = Message.objects.filter(origin_kind="journey_step", status="sent").order_by("pk")
    for message in messages[:2]:
        _unsubscribe(message, by_link=True)
        _unsubscribe(message, by_link=True)  # a second click counts nothing more

    rollups_catch_up()

    variants = Counter(Enrolment.objects.values_list("variant", flat=True))
    converted = Counter(
        Enrolment.objects.filter(converted_at__isnull=False).values_list(
            "converted_step", "variant"
        )
    )
    sent = Message.objects.filter(origin_kind="journey_step", status="sent").count()
    rows = rolled()
    assert sum(n for key, n in rows.items() if key[6] == "assigned") == 30
    assert {key[4]: n for key, n in rows.items() if key[6] == "assigned"} == dict(variants)
    assert {(key[3], key[4]): n for key, n in rows.items() if key[6] == "converted"} == dict(
        converted
    )
    assert rows[(today, "journey", journey.pk, "send", "a", "email", "sent", "")] == sent
    assert rows[(today, "journey", journey.pk, "send", "a", "email", "unsubscribed", "")] == 2
    assert sent == variants["a"] == StepLog.objects.filter(step="send").count()
    assert sum(converted.values()) == 10

    rollups_rebuild()

    assert rolled() == rows


STATE_TRIGGERS = {
    f"reports_{table}_state_{event}"
    for table in ("message", "enrolment", "steplog")
    for event in ("insert", "update")
}


def test_the_state_triggers_are_in_place(db: None) -> None:
    """A migration that rebuilds an outbox or journey table (SQLite copies a table to alter
    it) must put the triggers back: without them the catch-up misses state changes."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        names = {row[0] for row in cursor.fetchall()}
    assert names >= STATE_TRIGGERS


def test_state_changes_of_any_age_reach_the_rollup_at_the_next_catch_up(
    ab_journey: Any, template: Any, newsletter: Any
) -> None:
    """A broadcast held for weeks then cancelled, a conversion dated back, a failure written
    by plain SQL: the next catch-up counts each on its own day, as a rebuild would."""
    rollups_catch_up()
    today = timezone.localdate()
    people = _people(3)
    for person in people:
        grant(person, newsletter)
    broadcast = broadcast_create(
        name="Held",
        segment_id=static_segment(people, name=uuid.uuid4().hex).pk,
        template_id=template.pk,
        purpose_id=newsletter.pk,
    )
    broadcast_schedule(broadcast_id=broadcast.pk)
    broadcast_pause(broadcast_id=broadcast.pk)
    Message.objects.filter(origin_id=broadcast.pk, origin_kind="broadcast").update(
        due_at=F("due_at") - timedelta(days=20)
    )
    broadcast_cancel(broadcast_id=broadcast.pk)
    converted = Enrolment.objects.filter(converted_at__isnull=False).order_by("pk")
    moved = converted[0]
    Enrolment.objects.filter(pk=moved.pk).update(
        converted_at=F("converted_at") - timedelta(days=10)
    )
    failed = Message.objects.filter(origin_kind="journey_step", status="sent").order_by("pk")[0]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE campaigns_message SET status = 'failed', sent_at = NULL WHERE id = %s",
            [failed.pk],
        )

    assert MessageStateChange.objects.exists()
    rollups_catch_up()

    assert not MessageStateChange.objects.exists()
    rows = rolled()
    twenty = today - timedelta(days=20)
    assert rows[(twenty, "broadcast", broadcast.pk, "", "", "email", "skipped", "cancelled")] == 3
    journey = ab_journey.pk
    ten = today - timedelta(days=10)
    channel = "email" if moved.converted_message_id else ""  # the holdout got no message
    key = (ten, "journey", journey, moved.converted_step, moved.variant, channel, "converted", "")
    assert rows[key] == 1
    assert rows[(today, "journey", journey, "send", "a", "email", "failed", "")] == 1
    assert sum(n for key, n in rows.items() if key[6] == "converted") == 10

    rollups_rebuild()

    assert rolled() == rows


def test_a_message_sent_before_the_split_belongs_to_no_variant(
    smtp_sink: Any, template: Any, newsletter: Any
) -> None:
    """A welcome email, then an A/B split: the welcome's sends and opens count under no
    variant, at the catch-up (after the split) as in the rebuild."""
    definition = {
        "trigger": {"type": "manual"},
        "start": "welcome",
        "steps": {
            "welcome": {"type": "send", "template": template.pk, "next": "ab"},
            "ab": {
                "type": "split",
                "variants": [
                    {"name": "a", "weight": 50, "next": "follow"},
                    {"name": "b", "weight": 50, "next": "follow"},
                ],
            },
            "follow": {"type": "send", "template": template.pk, "next": "done"},
            "done": {"type": "exit"},
        },
    }
    journey = live_journey(definition, newsletter)
    people = _people(8)
    for person in people:
        grant(person, newsletter)
    journey_enrol(journey_id=journey.pk, profile_ids=[p.pk for p in people])
    for _ in range(4):
        journeys_advance()
        outbox_send_due()
    welcome = Message.objects.filter(
        origin_kind="journey_step",
        origin_id__in=StepLog.objects.filter(journey=journey, step="welcome").values("pk"),
    )
    assert welcome.count() == 8
    assert set(Enrolment.objects.filter(journey=journey).values_list("variant", flat=True)) <= {
        "a",
        "b",
    }
    welcome.update(sent_at=timezone.now() - timedelta(minutes=5))  # not a scanner's instant open
    for message in welcome:
        tracking_open(message_pk=message.pk, user_agent=BROWSER)

    rollups_catch_up()

    rows = rolled()
    today = timezone.localdate()
    by_step = Counter()
    for key, n in rows.items():
        if key[1] == "journey" and key[2] == journey.pk:
            by_step[(key[3], key[4], key[6])] += n
    assert by_step[("welcome", "", "sent")] == 8
    assert by_step[("welcome", "", "opened")] == 8
    assert not [key for key in by_step if key[0] == "welcome" and key[1]]
    assert sum(n for (step, variant, metric), n in by_step.items() if step == "follow") > 0
    assert not [key for key in by_step if key[0] == "follow" and not key[1]]
    assert (
        rows[(today, "journey", journey.pk, "ab", "a", "", "assigned", "")]
        + rows[(today, "journey", journey.pk, "ab", "b", "", "assigned", "")]
        == 8
    )

    rollups_rebuild()

    assert rolled() == rows


@pytest.fixture
def ab_journey(smtp_sink: Any, template: Any, newsletter: Any) -> Any:
    """30 people split 50/50 into a send and a holdout; the first 10 buy within the goal."""
    definition = {
        "trigger": {"type": "manual"},
        "start": "ab",
        "steps": {
            "ab": {
                "type": "split",
                "variants": [
                    {"name": "a", "weight": 50, "next": "send"},
                    {"name": "control", "weight": 50, "next": "wait", "holdout": True},
                ],
            },
            "send": {"type": "send", "template": template.pk, "next": "wait"},
            "wait": {"type": "wait", "duration": {"days": 3}, "next": "done"},
            "done": {"type": "exit"},
        },
    }
    journey = live_journey(definition, newsletter, goal_event="Order Completed", goal_days=14)
    people = _people(30)
    for person in people:
        grant(person, newsletter)
    journey_enrol(journey_id=journey.pk, profile_ids=[p.pk for p in people])
    journeys_advance()
    journeys_advance()
    outbox_send_due()
    for person in people[:10]:
        _order(person)
    journeys_catch_up()
    return journey


def test_the_journey_report_shows_each_variant_its_lift_and_significance(
    ab_journey: Any,
) -> None:
    _unsubscribe(Message.objects.filter(status="sent").earliest("pk"), by_link=True)
    rollups_catch_up()
    today = timezone.localdate()
    variants = Counter(Enrolment.objects.values_list("variant", flat=True))
    converted = Counter(
        Enrolment.objects.filter(converted_at__isnull=False).values_list("variant", flat=True)
    )
    sent = Message.objects.filter(status="sent").count()

    report = report_build(code="journeys", start=today - timedelta(days=6), end=today)

    figures = {str(f.label): (f.value, f.previous) for f in report.figures}
    assert figures["Journey messages sent"] == (sent, 0)
    assert figures["Journey conversions"] == (sum(converted.values()), 0)
    steps, splits, _broadcasts = report.tables
    assert [row[:5] for row in steps.rows if row[1] == "send"] == [
        ("Welcome", "send", "a", sent, sent)
    ]
    assert steps.columns[7] == "Unsubscribed"
    assert [row[7] for row in steps.rows if row[1] == "send"] == [1]
    assert figures["Unsubscribed from a journey's email"] == (1, 0)
    base_rate = converted["control"] / variants["control"]
    rate_a = converted["a"] / variants["a"]
    p_value, _ = ab_compare(
        converted=converted["a"],
        enrolled=variants["a"],
        base_converted=converted["control"],
        base_enrolled=variants["control"],
    )
    assert splits.rows == [
        (
            "Welcome",
            "ab",
            "a",
            "",
            variants["a"],
            converted["a"],
            round(100 * rate_a, 1),
            round(100 * (rate_a / base_rate - 1), 1) if base_rate else None,
            round(p_value, 4) if p_value is not None else None,
            "✓" if p_value is not None and p_value < 0.05 else "",
        ),
        (
            "Welcome",
            "ab",
            "control",
            "✓",
            variants["control"],
            converted["control"],
            round(100 * base_rate, 1),
            None,
            None,
            "",
        ),
    ]


def test_the_marketing_report_ranks_broadcasts_by_click_rate(
    smtp_sink: Any, template: Any, newsletter: Any
) -> None:
    people = _people(3)
    for person in people:
        grant(person, newsletter)
    quiet = _broadcast(people, template, newsletter)
    loved = _broadcast(people, template, newsletter)
    for message in loved[:2]:
        tracking_click(message_pk=message.pk, url="https://example.org/", user_agent=BROWSER)
    tracking_open(message_pk=quiet[0].pk, user_agent=BROWSER)
    _unsubscribe(quiet[1], by_link=True)
    rollups_catch_up()
    today = timezone.localdate()

    report = report_build(code="marketing", start=today, end=today)

    best = next(table for table in report.tables if str(table.title) == "Best broadcasts")
    assert best.columns[5] == "Unsubscribed"
    assert best.rows == [("B", 3, 3, 2, 2, 0, 66.7, 66.7, 0), ("B", 3, 3, 1, 0, 1, 33.3, 0.0, 0)]


def test_the_journey_report_is_answered_by_the_api(ab_journey: Any) -> None:
    rollups_catch_up()
    account = get_user_model().objects.create_user(username="v", password="pw", is_staff=True)
    account.groups.add(Group.objects.get(name="viewer"))
    client = APIClient()
    client.force_authenticate(account)
    today = timezone.localdate()

    response = client.get(
        reverse("report-detail", args=["journeys"]),
        {"start": (today - timedelta(days=6)).isoformat(), "end": today.isoformat()},
    )

    assert response.status_code == 200
    figures = {f["label"]: f["value"] for f in response.json()["figures"]}
    assert figures["Journey messages sent"] == Message.objects.filter(status="sent").count()


def test_a_campaign_event_committing_below_the_cursor_is_counted_once(
    smtp_sink: Any, template: Any, newsletter: Any
) -> None:
    people = _people(2)
    for person in people:
        grant(person, newsletter)
    messages = _broadcast(people, template, newsletter)
    rollups_catch_up()
    bounce_record(kind="bounce", hard=True, status="5.1.1", message_pk=messages[0].pk)
    late = Event.objects.get(name="Email Bounced")
    rollups_catch_up()
    # As if the bounce had not been visible yet: its id is a gap below the position.
    cursor = RollupCursor.objects.get(name="events")
    cursor.gaps = [[late.pk, late.pk, cursor.updated_at.timestamp() + 10**6]]
    cursor.save(update_fields=["gaps"])
    DailyMessages.objects.filter(metric="bounced").update(count=0)

    rollups_catch_up()
    rollups_catch_up()

    assert DailyMessages.objects.get(metric="bounced").count == 1
    assert rolled() == +raw()


@pytest.mark.django_db
def test_a_catch_up_takes_every_logged_change_however_many() -> None:
    """More changes than one batch (a cancelled broadcast logs one per message): all are
    counted once and the log is left empty."""
    rollups_catch_up()
    at = timezone.now() - timedelta(days=40)
    MessageStateChange.objects.bulk_create(
        MessageStateChange(
            at=at, delta=1, metric="assigned", journey_pk=999, step="ab", variant="a"
        )
        for _ in range(4_500)
    )
    MessageStateChange.objects.bulk_create(
        MessageStateChange(
            at=at, delta=-1, metric="assigned", journey_pk=999, step="ab", variant="a"
        )
        for _ in range(500)
    )

    rollups_catch_up()

    key = (timezone.localtime(at).date(), "journey", 999, "ab", "a", "", "assigned", "")
    assert rolled()[key] == 4_000
    assert not MessageStateChange.objects.exists()


def test_a_conversion_is_credited_to_the_broadcast_whose_email_was_last_clicked_in_the_window(
    smtp_sink: Any, template: Any, newsletter: Any
) -> None:
    from reports.models import Conversion

    people = _people(4)
    for person in people:
        grant(person, newsletter)
    first = _broadcast(people, template, newsletter)
    second = _broadcast(people, template, newsletter)
    now = timezone.now()

    def click(message: Message, *, days_ago: float, agent: str = BROWSER) -> None:
        tracking_click(message_pk=message.pk, url="https://example.org/", user_agent=agent)
        Event.objects.filter(message_id__startswith=f"click:{message.pk}:").update(
            occurred_at=now - timedelta(days=days_ago)
        )

    click(first[0], days_ago=3)
    click(second[0], days_ago=1)  # the later click wins
    click(first[1], days_ago=1, agent=SCANNER)  # a link scanner's click credits nothing
    click(first[2], days_ago=8)  # outside CDP_ATTRIBUTION_DAYS (7)
    click(first[3], days_ago=2)
    for person in people:
        _order(person)

    def credited() -> dict[int, tuple[str, int | None]]:
        by_event = {
            row.event_id: (row.message_kind, row.message_origin) for row in Conversion.objects.all()
        }
        return {
            n: by_event[event.pk]
            for n, person in enumerate(people)
            for event in Event.objects.filter(profile=person, name="Order Completed")
        }

    broadcast_first, broadcast_second = first[0].origin_id, second[0].origin_id
    expected = {
        0: ("broadcast", broadcast_second),
        1: ("", None),
        2: ("", None),
        3: ("broadcast", broadcast_first),
    }
    rollups_catch_up()
    assert credited() == expected
    rollups_rebuild()
    assert credited() == expected

    today = timezone.localdate()
    report = report_build(code="marketing", start=today, end=today)
    best = next(table for table in report.tables if str(table.title) == "Best broadcasts")
    assert best.columns[-1] == "Conversions"
    assert sorted(row[-1] for row in best.rows) == [1, 1]
    from reports.selectors import dashboard

    figures = {str(figure.label): figure for figure in dashboard().figures}
    assert figures["Conversions after an email click"].value == 2


def test_a_conversion_after_a_journey_email_s_click_is_credited_to_the_journey(
    ab_journey: Any,
) -> None:
    from reports.models import Conversion

    message = Message.objects.filter(origin_kind="journey_step", status="sent").first()
    assert message is not None
    # Sent five minutes ago: a click within seconds of the send is taken for a scanner's.
    Message.objects.filter(pk=message.pk).update(sent_at=timezone.now() - timedelta(minutes=5))
    tracking_click(message_pk=message.pk, url="https://example.org/", user_agent=BROWSER)
    _order(message.profile)

    rollups_catch_up()

    order = Event.objects.filter(profile=message.profile, name="Order Completed").latest("pk")
    clicks = Event.objects.filter(profile=message.profile, name="Email Clicked")
    assert [(c.message_id.split(":")[1], c.occurred_at <= order.occurred_at) for c in clicks] == [
        (str(message.pk), True)
    ]
    row = Conversion.objects.get(event_id=order.pk)
    assert (row.message_kind, row.message_origin) == ("journey", ab_journey.pk)
