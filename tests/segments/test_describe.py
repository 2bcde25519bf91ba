"""A rule in words, as the steward reads it, in English and in French."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import translation

from segments.describe import lines_text, rule_describe

pytestmark = pytest.mark.django_db  # a consent condition checks its purpose exists

RULE = {
    "all": [
        {"field": "country", "op": "eq", "value": "FR"},
        {"field": "first_name", "op": "is_set"},
        {"not": {"event": {"name": "Order Completed"}, "op": "at_least", "count": 2}},
        {"consent": "newsletter"},
    ]
}

WORDS = {
    "en": (
        "All of:\n"
        "  country is “FR”\n"
        "  first name is filled in\n"
        "  None of:\n"
        "    performed “Order Completed” at least 2 times ever\n"
        "  may be contacted for “newsletter”"
    ),
    "fr": (
        "Toutes ces conditions :\n"
        "  pays est « FR »\n"
        "  prénom est renseigné\n"
        "  Aucune de ces conditions :\n"
        "    a fait « Order Completed » au moins 2 fois, depuis toujours\n"
        "  peut être contacté pour « newsletter »"
    ),
}


@pytest.mark.parametrize("language", ["en", "fr"])
def test_a_rule_reads_in_the_stewards_language(language: str, purposes: Any) -> None:
    with translation.override(language):
        words = lines_text(rule_describe(RULE))

    assert words == WORDS[language]


def test_an_event_within_days_and_a_range_read_in_french() -> None:
    rule = {
        "any": [
            {"event": {"name": "Webinar Joined"}, "op": "at_most", "count": 1, "within_days": 30},
            {"field": "quality_score", "op": "between", "value": [10, 20]},
        ]
    }

    with translation.override("fr"):
        words = lines_text(rule_describe(rule))

    assert words == (
        "Au moins une de ces conditions :\n"
        "  a fait « Webinar Joined » au plus 1 fois dans les 30 derniers jours\n"
        "  score de qualité des données est entre 10 et 20"
    )
