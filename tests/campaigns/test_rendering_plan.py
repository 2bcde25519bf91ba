"""A part rendered by its plan (static text, substituted values, Liquid blocks) is exactly
what Liquid renders over the whole part, for any person."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.rendering import HTML, TEXT, _plan, _render

SOURCES = (
    '<p class="x">Bonjour {{ profile.first_name }},</p>'
    '{% if profile.city != "" %}<p>à {{ profile.city }}{% if traits.vip %} (VIP){% endif %}'
    '</p>{% endif %}<a href="{{ links.preferences }}">p</a> {{ traits.score }}'
    " {{ traits.tags }} {{ segments.size }} {{ traits.missing.deep }}"
    "{% for s in segments %}<li>{{ s | upcase }}</li>{% endfor %}{{ profile.first_name | upcase }}",
    "Nouvelles, {{ profile.first_name }} {{ traits.vip }}",
    "{% assign n = profile.first_name %}Hi {{ n }}",
    "{{- profile.first_name -}} !",
)

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1000, 1000),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
    st.lists(st.text(max_size=4), max_size=3),
)


@settings(max_examples=150, deadline=None)
@given(
    first=st.text(max_size=12),
    city=st.one_of(st.just(""), st.text(max_size=8)),
    vip=values,
    score=values,
    tags=values,
    segments=st.lists(st.text(max_size=6), max_size=3),
)
def test_a_plan_renders_what_liquid_renders(
    first: str, city: str, vip: Any, score: Any, tags: Any, segments: list[str]
) -> None:
    context = {
        "profile": {"first_name": first, "city": city},
        "traits": {"vip": vip, "score": score, "tags": tags},
        "segments": segments,
        "links": {"preferences": "https://example.org/p?a=1&b=2"},
    }
    for source in SOURCES:
        for html, environment in ((True, HTML), (False, TEXT)):
            expected = environment.from_string(source).render(**context)
            assert _render(source, html, context) == expected


def test_parts_with_assignments_or_whitespace_control_are_rendered_whole() -> None:
    assert _plan(SOURCES[2], True) is None
    assert _plan(SOURCES[3], True) is None
    assert _plan(SOURCES[0], True) is not None
