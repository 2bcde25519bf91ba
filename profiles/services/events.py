"""System events: rows other apps append to the timeline without the HTTP pipeline.

Segment entries and exits, for instance, are events so that journeys can start on them;
they are appended as a set (INSERT ... SELECT), whatever their number.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from django.db import IntegrityError, connection, models, transaction
from django.db.models import QuerySet
from django.utils import timezone

from profiles.models import Event, Source


def rows_insert_from(*, model: type[models.Model], fields: Sequence[str], rows: QuerySet) -> int:
    """INSERT INTO model (fields) SELECT ... from a `values_list` queryset; rows inserted.

    The queryset's columns must be in the order of `fields` (use annotations for constants).
    One statement, on any backend: the database does the work, not a Python loop.
    """
    opts = model._meta
    columns = ", ".join(
        connection.ops.quote_name(cast(models.Field, opts.get_field(f)).column) for f in fields
    )
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
    from profiles.errors import ProfilesError
    from profiles.services.sources import source_create

    try:
        with transaction.atomic():
            source, _ = source_create(name=name, kind=Source.Kind.API, slug=slug, trust_rank=0)
            source.is_active = False  # nobody posts with its key: only the platform writes
            source.save(update_fields=["is_active", "updated_at"])
            return source
    except (IntegrityError, ProfilesError):  # another process created it meanwhile
        return Source.objects.get(slug=slug)


_EVENT_COLUMNS = (
    "profile",
    "message_id",
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
    "occurred_at",
    "received_at",
)


def _system_insert_sql(rows_sql: str) -> str:
    """INSERT ... SELECT of events from `rows_sql` (profile id, message id), joined to the
    source by slug so that no look-up precedes it."""
    opts = Event._meta
    quote = connection.ops.quote_name
    columns = ", ".join(quote(cast(models.Field, opts.get_field(f)).column) for f in _EVENT_COLUMNS)
    source = Source._meta
    return (
        f"INSERT INTO {quote(opts.db_table)} ({columns}) "  # noqa: S608
        f"SELECT _sys_rows.*, _sys_source.{quote(source.pk.column)}, %s, %s, %s, %s, "
        f"'', '', '', '', '', %s, %s FROM ({rows_sql}) _sys_rows, "
        f"{quote(source.db_table)} _sys_source WHERE _sys_source.{quote('slug')} = %s"
    )


@functools.lru_cache(maxsize=64)
def _system_insert_rows_sql(rows_sql: str, returning: bool, vendor: str) -> str:
    opts = Event._meta
    quote = connection.ops.quote_name
    columns = ", ".join(quote(cast(models.Field, opts.get_field(f)).column) for f in _EVENT_COLUMNS)
    source = Source._meta
    source_pk = quote(source.pk.column)
    sql = (
        f"INSERT INTO {quote(opts.db_table)} ({columns}) "  # noqa: S608
        f"SELECT _sys_rows.profile_id, _sys_rows.message_id, _sys_source.{source_pk}, "
        f"%s, _sys_rows.name, _sys_rows.properties, %s, '', '', '', '', '', %s, %s "
        f"FROM ({rows_sql}) _sys_rows, {quote(source.db_table)} _sys_source "
        f"WHERE _sys_source.{quote('slug')} = %s"
    )
    if returning:
        sql += f" RETURNING {quote(opts.pk.column)}"
    return sql


def system_events_insert_sql(
    *,
    rows_sql: str,
    rows_params: Sequence[Any],
    source_slug: str,
    at: datetime,
    type: str = Event.Type.TRACK,
    returning: bool = False,
) -> tuple[str, list[Any]]:
    """An INSERT ... SELECT of one system event per row of `rows_sql` (columns `profile_id`,
    `message_id`, `name`, `properties`), and its parameters, for the caller to run, alone
    or as a data-modifying part of a larger statement (`WITH ... AS (INSERT ...)`).

    The source is joined by slug: nothing is inserted while it does not exist (make sure
    of it first with `system_source_get`). Message ids must be unique per source.
    """
    opts = Event._meta
    sql = _system_insert_rows_sql(rows_sql, returning, connection.vendor)
    moment = opts.get_field("occurred_at").get_db_prep_save(at, connection)
    context = opts.get_field("context").get_db_prep_save({}, connection)
    return sql, [str(type), context, moment, moment, *rows_params, source_slug]


def system_source_exists_sql(*, slug: str) -> tuple[str, list[Any]]:
    """A condition (SQL, parameters) true when the system source `slug` exists."""
    quote = connection.ops.quote_name
    return (
        f"EXISTS (SELECT 1 FROM {quote(Source._meta.db_table)} "  # noqa: S608
        f"WHERE {quote('slug')} = %s)",
        [slug],
    )


def system_event_properties(properties: Mapping[str, Any]) -> Any:
    """`properties` as the parameter `system_events_insert_sql`'s rows may carry."""
    return Event._meta.get_field("properties").get_db_prep_save(dict(properties), connection)


def system_events_append_sql(
    *,
    source_slug: str,
    source_name: str,
    name: str,
    properties: Mapping[str, Any],
    rows_sql: str,
    rows_params: Sequence[Any],
    type: str = Event.Type.TRACK,
) -> int:
    """Append one event per row of a SELECT of (profile id, message id); count.

    One statement: the source is joined by slug. Only when nothing was inserted is the
    source made sure of (created once, idempotently) and the statement run again. Message
    ids must be unique per source (callers build them from the id of the row concerned).
    """
    opts = Event._meta
    now = opts.get_field("occurred_at").get_db_prep_save(timezone.now(), connection)
    params = [
        str(type),
        name,
        opts.get_field("properties").get_db_prep_save(dict(properties), connection),
        opts.get_field("context").get_db_prep_save({}, connection),
        now,
        now,
        *rows_params,
        source_slug,
    ]
    sql = _system_insert_sql(rows_sql)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.rowcount:
            return cursor.rowcount
    system_source_get(slug=source_slug, name=source_name)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def system_events_append(
    *,
    source_slug: str,
    source_name: str,
    name: str,
    properties: Mapping[str, Any],
    rows: QuerySet,
    profile_field: str = "profile_id",
    message_id_field: str = "message_id",
    type: str = Event.Type.TRACK,
) -> int:
    """Append one event per row of `rows` (their profile and message id fields); count."""
    sql, params = rows.values_list(profile_field, message_id_field).query.sql_with_params()
    return system_events_append_sql(
        source_slug=source_slug,
        source_name=source_name,
        name=name,
        properties=properties,
        rows_sql=sql,
        rows_params=params,
        type=type,
    )
