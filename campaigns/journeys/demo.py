"""Demo journey for `cdp_demo` (idempotent): the welcome journey of web sign-ups.

Sign-up form with newsletter consent → welcome email (FR/EN) → wait 3 days → clicked? →
follow-up offer : reminder → exit; goal: Order Completed within 14 days. The demo's
sign-ups are enrolled and spread over its steps (some still waiting, some past the
branch, one converted), so the graph and its counts show something.
"""

from __future__ import annotations

import uuid

from django.test.utils import override_settings
from django.utils import timezone

from campaigns.demo import BODY
from campaigns.journeys.engine import journeys_advance
from campaigns.journeys.services import journey_activate, journey_create, journey_enrol
from campaigns.journeys.triggers import journeys_catch_up
from campaigns.models import Enrolment, Journey, Template
from campaigns.services import outbox_send_due, template_create
from consent.models import Purpose
from profiles.models import Event
from profiles.services.events import system_source_get

DEMO_JOURNEY = "Welcome (demo)"
SIGNUP_FORM = "newsletter-signup"
TEXTS = {
    "welcome": {
        "en": ("Welcome, {{ profile.first_name }}", "Welcome aboard", "Thanks for signing up."),
        "fr": ("Bienvenue, {{ profile.first_name }}", "Bienvenue", "Merci de votre inscription."),
    },
    "offer": {
        "en": ("An offer for you", "Our offer", "You liked our guide: here is 10% off."),
        "fr": ("Une offre pour vous", "Notre offre", "Le guide vous a plu : 10 % offerts."),
    },
    "reminder": {
        "en": ("Did you see our guide?", "Our guide", "The guide is still waiting for you."),
        "fr": ("Avez-vous vu notre guide ?", "Notre guide", "Le guide vous attend toujours."),
    },
}
LABELS = {
    "en": ("Hello", "Read the guide", "Your preferences", "Unsubscribe"),
    "fr": ("Bonjour", "Lire le guide", "Vos préférences", "Se désabonner"),
}


def _template(kind: str) -> Template:
    name = f"Welcome journey: {kind} (demo)"
    found = Template.objects.filter(name=name).first()
    if found is not None:
        return found
    variants = {}
    for language, (subject, title, intro) in TEXTS[kind].items():
        hello, button, preferences, unsubscribe = LABELS[language]
        variants[language] = {
            "subject": subject,
            "preheader": intro,
            "mjml": BODY.format(
                title=title,
                hello=hello,
                intro=intro,
                persona="",
                button=button,
                preferences=preferences,
                unsubscribe=unsubscribe,
            ),
            "text": f"{hello} {{{{ profile.first_name }}}},\n\n{intro}\n\n"
            f"{unsubscribe}: {{{{ links.unsubscribe }}}}",
        }
    return template_create(name=name, variants=variants, description="Demo welcome journey.")


def journeys_demo_load() -> dict[str, int]:
    """The welcome journey, its sign-ups enrolled and spread over the steps; counts."""
    journey = Journey.objects.filter(name=DEMO_JOURNEY).first()
    if journey is not None:
        return {"enrolled": journey.enrolments.count()}
    welcome, offer, reminder = (_template(kind) for kind in ("welcome", "offer", "reminder"))
    definition = {
        "trigger": {"type": "event", "event": {"name": SIGNUP_FORM, "type": "form"}},
        "start": "welcome",
        "steps": {
            "welcome": {
                "type": "send",
                "template": welcome.pk,
                "next": "wait",
                "label": "Welcome email",
            },
            "wait": {
                "type": "wait",
                "duration": {"days": 3},
                "next": "clicked",
                "label": "Wait 3 days",
            },
            "clicked": {
                "type": "branch",
                "rule": {"event": {"name": "Email Clicked"}, "op": "at_least", "count": 1},
                "yes": "offer",
                "no": "reminder",
                "label": "Clicked?",
            },
            "offer": {
                "type": "send",
                "template": offer.pk,
                "next": "done",
                "label": "Follow-up offer",
            },
            "reminder": {
                "type": "send",
                "template": reminder.pk,
                "next": "done",
                "label": "Reminder",
            },
            "done": {"type": "exit"},
        },
    }
    journey = journey_create(
        name=DEMO_JOURNEY,
        purpose_id=Purpose.objects.get(code="newsletter").pk,
        definition=definition,
        description="Web sign-ups with newsletter consent get a welcome, then an offer or "
        "a reminder depending on whether they clicked.",
        goal_event="Order Completed",
        goal_days=14,
    )
    journey_activate(journey_id=journey.pk)
    journeys_catch_up()  # the cursor starts here: past sign-ups are enrolled by hand below
    signed_up = list(
        Event.objects.filter(type="form", name=SIGNUP_FORM, profile__status="active")
        .order_by("profile_id")
        .values_list("profile_id", flat=True)
        .distinct()
    )
    journey_enrol(journey_id=journey.pk, profile_ids=signed_up, source="steward")
    now = timezone.now()
    # The demo compresses three days into one run: no quiet hours, no daily cap.
    with override_settings(CDP_QUIET_HOURS="off", CDP_FREQUENCY_CAPS={}):
        journeys_advance(now=now)
        # Two in three signed up more than three days ago: they are past the branch.
        waiting = list(
            Enrolment.objects.filter(journey=journey, step="wait")
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        earlier = [pk for n, pk in enumerate(waiting) if n % 3 != 0]
        Enrolment.objects.filter(pk__in=earlier).update(due_at=now)
        journeys_advance(now=now)
        outbox_send_due()
    buyer = (
        Enrolment.objects.filter(journey=journey)
        .order_by("pk")
        .values_list("profile_id", flat=True)
        .first()
    )
    if buyer is not None:
        Event.objects.create(
            profile_id=buyer,
            source=system_source_get(slug="website", name="Website"),
            type="track",
            name="Order Completed",
            properties={"total": 49.0, "currency": "EUR"},
            message_id=f"demo-order-{uuid.uuid4()}",
            occurred_at=now,
            received_at=now,
        )
        journeys_catch_up()
    return {"enrolled": len(signed_up)}
