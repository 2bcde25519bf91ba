"""Conversions attributed to the first and the last touch (UTM) before them, and to
the last email clicked.

A conversion is a track event whose name is in `CDP_CONVERSION_EVENTS`. The events
catch-up hands over the ids it read; each conversion among them becomes one `Conversion`
row: the UTM source, medium and campaign of the person's earliest and latest event that
carried a UTM source at or before the conversion, the broadcast or journey of the last
email the person clicked (a person's click, not a machine's) within
`CDP_ATTRIBUTION_DAYS` before it, and the whole days since the person was first seen.
The rebuild recomputes every row whose event still exists (a merge may have brought
earlier touches) and keeps the rows of erased people's conversions, which name no one.
Inserting is idempotent (one row per event id), so an id read twice counts once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from campaigns.services.delivery import EVENT_SOURCE
from core.planner import work_mem
from profiles.models import Event, Source
from reports.models import Conversion
from reports.services.messages import _message_key, _origins

BATCH = 2_000
_TOUCH = ("utm_source", "utm_medium", "utm_campaign")
_FIELDS = (
    "day",
    "name",
    "first_source",
    "first_medium",
    "first_campaign",
    "last_source",
    "last_medium",
    "last_campaign",
    "days_to_convert",
    "message_kind",
    "message_origin",
)


def conversion_events() -> QuerySet[Event]:
    return Event.objects.filter(type=Event.Type.TRACK, name__in=settings.CDP_CONVERSION_EVENTS)


def _window() -> timedelta:
    return timedelta(days=settings.CDP_ATTRIBUTION_DAYS)


def _touches(events: QuerySet[Event]) -> QuerySet[Event]:
    """The events with their first and last touch, the last email clicked and the
    first-seen time, in one statement (each an index probe on the person's events by
    time)."""
    touched = Event.objects.filter(
        profile_id=OuterRef("profile_id"), occurred_at__lte=OuterRef("occurred_at")
    ).exclude(utm_source="")
    first = touched.order_by("occurred_at", "id")
    last = touched.order_by("-occurred_at", "-id")
    clicked = (
        Event.objects.filter(
            profile_id=OuterRef("profile_id"),
            source__slug=EVENT_SOURCE,
            name="Email Clicked",
            occurred_at__lte=OuterRef("occurred_at"),
            occurred_at__gt=OuterRef("occurred_at") - _window(),
        )
        .filter(Q(properties__machine__isnull=True) | Q(properties__machine=False))
        .order_by("-occurred_at", "-id")
    )
    return events.annotate(
        **{f"first_{key[4:]}": Subquery(first.values(key)[:1]) for key in _TOUCH},
        **{f"last_{key[4:]}": Subquery(last.values(key)[:1]) for key in _TOUCH},
        clicked=Subquery(clicked.values("message_id")[:1]),
        first_seen=F("profile__first_seen_at"),
    ).order_by()


def _clicked_origins(message_ids: set[str]) -> dict[str, tuple[str, int]]:
    """The broadcast or journey of each clicked message, as the message rollup finds it."""
    keys = {message_id: _message_key("Email Clicked", message_id) for message_id in message_ids}
    origins = _origins(set(keys.values()))
    return {message_id: origins[key][:2] for message_id, key in keys.items() if key in origins}


def _rows(events: QuerySet[Event]) -> list[Conversion]:
    annotated = list(_touches(events).iterator(chunk_size=BATCH))
    origins = _clicked_origins({e.clicked for e in annotated if e.clicked})  # type: ignore[attr-defined]
    rows = []
    for event in annotated:
        seen = event.first_seen  # type: ignore[attr-defined]
        days = None if seen is None else max((event.occurred_at - seen).days, 0)
        kind, origin = origins.get(event.clicked or "", ("", None))  # type: ignore[attr-defined]
        rows.append(
            Conversion(
                event_id=event.pk,
                day=timezone.localtime(event.occurred_at).date(),
                name=event.name,
                days_to_convert=days,
                message_kind=kind,
                message_origin=origin,
                **{
                    field: getattr(event, field) or ""
                    for field in _FIELDS
                    if field.startswith(("first_", "last_"))
                },
            )
        )
    return rows


# PostgreSQL: the same attribution in one INSERT … SELECT, no row leaving the database.
_TOUCH_SQL = """
LEFT JOIN LATERAL (
    SELECT e.utm_source, e.utm_medium, e.utm_campaign FROM profiles_event e
    WHERE e.profile_id = c.profile_id AND e.occurred_at <= c.occurred_at
      AND e.utm_source <> ''
    ORDER BY e.occurred_at {order}, e.id {order} LIMIT 1
) {alias} ON true"""
# The last email the person clicked within the window, and its broadcast or journey.
_CLICK_SQL = """
LEFT JOIN LATERAL (
    SELECT e.message_id FROM profiles_event e
    WHERE e.profile_id = c.profile_id AND e.source_id = %(campaigns)s
      AND e.name = 'Email Clicked' AND e.occurred_at <= c.occurred_at
      AND e.occurred_at > c.occurred_at - %(window)s
      AND NOT COALESCE(e.properties @> jsonb_build_object('machine', true), false)
    ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1
) k ON true
LEFT JOIN campaigns_message m ON m.id = CASE
    WHEN split_part(k.message_id, ':', 2) ~ '^[0-9]+$'
      AND length(split_part(k.message_id, ':', 2)) <= 18
    THEN split_part(k.message_id, ':', 2)::bigint END
LEFT JOIN campaigns_steplog s ON m.origin_kind = 'journey_step' AND s.id = m.origin_id"""
# Constant fragments only; every value goes as a parameter.
_ATTRIBUTE_SQL = (
    "INSERT INTO reports_conversion (event_id, day, name, first_source, first_medium, "  # noqa: S608
    "first_campaign, last_source, last_medium, last_campaign, days_to_convert, "
    "message_kind, message_origin) "
    "SELECT c.id, (c.occurred_at AT TIME ZONE %(tz)s)::date, c.name, "
    "COALESCE(f.utm_source, ''), COALESCE(f.utm_medium, ''), COALESCE(f.utm_campaign, ''), "
    "COALESCE(l.utm_source, ''), COALESCE(l.utm_medium, ''), COALESCE(l.utm_campaign, ''), "
    "CASE WHEN p.first_seen_at IS NULL THEN NULL "
    "ELSE GREATEST(EXTRACT(DAY FROM c.occurred_at - p.first_seen_at), 0)::integer END, "
    "CASE WHEN m.origin_kind = 'broadcast' THEN 'broadcast' "
    "WHEN s.id IS NOT NULL THEN 'journey' ELSE '' END, "
    "CASE WHEN m.origin_kind = 'broadcast' THEN m.origin_id ELSE s.journey_id END "
    "FROM profiles_event c JOIN profiles_profile p ON p.id = c.profile_id"
    + _TOUCH_SQL.format(order="ASC", alias="f")
    + _TOUCH_SQL.format(order="DESC", alias="l")
    + _CLICK_SQL
    + " WHERE c.type = 'track' AND c.name = ANY(%(names)s) AND {window} "
    "ON CONFLICT (event_id) DO {conflict}"
)
# A rebuild rewrites only the rows whose attribution changed (most have not).
_UPDATE = (
    "UPDATE SET "
    + ", ".join(f"{field} = excluded.{field}" for field in _FIELDS)
    + " WHERE ("
    + ", ".join(f"reports_conversion.{field}" for field in _FIELDS)
    + ") IS DISTINCT FROM ("
    + ", ".join(f"excluded.{field}" for field in _FIELDS)
    + ")"
)


def _attribute_sql(*, window: str, update: bool, params: dict) -> int:
    sql = _ATTRIBUTE_SQL.format(window=window, conflict=_UPDATE if update else "NOTHING")
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                **params,
                "tz": timezone.get_current_timezone_name(),
                "names": list(settings.CDP_CONVERSION_EVENTS),
                "campaigns": Source.objects.filter(slug=EVENT_SOURCE)
                .values_list("pk", flat=True)
                .first(),
                "window": _window(),
            },
        )
        return cursor.rowcount


def conversions_add(event_ids: Iterable[int]) -> int:
    """Attribute the conversions among these events (ids already counted are skipped)."""
    ids = list(event_ids)
    if connection.vendor == "postgresql":
        return _attribute_sql(window="c.id = ANY(%(ids)s)", update=False, params={"ids": ids})
    added = 0
    for start in range(0, len(ids), BATCH):
        rows = _rows(conversion_events().filter(id__in=ids[start : start + BATCH]))
        added += len(Conversion.objects.bulk_create(rows, ignore_conflicts=True))
    return added


def conversions_rebuild(*, top: int) -> int:
    """Recompute the attribution of every conversion up to event id `top`."""
    if connection.vendor == "postgresql":
        # Every conversion with its first and last touch in one pass: its sorts fit in
        # memory (4.4 s at 1M people / 5M events on disk, 3.1 s in memory).
        with work_mem(128):
            return _attribute_sql(window="c.id <= %(top)s", update=True, params={"top": top})
    count = 0
    last = 0
    events = conversion_events().filter(id__lte=top)
    while True:
        ids = list(events.filter(id__gt=last).order_by("id").values_list("id", flat=True)[:BATCH])
        if not ids:
            return count
        rows = _rows(conversion_events().filter(id__in=ids))
        Conversion.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["event_id"], update_fields=list(_FIELDS)
        )
        count += len(rows)
        last = ids[-1]
