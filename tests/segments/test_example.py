"""The issue's example: French marketing managers who downloaded the white paper lately,
opened no email since, and may be emailed."""

from __future__ import annotations

from typing import Any

from profiles.models import Profile
from segments.compiler import compile_rule
from segments.evaluator import evaluate_rule

RULE = {
    "all": [
        {"field": "country", "op": "eq", "value": "FR"},
        {"field": "job_function", "op": "eq", "value": "marketing"},
        {"field": "job_title", "op": "contains", "value": "manager"},
        {
            "event": {
                "name": "whitepaper_download",
                "where": [{"property": "format", "op": "eq", "value": "pdf"}],
            },
            "op": "at_least",
            "count": 1,
            "within_days": 30,
        },
        {"event": {"name": "email_opened"}, "op": "not_since_days", "days": 30},
        {"consent": "newsletter"},
    ]
}


def test_the_example_rule_finds_exactly_the_right_people(
    make_profile: Any, make_event: Any, grant: Any
) -> None:
    fit = dict(country="FR", job_function="marketing", job_title="Marketing Manager")
    ada = make_profile(**fit)
    opened = make_profile(**fit)
    old_download = make_profile(**fit)
    no_consent = make_profile(**fit)
    german = make_profile(**{**fit, "country": "DE"})
    word_doc = make_profile(**fit)
    merged_into = make_profile(**fit)
    for person in (ada, opened, old_download, no_consent, german, word_doc):
        grant(person)
    for person in (ada, opened, no_consent, german):
        make_event(person, "whitepaper_download", days_ago=3, properties={"format": "pdf"})
    make_event(old_download, "whitepaper_download", days_ago=45, properties={"format": "pdf"})
    make_event(word_doc, "whitepaper_download", days_ago=3, properties={"format": "docx"})
    make_event(opened, "email_opened", days_ago=1)
    make_event(ada, "email_opened", days_ago=40)
    grant(no_consent, granted=False)
    del merged_into

    found = set(Profile.objects.filter(compile_rule(RULE)).values_list("pk", flat=True))

    assert found == {ada.pk}
    assert [p.pk for p in Profile.objects.all() if evaluate_rule(RULE, profile=p)] == [ada.pk]
