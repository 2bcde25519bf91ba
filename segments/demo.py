"""Demo segment and persona for `cdp_demo` (idempotent): a new user sees segments working."""

from __future__ import annotations

from django.utils.translation import gettext

from segments.models import Persona, Segment
from segments.services import segment_create, segment_refresh

DEMO_SEGMENT = "Newsletter readers (demo)"
# People who may be emailed the newsletter and are known by name: a rule with a consent
# condition and a field condition, shown in words on the segment's admin page.
DEMO_RULE = {"all": [{"consent": "newsletter"}, {"field": "first_name", "op": "is_set"}]}


def segments_demo_load() -> Segment:
    """Create the demo segment and its persona once, and refresh it (entries, size history)."""
    segment = Segment.objects.filter(name=DEMO_SEGMENT).first()
    if segment is None:
        segment = segment_create(
            name=DEMO_SEGMENT,
            rule=DEMO_RULE,
            description=gettext("Everyone who may receive the newsletter and whose name we know."),
        )
    segment_refresh(segment_id=segment.pk)
    Persona.objects.get_or_create(
        name="Curious professional (demo)",
        defaults={
            "segment": segment,
            "description": "Reads the newsletter, downloads guides, rarely answers sales calls.",
            "goals": "Keep up with the field without spending hours on it.",
            "pains": "Too many generic emails; no time for long webinars.",
            "messaging": "Short, practical, one idea per email; link to the full guide.",
        },
    )
    segment.refresh_from_db()
    return segment
