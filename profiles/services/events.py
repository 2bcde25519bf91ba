"""System events: rows other apps append to the timeline without the HTTP pipeline.

Segment entries and exits, for instance, are events so that journeys can start on them;
they are appended as a set (INSERT ... SELECT), whatever their number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import IntegrityError, connection, models, transaction
from django.db.models import QuerySet, Value
from django.utils import timezone

from profiles.models import Event, Source


def rows_insert_from(*, model: type[models.Model], fields: Sequence[str], rows: QuerySet) -> int:
    """INSERT INTO model (fields) SELECT ... from a `values_list` queryset; rows inserted.

    The queryset's columns must be in the order of `fields` (use annotations for constants).
    One statement, on any backend: the database does the work, not a Python loop.
    """
    opts = model._meta
    columns = ", ".join(connection.ops.quote_name(opts.get_field(f).column) for f in fields)
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {connection.ops.quote_name(opts.db_table)} ({columns}) {sql}",
            params,
        )
        return cursor.rowcount


def system_source_get(*, slug: str, name: str) -> Source:
    """The internal source system events come from, created once (idempotent under races)."""
    found = Source.objects.filter(slug=slug).first()
    if found is not None:
        return found
    from profiles.services.sources import source_create

    try:
        with transaction.atomic():
            source, _ = source_create(name=name, kind=Source.Kind.API, slug=slug, trust_rank=0)
            source.is_active = False  # nobody posts with its key: only the platform writes
            source.save(update_fields=["is_active"])
            return source
    except IntegrityError:
        return Source.objects.get(slug=slug)


def system_events_append(
    *,
    source: Source,
    name: str,
    properties: Mapping[str, Any],
    rows: QuerySet,
    profile_field: str = "profile_id",
    message_id_field: str = "message_id",
    type: str = Event.Type.TRACK,
) -> int:
    """Append one event per row of `rows` (their profile and message id fields); count.

    Message ids must be unique per source (the constraint settles repeats: callers build
    them from the id of the row the event is about).
    """
    now = timezone.now()
    constants = {
        "_sys_source": Value(source.pk, output_field=models.BigIntegerField()),
        "_sys_type": Value(str(type), output_field=models.CharField()),
        "_sys_name": Value(name, output_field=models.CharField()),
        "_sys_properties": Value(dict(properties), output_field=models.JSONField()),
        "_sys_context": Value({}, output_field=models.JSONField()),
        "_sys_empty": Value("", output_field=models.CharField()),
        "_sys_now": Value(now, output_field=models.DateTimeField()),
    }
    selected = rows.annotate(**constants).values_list(
        profile_field,
        "_sys_source",
        "_sys_type",
        "_sys_name",
        "_sys_properties",
        "_sys_context",
        "_sys_empty",
        "_sys_empty",
        "_sys_empty",
        "_sys_empty",
        "_sys_empty",
        message_id_field,
        "_sys_now",
        "_sys_now",
    )
    return rows_insert_from(
        model=Event,
        fields=(
            "profile",
            "source",
            "type",
            "name",
            "properties",
            "context",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "utm_term",
            "utm_content",
            "message_id",
            "occurred_at",
            "received_at",
        ),
        rows=selected,
    )
