"""Demo purposes of the consent app, with their wordings; loading twice adds nothing."""

from __future__ import annotations

from consent.models import Purpose
from consent.services import purpose_wording_add

DEMO_PURPOSES = [
    (
        "newsletter",
        "Monthly newsletter",
        Purpose.Channel.EMAIL,
        False,
        "Send me the monthly newsletter. I can unsubscribe at any time.",
    ),
    (
        "offers",
        "Partner offers by email",
        Purpose.Channel.EMAIL,
        True,
        "Send me offers from our partners by email (confirmed by a link we email you).",
    ),
    (
        "sms-reminders",
        "Event reminders by SMS",
        Purpose.Channel.SMS,
        False,
        "Text me a reminder before events I registered for.",
    ),
]


def consent_demo_load() -> int:
    """Create the demo purposes and their first wording; returns how many were new."""
    created = 0
    for code, name, channel, double_opt_in, text in DEMO_PURPOSES:
        purpose, was_created = Purpose.objects.get_or_create(
            code=code,
            defaults={"name": name, "channel": channel, "requires_double_opt_in": double_opt_in},
        )
        purpose_wording_add(purpose=purpose, text=text)
        created += was_created
    return created
