"""What the segment admin's rule builder and size chart show, in the steward's words."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from segments.models import Segment
from segments.rules import OPS_BY_TYPE, PROFILE_FIELDS

FIELD_LABELS = {
    "email": _("email"),
    "phone": _("phone"),
    "first_name": _("first name"),
    "last_name": _("last name"),
    "company": _("company"),
    "job_title": _("job title"),
    "job_function": _("job function"),
    "postcode": _("postcode"),
    "city": _("city"),
    "country": _("country"),
    "language": _("language"),
    "lifecycle_stage": _("lifecycle stage"),
    "quality_score": _("data-quality score"),
    "date_of_birth": _("date of birth"),
    "first_seen_at": _("first seen"),
    "last_seen_at": _("last seen"),
    "created_at": _("created"),
}
assert set(FIELD_LABELS) == set(PROFILE_FIELDS)
OP_LABELS = {
    "eq": _("is"),
    "ne": _("is not"),
    "contains": _("contains"),
    "starts_with": _("starts with"),
    "in": _("is one of"),
    "gt": _("is more than"),
    "gte": _("is at least"),
    "lt": _("is less than"),
    "lte": _("is at most"),
    "between": _("is between"),
    "is_set": _("is filled in"),
    "not_set": _("is empty"),
    "within_last_days": _("is within the last"),
    "more_than_days_ago": _("is more than … ago"),
    "anniversary_within_days": _("has its anniversary within the next"),
}
assert {op for ops in OPS_BY_TYPE.values() for op in ops} <= set(OP_LABELS)
KIND_LABELS = {
    "field": _("a profile field"),
    "event": _("an event"),
    "consent": _("consent"),
    "source": _("a source"),
    "channel": _("a channel"),
    "segment": _("another segment"),
}
# Every other word the builder writes (builder.js reads them from here).
TEXTS = {
    "all": _("All of"),
    "any": _("Any of"),
    "none": _("None of"),
    "add_condition": _("+ condition"),
    "add_group": _("+ group"),
    "remove": _("Remove"),
    "custom_trait": _("a custom trait…"),
    "trait_key": _("trait key"),
    "and": _("and"),
    "days": _("days"),
    "comma_separated": _("(comma-separated)"),
    "performed": _("performed"),
    "event_name": _("event name"),
    "at_least": _("at least"),
    "at_most": _("at most"),
    "not_since_days": _("not in the last"),
    "times_within": _("times within"),
    "days_or_ever": _("days (empty: ever)"),
    "property_filters": _("+ %(n)s property filter(s), edit in JSON"),
    "may_be_contacted": _("may be contacted for"),
    "people_now": _("%(n)s people now"),
    "sample": _("Sample:"),
    "unavailable": _("Preview unavailable."),
    "updating": _("Updating…"),
    "invalid_json": _("The JSON below is not valid: fix it, or"),
    "start_new": _("start a new rule"),
}


def builder_meta() -> dict[str, Any]:
    """What the rule builder offers, with the words it shows for each code."""
    from consent.models import Purpose
    from profiles.models import Source
    from profiles.selectors import event_names

    return {
        "fields": {name: OPS_BY_TYPE[type] for name, type in PROFILE_FIELDS.items()},
        "field_types": PROFILE_FIELDS,
        "trait_ops": OPS_BY_TYPE["trait"],
        "purposes": list(Purpose.objects.order_by("code").values_list("code", "name")),
        "sources": list(Source.objects.order_by("slug").values_list("slug", "name")),
        "channels": [[kind.value, str(kind.label)] for kind in Source.Kind],
        "segments": [
            [pk, name] for pk, name in Segment.objects.order_by("name").values_list("pk", "name")
        ],
        "event_names": event_names(),
        "labels": {
            "fields": {name: str(label) for name, label in FIELD_LABELS.items()},
            "ops": {op: str(label) for op, label in OP_LABELS.items()},
            "kinds": {kind: str(label) for kind, label in KIND_LABELS.items()},
            "texts": {key: str(text) for key, text in TEXTS.items()},
        },
    }


def size_chart(
    sizes: Sequence[Any],
    *,
    created_at: datetime,
    member_count: int,
    now: datetime | None = None,
    width: int = 640,
    height: int = 160,
) -> SafeString:
    """Segment size since its creation as an inline SVG line (no script, no CDN).

    Time runs left to right from the first size known: the sizes backfilled at the first
    refresh (dashed, see `_sizes_backfill`), else the segment's creation; each refresh steps
    the line, and the line ends now at the member count, which tops the chart unless the
    segment was once larger.
    """
    if not sizes:
        return format_html("<p>{}</p>", _("No refresh yet."))
    now = now or timezone.now()
    start = min(created_at, sizes[0].at)
    span = max((now - start).total_seconds(), 1.0)
    top = max(member_count, *(row.size for row in sizes)) or 1
    points: list[tuple[float, int]] = [(0.0, sizes[0].size)]
    estimated = 1  # how many points the backfilled rows draw (dashed)
    for row in sizes:
        x = (row.at - start).total_seconds() / span * width
        points.append((x, points[-1][1]))  # flat until the refresh, then the step
        points.append((x, row.size))
        if getattr(row, "backfilled", False):
            estimated = len(points)
    points.append((float(width), member_count))

    def y(size: int) -> str:
        return f"{height - size / top * (height - 10) - 5:.1f}"

    def line(part: list[tuple[float, int]]) -> SafeString:
        return format_html_join(" ", "{},{}", ((f"{x:.1f}", y(size)) for x, size in part))

    backfilled = estimated > 1
    return format_html(
        '<svg class="segment-sizes" viewBox="0 0 {w} {h2}" width="{w}" height="{h2}" '
        'role="img" aria-label="{label}">'
        "{dashed}"
        '<polyline fill="none" stroke="currentColor" stroke-width="2" points="{points}"/>'
        '<text x="0" y="{ty}" font-size="11">{start} · {first_size}</text>'
        '<text x="{w}" y="{ty}" font-size="11" text-anchor="end">{end} · {last_size}</text>'
        '<text x="0" y="10" font-size="11" class="segment-sizes-max">{max_label}</text></svg>'
        "{legend}",
        w=width,
        h2=height + 16,
        ty=height + 14,
        label=_("Segment size since it was created"),
        dashed=format_html(
            '<polyline class="segment-sizes-estimated" fill="none" stroke="currentColor" '
            'stroke-width="2" stroke-dasharray="4 3" points="{}"/>',
            line(points[:estimated]),
        )
        if backfilled
        else "",
        points=line(points[estimated - 1 :]),
        start=date_format(timezone.localtime(start), "SHORT_DATETIME_FORMAT"),
        end=_("now"),
        first_size=sizes[0].size,
        last_size=member_count,
        max_label=_("max %(n)s") % {"n": top},
        legend=format_html(
            '<p class="help">{}</p>',
            _(
                "Dashed: estimated when the segment was created, from when its members "
                "were first seen."
            ),
        )
        if backfilled
        else "",
    )
