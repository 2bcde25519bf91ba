"""Daily message counts per broadcast, journey, step and A/B variant (`DailyMessages`).

Two sources, each exact over its raw table:

- The campaigns' events (`Email Sent`, `Webhook Called`, `Email Opened`, `Email Clicked`,
  `Email Bounced`, `Email Complained`, `Email Unsubscribed`): the events catch-up hands
  over the ids it read and each campaign event among them adds one to its message's
  origin on the event's day. An open counts once per message (human and machine apart:
  the event ids say so); a click counts once per message too, on the day of its first
  click event (lowest id); an unsubscribe is one event per message (an email service's
  report, or the unsubscribe link the message carried).
- The outbox and the journeys' tables, whose rows change state: skips (by reason) and
  failures on the day the message was due, variant assignments (the split step's log) and
  conversions (the enrolment's `converted_at`, attributed to its last step and variant,
  and the channel of its last message). Database triggers log each change as -1/+1
  (`MessageStateChange`, migration 0011, ADR 0029); the catch-up takes the log whole and
  adds it, the rebuild recounts the tables and empties the log in one snapshot.

An erased person's events are deleted after their counts move to `erased` rows, which the
rebuild keeps (the outbox and the enrolments keep their rows, anonymous).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from campaigns.models import Enrolment, Message, StepLog
from campaigns.services.delivery import EVENT_SOURCE
from core.counts import counts_add
from profiles.models import Event, Source
from reports.models import DailyMessages, MessageStateChange

BATCH = 2_000
KEYS = (
    "day",
    "origin_kind",
    "origin_id",
    "step",
    "variant",
    "channel",
    "metric",
    "reason",
    "erased",
)
Metric = DailyMessages.Metric
EVENT_NAMES = (
    "Email Sent",
    "Webhook Called",
    "Email Opened",
    "Email Clicked",
    "Email Bounced",
    "Email Complained",
    "Email Unsubscribed",
)
STATE_METRICS = (Metric.SKIPPED, Metric.FAILED, Metric.ASSIGNED, Metric.CONVERTED)
EVENT_METRICS = tuple(metric for metric in Metric.values if metric not in STATE_METRICS)

Origin = tuple[str, int, str, str, str]  # origin kind, origin id, step, variant, channel


def campaign_events() -> QuerySet[Event]:
    return Event.objects.filter(source__slug=EVENT_SOURCE, name__in=EVENT_NAMES)


def _message_key(name: str, message_id: str) -> tuple[str, str]:
    """("pk", "123") for opens and clicks, ("message_id", "<...>") for the others."""
    rest = message_id.partition(":")[2]
    if name in ("Email Opened", "Email Clicked"):
        return "pk", rest.split(":", 1)[0]
    return "message_id", rest


def _variant_before() -> Subquery:
    """A step log's A/B variant: the one its enrolment's latest split before it assigned
    (none before any split). Step logs never change, so a message's variant does not
    either, whenever it is counted."""
    return Subquery(
        StepLog.objects.filter(enrolment_id=OuterRef("enrolment_id"), visit__lt=OuterRef("visit"))
        .exclude(variant="")
        .order_by("-visit")
        .values("variant")[:1]
    )


def _origins(keys: set[tuple[str, str]]) -> dict[tuple[str, str], Origin]:
    """Each message's origin: a broadcast, or the journey, step and variant of its step log."""
    pks = [int(value) for kind, value in keys if kind == "pk" and value.isdigit()]
    message_ids = [value for kind, value in keys if kind == "message_id"]
    rows: list[dict[str, Any]] = []
    fields = ("pk", "message_id", "origin_kind", "origin_id", "channel")
    for start in range(0, len(pks), BATCH):
        rows.extend(Message.objects.filter(pk__in=pks[start : start + BATCH]).values(*fields))
    for start in range(0, len(message_ids), BATCH):
        rows.extend(
            Message.objects.filter(message_id__in=message_ids[start : start + BATCH]).values(
                *fields
            )
        )
    log_ids = [
        row["origin_id"] for row in rows if row["origin_kind"] == Message.Origin.JOURNEY_STEP
    ]
    logs: dict[int, tuple[int, str, str]] = {}
    for start in range(0, len(log_ids), BATCH):
        for pk, journey_id, step, variant in (
            StepLog.objects.filter(pk__in=log_ids[start : start + BATCH])
            .annotate(split_variant=_variant_before())
            .values_list("pk", "journey_id", "step", "split_variant")
        ):
            logs[pk] = (journey_id, step, variant or "")
    found: dict[tuple[str, str], Origin] = {}
    for row in rows:
        if row["origin_kind"] == Message.Origin.BROADCAST:
            origin: Origin = ("broadcast", row["origin_id"], "", "", row["channel"])
        elif row["origin_id"] in logs:
            journey_id, step, variant = logs[row["origin_id"]]
            origin = ("journey", journey_id, step, variant, row["channel"])
        else:
            continue
        found[("pk", str(row["pk"]))] = origin
        found[("message_id", row["message_id"])] = origin
    return found


def _first_clicks(events: list[dict[str, Any]]) -> set[int]:
    """The click events that are their message's first (lowest id, human and machine
    apart); the person's other click events are looked up by profile."""
    clicks = [event for event in events if event["name"] == "Email Clicked"]
    if not clicks:
        return set()
    first: dict[tuple[str, str], int] = {}
    profiles = sorted({event["profile_id"] for event in clicks})
    for start in range(0, len(profiles), BATCH):
        for pk, message_id in (
            campaign_events()
            .filter(name="Email Clicked", profile_id__in=profiles[start : start + BATCH])
            .values_list("pk", "message_id")
        ):
            key = _click_key(message_id)
            first[key] = min(pk, first.get(key, pk))
    return {
        event["id"] for event in clicks if first.get(_click_key(event["message_id"])) == event["id"]
    }


def _click_key(message_id: str) -> tuple[str, str]:
    parts = message_id.split(":")
    return parts[1] if len(parts) > 1 else "", parts[-1]


def _metric(event: dict[str, Any]) -> tuple[str, str]:
    properties = event["properties"] or {}
    name = event["name"]
    if name in ("Email Sent", "Webhook Called"):
        return Metric.SENT, ""
    if name == "Email Opened":
        return (Metric.OPENED_MACHINE if properties.get("machine") else Metric.OPENED), ""
    if name == "Email Clicked":
        return (Metric.CLICKED_MACHINE if properties.get("machine") else Metric.CLICKED), ""
    if name == "Email Bounced":
        return Metric.BOUNCED, "hard" if properties.get("hard") else "soft"
    if name == "Email Unsubscribed":
        return Metric.UNSUBSCRIBED, ""
    return Metric.COMPLAINED, ""


def _event_counts(events: QuerySet[Event], *, erased: bool = False) -> list[dict[str, Any]]:
    """The rollup rows of these campaign events (one batch of ids at a time)."""
    counts: Counter[tuple[Any, ...]] = Counter()
    rows = list(
        events.values("id", "name", "message_id", "occurred_at", "properties", "profile_id")
    )
    origins = _origins({_message_key(row["name"], row["message_id"]) for row in rows})
    first_clicks = _first_clicks(rows)
    for row in rows:
        origin = origins.get(_message_key(row["name"], row["message_id"]))
        if origin is None:
            continue  # a message the outbox no longer holds
        if row["name"] == "Email Clicked" and row["id"] not in first_clicks:
            continue
        metric, reason = _metric(row)
        day = timezone.localtime(row["occurred_at"]).date()
        counts[(day, *origin, metric, reason, erased)] += 1
    return [{**dict(zip(KEYS, key, strict=True)), "count": n} for key, n in counts.items()]


# A journey message's variant: the one its enrolment's latest split before its step
# assigned (see `_variant_before`).
_LOG_VARIANT = """coalesce((SELECT s.variant FROM campaigns_steplog s
        WHERE s.enrolment_id = l.enrolment_id AND s.visit < l.visit AND s.variant <> ''
        ORDER BY s.visit DESC LIMIT 1), '')"""

# PostgreSQL: the same counts in one INSERT … SELECT, no row leaving the database. Each
# event names its message (by Message-ID, or by primary key for opens and clicks); a
# click counts when it is its message's first (human and machine apart).
_EVENTS_SQL = """
WITH {picked} ev AS (
    SELECT e.id, e.name, e.message_id, e.occurred_at, e.properties, e.profile_id, e.source_id,
           CASE WHEN e.name IN ('Email Opened', 'Email Clicked')
                 AND split_part(e.message_id, ':', 2) ~ '^[0-9]{{1,18}}$'
                THEN split_part(e.message_id, ':', 2)::bigint END AS message_pk,
           CASE WHEN e.name NOT IN ('Email Opened', 'Email Clicked')
                THEN substr(e.message_id, strpos(e.message_id, ':') + 1) END AS message_key
    FROM {events} e
    WHERE e.source_id = %(source)s AND e.name = ANY(%(names)s) AND {window}
), counted AS (
    SELECT (ev.occurred_at AT TIME ZONE %(tz)s)::date AS day,
           CASE WHEN m.origin_kind = 'broadcast' THEN 'broadcast' ELSE 'journey' END
               AS origin_kind,
           CASE WHEN m.origin_kind = 'broadcast' THEN m.origin_id ELSE l.journey_id END
               AS origin_id,
           CASE WHEN m.origin_kind = 'broadcast' THEN '' ELSE l.step END AS step,
           CASE WHEN m.origin_kind = 'broadcast' THEN '' ELSE LOG_VARIANT END AS variant,
           m.channel,
           CASE ev.name
               WHEN 'Email Opened' THEN CASE WHEN ev.properties->>'machine' = 'true'
                                             THEN 'opened_machine' ELSE 'opened' END
               WHEN 'Email Clicked' THEN CASE WHEN ev.properties->>'machine' = 'true'
                                              THEN 'clicked_machine' ELSE 'clicked' END
               WHEN 'Email Bounced' THEN 'bounced'
               WHEN 'Email Complained' THEN 'complained'
               WHEN 'Email Unsubscribed' THEN 'unsubscribed'
               ELSE 'sent' END AS metric,
           CASE WHEN ev.name = 'Email Bounced'
                THEN CASE WHEN ev.properties->>'hard' = 'true' THEN 'hard' ELSE 'soft' END
                ELSE '' END AS reason
    FROM ev
    LEFT JOIN campaigns_message by_pk ON by_pk.id = ev.message_pk
    LEFT JOIN campaigns_message by_key ON by_key.message_id = ev.message_key
    CROSS JOIN LATERAL (
        SELECT coalesce(by_pk.origin_kind, by_key.origin_kind) AS origin_kind,
               coalesce(by_pk.origin_id, by_key.origin_id) AS origin_id,
               coalesce(by_pk.channel, by_key.channel) AS channel
    ) m
    LEFT JOIN campaigns_steplog l ON m.origin_kind = 'journey_step' AND l.id = m.origin_id
    WHERE (m.origin_kind = 'broadcast' OR l.id IS NOT NULL)
      AND (ev.name <> 'Email Clicked' OR ev.id = (
          SELECT min(c.id) FROM profiles_event c
          WHERE c.profile_id = ev.profile_id AND c.source_id = ev.source_id
            AND c.name = 'Email Clicked'
            AND split_part(c.message_id, ':', 2) = split_part(ev.message_id, ':', 2)
            AND right(c.message_id, 2) = right(ev.message_id, 2)))
), grouped AS (
    SELECT day, origin_kind, origin_id, step, variant, channel, metric, reason, count(*) AS n
    FROM counted GROUP BY day, origin_kind, origin_id, step, variant, channel, metric, reason
), added AS (
    INSERT INTO reports_dailymessages
        (day, origin_kind, origin_id, step, variant, channel, metric, reason, erased, count)
    SELECT day, origin_kind, origin_id, step, variant, channel, metric, reason, false, n
    FROM grouped
    ON CONFLICT (day, origin_kind, origin_id, step, variant, channel, metric, reason, erased)
    DO UPDATE SET count = reports_dailymessages.count + excluded.count
)
SELECT coalesce(sum(n), 0) FROM grouped
""".replace("LOG_VARIANT", _LOG_VARIANT)


# The catch-up's events, read by id before any other filter: given the source and names
# too, PostgreSQL combined the primary key with the source and name indexes, reading ~1.6M
# index entries at 1M messages to keep 10,000 rows.
_PICKED = "picked AS MATERIALIZED (SELECT * FROM profiles_event WHERE id = ANY(%(ids)s)),"


def _events_sql(
    *, window: str, params: dict[str, Any], picked: str = "", events: str = "profiles_event"
) -> int:
    # The source by its unique slug first: a join would scan the (small, often updated)
    # sources table.
    source = Source.objects.filter(slug=EVENT_SOURCE).values_list("pk", flat=True).first()
    if source is None:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            _EVENTS_SQL.format(window=window, picked=picked, events=events),
            {
                **params,
                "source": source,
                "names": list(EVENT_NAMES),
                "tz": timezone.get_current_timezone_name(),
            },
        )
        row = cursor.fetchone()
        return int(row[0]) if row else 0


def messages_add(event_ids: Iterable[int]) -> int:
    """Count the campaign events among these (just read by the events cursor)."""
    ids = list(event_ids)
    if connection.vendor == "postgresql":
        if not ids:
            return 0
        return _events_sql(window="true", params={"ids": ids}, picked=_PICKED, events="picked")
    added = 0
    for start in range(0, len(ids), BATCH):
        rows = _event_counts(campaign_events().filter(id__in=ids[start : start + BATCH]))
        added += counts_add(model=DailyMessages, keys=KEYS, rows=rows)
    return added


def messages_erase(*, profile_ids: Sequence[int], unread: Q) -> int:
    """Before the people's events are deleted: move their counts to `erased` rows (the
    ones the cursor has read leave the live rows; unread ones are counted once there)."""
    events = campaign_events().filter(profile_id__in=profile_ids)
    read = _event_counts(events.exclude(unread))
    counts_add(
        model=DailyMessages, keys=KEYS, rows=[{**row, "count": -row["count"]} for row in read]
    )
    return counts_add(model=DailyMessages, keys=KEYS, rows=_event_counts(events, erased=True))


def _journey_step(field: str) -> dict[str, Any]:
    logs = StepLog.objects.filter(pk=OuterRef(field))
    return {
        "journey_id": Subquery(logs.values("journey_id")[:1]),
        "log_step": Subquery(logs.values("step")[:1]),
        "log_variant": Subquery(
            logs.annotate(split_variant=_variant_before()).values("split_variant")[:1]
        ),
    }


def _state_rows() -> list[dict[str, Any]]:
    """Skips and failures (outbox), assignments and conversions (journeys) per day."""
    rows: list[dict[str, Any]] = []

    def add(**values: Any) -> None:
        rows.append({key: values.get(key, "") for key in KEYS} | {"count": values["count"]})

    messages = Message.objects.filter(
        Q(status=Message.Status.SKIPPED) | Q(status=Message.Status.FAILED, sent_at__isnull=True)
    )
    for row in (
        messages.annotate(day=TruncDate("due_at"), **_journey_step("origin_id"))
        .values(
            "day",
            "origin_kind",
            "origin_id",
            "channel",
            "status",
            "skip_reason",
            "journey_id",
            "log_step",
            "log_variant",
        )
        .annotate(n=Count("id"))
        .order_by()
    ):
        if row["origin_kind"] == Message.Origin.BROADCAST:
            origin = {"origin_kind": "broadcast", "origin_id": row["origin_id"]}
        elif row["journey_id"] is not None:
            origin = {
                "origin_kind": "journey",
                "origin_id": row["journey_id"],
                "step": row["log_step"],
                "variant": row["log_variant"] or "",
            }
        else:
            continue
        add(
            day=row["day"],
            channel=row["channel"],
            metric=row["status"],
            reason=row["skip_reason"],
            erased=False,
            count=row["n"],
            **origin,
        )
    for row in (
        StepLog.objects.exclude(variant="")
        .annotate(day=TruncDate("at"))
        .values("day", "journey_id", "step", "variant")
        .annotate(n=Count("id"))
        .order_by()
    ):
        add(
            day=row["day"],
            origin_kind="journey",
            origin_id=row["journey_id"],
            step=row["step"],
            variant=row["variant"],
            metric=Metric.ASSIGNED,
            erased=False,
            count=row["n"],
        )
    converted = Enrolment.objects.filter(converted_at__isnull=False)
    channel = Message.objects.filter(pk=OuterRef("converted_message_id")).values("channel")[:1]
    for row in (
        converted.annotate(
            day=TruncDate("converted_at"), channel=Coalesce(Subquery(channel), Value("?"))
        )
        .values("day", "journey_id", "converted_step", "variant", "channel")
        .annotate(n=Count("id"))
        .order_by()
    ):
        add(
            day=row["day"],
            origin_kind="journey",
            origin_id=row["journey_id"],
            step=row["converted_step"],
            variant=row["variant"],
            channel="" if row["channel"] == "?" else row["channel"],
            metric=Metric.CONVERTED,
            erased=False,
            count=row["n"],
        )
    return rows


# PostgreSQL: the state counts in one statement that also empties the change log, so the
# two agree: a change committed before the statement is in the count and its log row
# goes; one committed after keeps its log row for the next catch-up.
_STATES_SQL = """
WITH cleared AS (
    DELETE FROM reports_messagestatechange RETURNING 1
), states AS (
    SELECT m.due_at AS at,
           CASE WHEN m.status = 'skipped' THEN 'skipped' ELSE 'failed' END AS metric,
           m.skip_reason AS reason,
           CASE WHEN m.origin_kind = 'broadcast' THEN 'broadcast' ELSE 'journey' END
               AS origin_kind,
           CASE WHEN m.origin_kind = 'broadcast' THEN m.origin_id ELSE l.journey_id END
               AS origin_id,
           CASE WHEN m.origin_kind = 'broadcast' THEN '' ELSE l.step END AS step,
           CASE WHEN m.origin_kind = 'broadcast' THEN '' ELSE LOG_VARIANT END AS variant,
           m.channel
    FROM campaigns_message m
    LEFT JOIN campaigns_steplog l ON m.origin_kind = 'journey_step' AND l.id = m.origin_id
    WHERE (m.status = 'skipped' OR (m.status = 'failed' AND m.sent_at IS NULL))
      AND (m.origin_kind = 'broadcast' OR l.id IS NOT NULL)
    UNION ALL
    SELECT l.at, 'assigned', '', 'journey', l.journey_id, l.step, l.variant, ''
    FROM campaigns_steplog l WHERE l.variant <> ''
    UNION ALL
    SELECT e.converted_at, 'converted', '', 'journey', e.journey_id, e.converted_step,
           e.variant, coalesce(cm.channel, '')
    FROM campaigns_enrolment e
    LEFT JOIN campaigns_message cm ON cm.id = e.converted_message_id
    WHERE e.converted_at IS NOT NULL
), grouped AS (
    SELECT (at AT TIME ZONE %(tz)s)::date AS day, origin_kind, origin_id, step, variant,
           channel, metric, reason, count(*) AS n
    FROM states GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
), added AS (
    INSERT INTO reports_dailymessages
        (day, origin_kind, origin_id, step, variant, channel, metric, reason, erased, count)
    SELECT day, origin_kind, origin_id, step, variant, channel, metric, reason, false, n
    FROM grouped
    ON CONFLICT (day, origin_kind, origin_id, step, variant, channel, metric, reason, erased)
    DO UPDATE SET count = reports_dailymessages.count + excluded.count
)
SELECT coalesce(sum(n), 0) FROM grouped
""".replace("LOG_VARIANT", _LOG_VARIANT)

# PostgreSQL: take the logged changes and add them, in one statement. An outbox row's
# origin is read now (it never changes); a journey's change carries its own.
_CHANGES_SQL = """
WITH taken AS (
    DELETE FROM reports_messagestatechange
    RETURNING at, delta, metric, reason, message_pk, journey_pk, step, variant
), resolved AS (
    SELECT t.at, t.delta, t.metric, t.reason,
           CASE WHEN t.journey_pk IS NULL AND m.origin_kind = 'broadcast' THEN 'broadcast'
                ELSE 'journey' END AS origin_kind,
           CASE WHEN t.journey_pk IS NOT NULL THEN t.journey_pk
                WHEN m.origin_kind = 'broadcast' THEN m.origin_id ELSE l.journey_id END
               AS origin_id,
           CASE WHEN t.journey_pk IS NOT NULL THEN t.step
                WHEN m.origin_kind = 'broadcast' THEN '' ELSE l.step END AS step,
           CASE WHEN t.journey_pk IS NOT NULL THEN t.variant
                WHEN m.origin_kind = 'broadcast' THEN '' ELSE LOG_VARIANT END AS variant,
           coalesce(m.channel, '') AS channel,
           (t.journey_pk IS NOT NULL OR m.origin_kind = 'broadcast' OR l.id IS NOT NULL)
               AS known
    FROM taken t
    LEFT JOIN campaigns_message m ON m.id = t.message_pk
    LEFT JOIN campaigns_steplog l
        ON t.journey_pk IS NULL AND m.origin_kind = 'journey_step' AND l.id = m.origin_id
), grouped AS (
    SELECT (at AT TIME ZONE %(tz)s)::date AS day, origin_kind, origin_id, step, variant,
           channel, metric, reason, sum(delta) AS n
    FROM resolved WHERE known
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 HAVING sum(delta) <> 0
), added AS (
    INSERT INTO reports_dailymessages
        (day, origin_kind, origin_id, step, variant, channel, metric, reason, erased, count)
    SELECT day, origin_kind, origin_id, step, variant, channel, metric, reason, false, n
    FROM grouped
    ON CONFLICT (day, origin_kind, origin_id, step, variant, channel, metric, reason, erased)
    DO UPDATE SET count = reports_dailymessages.count + excluded.count
)
SELECT count(*) FROM taken
""".replace("LOG_VARIANT", _LOG_VARIANT)


def _sql(statement: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(statement, {"tz": timezone.get_current_timezone_name()})
        row = cursor.fetchone()
        return int(row[0]) if row else 0


def _change_rows(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """SQLite: the logged changes as rollup rows (an outbox row's origin read now)."""
    origins = _origins(
        {("pk", str(change["message_pk"])) for change in changes if change["message_pk"]}
    )
    rows = []
    for change in changes:
        message = origins.get(("pk", str(change["message_pk"])))
        origin: Origin | None = message
        if change["journey_pk"] is not None:
            channel = message[4] if message else ""
            origin = ("journey", change["journey_pk"], change["step"], change["variant"], channel)
        if origin is None:
            continue  # a message the outbox no longer holds
        day = timezone.localtime(change["at"]).date()
        values = (day, *origin, change["metric"], change["reason"], False)
        rows.append({**dict(zip(KEYS, values, strict=True)), "count": change["delta"]})
    return rows


def messages_states_add() -> int:
    """The catch-up's share of the state metrics: add the changes the triggers logged since
    the last run (and take them from the log). Returns how many changes were read."""
    if connection.vendor == "postgresql":
        return _sql(_CHANGES_SQL)
    # SQLite has one writer: what is read here is what is deleted, a batch at a time (a
    # cancelled broadcast logs a change per message).
    taken = 0
    while True:
        changes = list(
            MessageStateChange.objects.order_by("id").values(
                "id",
                "at",
                "delta",
                "metric",
                "reason",
                "message_pk",
                "journey_pk",
                "step",
                "variant",
            )[:BATCH]
        )
        if not changes:
            return taken
        counts_add(model=DailyMessages, keys=KEYS, rows=_change_rows(changes))
        MessageStateChange.objects.filter(pk__lte=changes[-1]["id"]).delete()
        taken += len(changes)


def messages_states_recount() -> int:
    """Recount every state metric from the outbox and the journeys' tables, and empty the
    change log those counts include."""
    DailyMessages.objects.filter(metric__in=STATE_METRICS).delete()
    if connection.vendor == "postgresql":
        return _sql(_STATES_SQL)
    MessageStateChange.objects.all().delete()
    return counts_add(model=DailyMessages, keys=KEYS, rows=_state_rows())


def messages_rebuild(*, top: int) -> int:
    """Recount every live row: the campaign events up to id `top` and the state metrics.
    The `erased` rows stay: their events are gone."""
    DailyMessages.objects.filter(erased=False).delete()
    if connection.vendor == "postgresql":
        counted = _events_sql(window="e.id <= %(top)s", params={"top": top})
        return counted + messages_states_recount()
    counted = 0
    last = 0
    events = campaign_events().filter(id__lte=top)
    while True:
        ids = list(events.filter(id__gt=last).order_by("id").values_list("id", flat=True)[:BATCH])
        if not ids:
            break
        counted += counts_add(
            model=DailyMessages,
            keys=KEYS,
            rows=_event_counts(campaign_events().filter(id__in=ids)),
        )
        last = ids[-1]
    return counted + messages_states_recount()
