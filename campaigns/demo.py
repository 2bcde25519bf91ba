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
