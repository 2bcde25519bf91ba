"""Demo content for `cdp_demo` (idempotent): a French and English template, a broadcast
to the demo segment sent through the configured mail backend (files under var/mail by
default), and a few opens and clicks that show on the people's timelines."""

from __future__ import annotations

from datetime import timedelta

from django.test.utils import override_settings
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campaigns.models import Broadcast, Message, Template
from campaigns.services import (
    broadcast_create,
    broadcast_schedule,
    outbox_send_due,
    template_create,
    tracking_click,
    tracking_open,
)
from consent.models import Purpose
from segments.models import Segment

DEMO_TEMPLATE = "Monthly news (demo)"
DEMO_BROADCAST = "Monthly news, demo issue"
READER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

BODY = """<mjml>
  <mj-head>
    <mj-title>{title}</mj-title>
    <mj-style>.lead {{ color: #1d4ed8; font-size: 20px; }}</mj-style>
  </mj-head>
  <mj-body background-color="#f4f4f5">
    <mj-section background-color="#ffffff">
      <mj-column>
        <mj-text css-class="lead">{hello} {{{{ profile.first_name }}}},</mj-text>
        <mj-text>{intro}</mj-text>
        <mj-text>{{% if personas contains "Curious professional (demo)" %}}
          {persona}
        {{% endif %}}</mj-text>
        <mj-button href="https://example.org/guide?utm_source=newsletter">{button}</mj-button>
        <mj-text font-size="12px" color="#6b7280">
          <a href="{{{{ links.preferences }}}}">{preferences}</a> ·
          <a href="{{{{ links.unsubscribe }}}}">{unsubscribe}</a><br>
          {{{{ organisation.name }}}} {{{{ organisation.postal_address }}}}
        </mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>"""

VARIANTS = {
    "en": {
        "subject": "{{ profile.first_name }}, this month's news",
        "preheader": "One practical guide, five minutes to read.",
        "mjml": BODY.format(
            title=_("Monthly news"),
            hello="Hello",
            intro="Here is this month's guide: short, practical, one idea.",
            persona="You told us you keep up with the field: the full guide is one click away.",
            button="Read the guide",
            preferences="Your preferences",
            unsubscribe="Unsubscribe",
        ),
        "text": "Hello {{ profile.first_name }},\n\nThis month's guide: "
        "https://example.org/guide\n\nUnsubscribe: {{ links.unsubscribe }}",
    },
    "fr": {
        "subject": "{{ profile.first_name }}, les nouvelles du mois",
        "preheader": "Un guide pratique, cinq minutes de lecture.",
        "mjml": BODY.format(
            title=_("Les nouvelles du mois"),
            hello="Bonjour",
            intro="Voici le guide du mois : court, pratique, une seule idée.",
            persona="Vous aimez suivre votre domaine : le guide complet est à un clic.",
            button="Lire le guide",
            preferences="Vos préférences",
            unsubscribe="Se désabonner",
        ),
        "text": "Bonjour {{ profile.first_name }},\n\nLe guide du mois : "
        "https://example.org/guide\n\nSe désabonner : {{ links.unsubscribe }}",
    },
}


def campaigns_demo_load(*, segment: Segment) -> dict[str, int]:
    """The demo template and broadcast, sent once; returns the broadcast's sent count."""
    template = Template.objects.filter(name=DEMO_TEMPLATE).first() or template_create(
        name=DEMO_TEMPLATE,
        variants=VARIANTS,
        description=gettext("The demo newsletter, in English and French."),
    )
    purpose = Purpose.objects.get(code="newsletter")
    broadcast = Broadcast.objects.filter(name=DEMO_BROADCAST).first() or broadcast_create(
        name=DEMO_BROADCAST, segment_id=segment.pk, template_id=template.pk, purpose_id=purpose.pk
    )
    if broadcast.status == Broadcast.Status.DRAFT:
        broadcast = broadcast_schedule(broadcast_id=broadcast.pk)
    # The demo shows mail at once, whatever the hour of the run.
    with override_settings(CDP_QUIET_HOURS="off"):
        outbox_send_due()
    sent = Message.objects.filter(
        origin_kind=Message.Origin.BROADCAST, origin_id=broadcast.pk, status=Message.Status.SENT
    )
    # Read a few minutes after sending (sooner would count as a machine open).
    sent.filter(sent_at__gt=timezone.now() - timedelta(minutes=5)).update(
        sent_at=timezone.now() - timedelta(minutes=5)
    )
    for number, message in enumerate(sent.order_by("pk")[:3]):
        tracking_open(message_pk=message.pk, user_agent=READER)
        if number == 0:
            tracking_click(
                message_pk=message.pk,
                url="https://example.org/guide?utm_source=newsletter",
                user_agent=READER,
            )
    return {"sent": sent.count()}


HISTORY_PREFIX = "Weekly tips (demo), week"
HISTORY_WEEKS = 12
DEMO_AB_JOURNEY = "Win-back offer, A/B (demo)"


def _date_back(message_ids: list[int], delta: timedelta) -> None:
    """Move messages and their events `delta` into the past."""
    from django.db.models import F, Q

    from campaigns.services.delivery import EVENT_SOURCE
    from profiles.models import Event

    messages = Message.objects.filter(pk__in=message_ids)
    keys = list(messages.values_list("pk", "message_id"))
    named = Q(
        message_id__in=[
            f"{kind}:{mid}" for _pk, mid in keys for kind in ("sent", "bounce", "complaint")
        ]
    )
    for pk, _mid in keys:
        named |= Q(message_id__startswith=f"open:{pk}:")
        named |= Q(message_id__startswith=f"click:{pk}:")
    Event.objects.filter(named, source__slug=EVENT_SOURCE).update(
        occurred_at=F("occurred_at") - delta, received_at=F("received_at") - delta
    )
    for field in ("due_at", "sent_at", "opened_at", "clicked_at", "machine_opened_at"):
        messages.filter(**{f"{field}__isnull": False}).update(**{field: F(field) - delta})


def campaigns_demo_history(*, segment: Segment) -> dict[str, int]:
    """Twelve weekly newsletters over the last 90 days, sent for real and then dated back,
    some read and clicked more than others, so the reports show a history; counts."""
    done = Broadcast.objects.filter(name__startswith=HISTORY_PREFIX)
    if done.exists():
        return {"broadcasts": done.count()}
    template = Template.objects.get(name=DEMO_TEMPLATE)
    purpose = Purpose.objects.get(code="newsletter")
    now = timezone.now()
    for week in range(1, HISTORY_WEEKS + 1):
        broadcast = broadcast_create(
            name=f"{HISTORY_PREFIX} {week}",
            segment_id=segment.pk,
            template_id=template.pk,
            purpose_id=purpose.pk,
        )
        broadcast_schedule(broadcast_id=broadcast.pk)
        with override_settings(CDP_QUIET_HOURS="off", CDP_FREQUENCY_CAPS={}):
            outbox_send_due()
        sent = Message.objects.filter(
            origin_kind=Message.Origin.BROADCAST,
            origin_id=broadcast.pk,
            status=Message.Status.SENT,
        )
        sent.update(sent_at=now - timedelta(minutes=5))
        # Some issues interest readers more: 1 in 2 to 1 in 5 open, 1 in 4 to 1 in 13 click.
        opens, clicks = 2 + week % 4, 4 + (week * 5) % 10
        for number, message in enumerate(sent.order_by("pk")):
            if number % opens == 0:
                tracking_open(message_pk=message.pk, user_agent=READER)
            if number % clicks == 1:
                tracking_click(
                    message_pk=message.pk,
                    url="https://example.org/guide?utm_source=newsletter",
                    user_agent=READER,
                )
        ids = list(
            Message.objects.filter(
                origin_kind=Message.Origin.BROADCAST, origin_id=broadcast.pk
            ).values_list("pk", flat=True)
        )
        _date_back(ids, timedelta(days=7 * week - 1))
    return {"broadcasts": HISTORY_WEEKS}


def campaigns_demo_ab_journey(*, segment: Segment) -> dict[str, int]:
    """A win-back journey splitting the segment between two offers and a holdout, sent,
    with offers redeemed within its goal's window, dated back three weeks; counts."""
    import uuid

    from django.db.models import F

    from campaigns.journeys.engine import journeys_advance
    from campaigns.journeys.services import journey_activate, journey_create, journey_enrol
    from campaigns.journeys.triggers import journeys_catch_up
    from campaigns.models import Enrolment, Journey, StepLog
    from profiles.models import Event
    from profiles.services.events import system_source_get

    journey = Journey.objects.filter(name=DEMO_AB_JOURNEY).first()
    if journey is not None:
        return {"enrolled": journey.enrolments.count()}
    template = Template.objects.get(name=DEMO_TEMPLATE)
    definition = {
        "trigger": {"type": "manual"},
        "start": "offer",
        "steps": {
            "offer": {
                "type": "split",
                "label": "Which offer?",
                "variants": [
                    {"name": "discount", "weight": 40, "next": "send_discount"},
                    {"name": "shipping", "weight": 40, "next": "send_shipping"},
                    {"name": "holdout", "weight": 20, "next": "wait", "holdout": True},
                ],
            },
            "send_discount": {"type": "send", "template": template.pk, "next": "wait"},
            "send_shipping": {"type": "send", "template": template.pk, "next": "wait"},
            "wait": {"type": "wait", "duration": {"days": 14}, "next": "done"},
            "done": {"type": "exit"},
        },
    }
    journey = journey_create(
        name=DEMO_AB_JOURNEY,
        purpose_id=Purpose.objects.get(code="newsletter").pk,
        definition=definition,
        description="Two offers against a holdout; goal: Offer Redeemed within 14 days.",
        goal_event="Offer Redeemed",
        goal_days=14,
    )
    journey_activate(journey_id=journey.pk)
    journeys_catch_up()
    members = list(
        segment.memberships.filter(exited_at__isnull=True, profile__status="active")
        .order_by("profile_id")
        .values_list("profile_id", flat=True)
    )
    journey_enrol(journey_id=journey.pk, profile_ids=members, source="steward")
    now = timezone.now()
    with override_settings(CDP_QUIET_HOURS="off", CDP_FREQUENCY_CAPS={}):
        journeys_advance(now=now)
        journeys_advance(now=now)
        outbox_send_due()
    # The discount is redeemed most, free shipping less, the holdout (no offer) least.
    every = {"discount": 3, "shipping": 5, "holdout": 9}
    website = system_source_get(slug="website", name="Website")
    enrolments = Enrolment.objects.filter(journey=journey).order_by("pk")
    for number, (profile_id, variant) in enumerate(enrolments.values_list("profile_id", "variant")):
        if number % every.get(variant, 9) == 0:
            Event.objects.create(
                profile_id=profile_id,
                source=website,
                type="track",
                name="Offer Redeemed",
                properties={"offer": variant},
                message_id=f"demo-ab-order-{uuid.uuid4()}",
                occurred_at=now,
                received_at=now,
            )
    journeys_catch_up()
    delta = timedelta(days=20)
    sent = Message.objects.filter(
        origin_kind=Message.Origin.JOURNEY_STEP,
        origin_id__in=StepLog.objects.filter(journey=journey).values("pk"),
    )
    _date_back(list(sent.values_list("pk", flat=True)), delta)
    StepLog.objects.filter(journey=journey).update(at=F("at") - delta)
    for field in ("entered_at", "due_at", "finished_at", "converted_at", "event_at"):
        enrolments.filter(**{f"{field}__isnull": False}).update(**{field: F(field) - delta})
    Event.objects.filter(message_id__startswith="demo-ab-order-").update(
        occurred_at=F("occurred_at") - delta, received_at=F("received_at") - delta
    )
    return {"enrolled": len(members)}
