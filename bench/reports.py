"""Rollups and the dashboard on generated people: ours against hand-written SQL.

`cdp_generate` fills a fresh database in two steps (a small base, then the full size).
At the small step and at the full size the dashboard (the admin's first page, in
process, a viewer logged in) is requested a few times. At the full size:
- the full rollup rebuild (`rollups_rebuild`) against the reference, hand-written
  aggregate SQL of the same figures (events per day, source, type, name and UTM; consent
  decisions per day, purpose, status and method; each conversion — the generated data's
  `purchase` events — with its first and last UTM touch, by LATERAL joins; messages per
  day, broadcast, channel and metric: sent, opened, clicked, bounced, complained from the
  campaigns' events, skipped and failed from the outbox) written into scratch tables, in
  the same run; both must give the same rows. The outbox is filled first: one message a
  person (`--messages`) over four broadcasts and 90 days, with their sent, open, click,
  bounce and complaint events;
- the incremental catch-up after 10,000 new events and 1,000 outbox rows changing state
  (a held broadcast, due over the last 90 days, cancelled), against the full rebuild and
  against its floor: one hand-written `INSERT … SELECT … ON CONFLICT DO UPDATE` per
  rollup adding the same new rows' and changed rows' counts to the same tables (each side run three times, alternately,
  in a transaction rolled back; the best of each kept);
- beat's count of the dashboard's costly figures and the lifecycle snapshot (people per
  sign-up month, stage and source);
- one scheduled report (the weekly marketing report) rendered to PDF and handed to the
  mail backend.
Targets: rebuild ≤ 1.5 × the SQL; catch-up ≤ 0.02 × the rebuild; the dashboard at full
size within 1.5 × its time at the small step.
Usage: python bench/reports.py [--profiles 1000000] [--events 5000000] [--messages N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import emit, print_table, setup_django, timed

TARGET_REBUILD_RATIO = 1.5
TARGET_CATCH_UP_RATIO = 0.02
TARGET_DASHBOARD_RATIO = 1.5
NEW_EVENTS = 10_000
STATE_CHANGES = 1_000

# The generated data's conversion event (the bench sets CDP_CONVERSION_EVENTS to it).
CONVERSION = "purchase"
ATTRIBUTION = """
    SELECT c.id AS event_id, (c.occurred_at AT TIME ZONE 'UTC')::date AS day, c.name,
           coalesce(f.utm_source, '') AS first_source,
           coalesce(f.utm_medium, '') AS first_medium,
           coalesce(f.utm_campaign, '') AS first_campaign,
           coalesce(l.utm_source, '') AS last_source,
           coalesce(l.utm_medium, '') AS last_medium,
           coalesce(l.utm_campaign, '') AS last_campaign,
           CASE WHEN p.first_seen_at IS NOT NULL
                THEN greatest(extract(day FROM c.occurred_at - p.first_seen_at), 0)::int
           END AS days_to_convert,
           CASE WHEN m.id IS NULL THEN '' ELSE 'broadcast' END AS message_kind,
           m.origin_id AS message_origin
    FROM profiles_event c JOIN profiles_profile p ON p.id = c.profile_id
    LEFT JOIN LATERAL (
        SELECT e.message_id FROM profiles_event e
        WHERE e.profile_id = c.profile_id
          AND e.source_id = (SELECT id FROM profiles_source WHERE slug = 'cdp-campaigns')
          AND e.name = 'Email Clicked' AND e.occurred_at <= c.occurred_at
          AND e.occurred_at > c.occurred_at - interval '7 days'
          AND (e.properties ->> 'machine') IS DISTINCT FROM 'true'
        ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1) k ON true
    LEFT JOIN campaigns_message m ON m.id = split_part(k.message_id, ':', 2)::bigint
    LEFT JOIN LATERAL (
        SELECT utm_source, utm_medium, utm_campaign FROM profiles_event e
        WHERE e.profile_id = c.profile_id AND e.occurred_at <= c.occurred_at
          AND e.utm_source <> ''
        ORDER BY e.occurred_at, e.id LIMIT 1) f ON true
    LEFT JOIN LATERAL (
        SELECT utm_source, utm_medium, utm_campaign FROM profiles_event e
        WHERE e.profile_id = c.profile_id AND e.occurred_at <= c.occurred_at
          AND e.utm_source <> ''
        ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1) l ON true
    WHERE c.type = 'track' AND c.name = 'purchase'"""

# Messages per day, broadcast and metric, by hand: each campaign event joined to its
# message (by Message-ID, or by id for opens and clicks; a message's first click only),
# and the outbox's skips and failures on the day they were due.
MESSAGES_SQL = """
    WITH ev AS (
        SELECT e.* FROM profiles_event e
        WHERE e.source_id = (SELECT id FROM profiles_source WHERE slug = 'cdp-campaigns')
          AND {window}
    ), by_key AS (
        SELECT ev.occurred_at, m.origin_id, m.channel,
               CASE ev.name WHEN 'Email Sent' THEN 'sent' WHEN 'Email Bounced' THEN 'bounced'
                    ELSE 'complained' END AS metric,
               CASE WHEN ev.name = 'Email Bounced' THEN
                    CASE WHEN ev.properties->>'hard' = 'true' THEN 'hard' ELSE 'soft' END
                    ELSE '' END AS reason
        FROM ev JOIN campaigns_message m
          ON m.message_id = substr(ev.message_id, strpos(ev.message_id, ':') + 1)
        WHERE ev.name IN ('Email Sent', 'Email Bounced', 'Email Complained')
    ), opens AS (
        SELECT ev.occurred_at, m.origin_id, m.channel,
               CASE WHEN ev.properties->>'machine' = 'true' THEN 'opened_machine'
                    ELSE 'opened' END AS metric, '' AS reason
        FROM ev JOIN campaigns_message m ON m.id = split_part(ev.message_id, ':', 2)::bigint
        WHERE ev.name = 'Email Opened'
    ), clicks AS (
        SELECT DISTINCT ON (split_part(c.message_id, ':', 2), right(c.message_id, 1))
               c.id, c.occurred_at, m.origin_id, m.channel,
               CASE WHEN c.properties->>'machine' = 'true' THEN 'clicked_machine'
                    ELSE 'clicked' END AS metric, '' AS reason
        FROM profiles_event c
        JOIN campaigns_message m ON m.id = split_part(c.message_id, ':', 2)::bigint
        WHERE c.source_id = (SELECT id FROM profiles_source WHERE slug = 'cdp-campaigns')
          AND c.name = 'Email Clicked'
        ORDER BY split_part(c.message_id, ':', 2), right(c.message_id, 1), c.id
    ), events AS (
        SELECT occurred_at, origin_id, channel, metric, reason FROM by_key
        UNION ALL SELECT occurred_at, origin_id, channel, metric, reason FROM opens
        UNION ALL SELECT occurred_at, origin_id, channel, metric, reason FROM clicks
                  WHERE id IN (SELECT id FROM ev)
    )
    SELECT (occurred_at AT TIME ZONE 'UTC')::date AS day, 'broadcast'::text AS origin_kind,
           origin_id, ''::text AS step, ''::text AS variant, channel, metric, reason,
           count(*) AS count
    FROM events GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"""
OUTBOX_SQL = """
    SELECT (due_at AT TIME ZONE 'UTC')::date AS day, 'broadcast'::text AS origin_kind,
           origin_id, ''::text AS step, ''::text AS variant, channel, status AS metric,
           skip_reason AS reason, count(*) AS count
    FROM campaigns_message
    WHERE (status = 'skipped' OR (status = 'failed' AND sent_at IS NULL)) AND {window}
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"""

REFERENCE_SQL = [
    "DROP TABLE IF EXISTS bench_daily_messages",
    f"""CREATE UNLOGGED TABLE bench_daily_messages AS
        {MESSAGES_SQL.format(window="true")}
        UNION ALL {OUTBOX_SQL.format(window="true")}""",
    "DROP TABLE IF EXISTS bench_daily_events",
    "DROP TABLE IF EXISTS bench_daily_consents",
    "DROP TABLE IF EXISTS bench_conversions",
    """CREATE UNLOGGED TABLE bench_daily_events AS
       SELECT (occurred_at AT TIME ZONE 'UTC')::date AS day, source_id, type, name,
              utm_source, utm_medium, utm_campaign, count(*) AS count
       FROM profiles_event
       GROUP BY 1, 2, 3, 4, 5, 6, 7""",
    """CREATE UNLOGGED TABLE bench_daily_consents AS
       SELECT (recorded_at AT TIME ZONE 'UTC')::date AS day, purpose_id, status, method,
              count(*) AS count
       FROM consent_consentrecord
       GROUP BY 1, 2, 3, 4""",
    f"CREATE UNLOGGED TABLE bench_conversions AS {ATTRIBUTION}",
]


def generate(profiles: int, events: int, seed: int) -> None:
    from profiles.services.generate import profiles_generate

    profiles_generate(profiles=profiles, events=events, seed=seed)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def generate_messages(count: int) -> int:
    """Four broadcasts' messages to the first `count` people, due over 90 days: 1 in 20
    skipped, 1 in 50 failed, the rest sent with their events (opens, machine opens,
    clicks on one or two links, hard bounces, complaints)."""
    if count == 0:
        return 0
    from django.db import connection
    from django.utils import timezone

    from campaigns.models import Broadcast
    from campaigns.services import template_create
    from campaigns.services.delivery import EVENT_SOURCE, EVENT_SOURCE_NAME
    from consent.models import Purpose
    from profiles.services.events import system_source_get
    from segments.models import Segment
    from segments.services import segment_create

    purpose, _ = Purpose.objects.get_or_create(
        code="bench-news", defaults={"name": "Bench news", "channel": "email"}
    )
    body = "<mjml><mj-body><mj-section><mj-column><mj-text>Hi</mj-text></mj-column>"
    template = template_create(
        name="Bench news",
        variants={
            "en": {
                "subject": "News",
                "preheader": "",
                "mjml": body + "</mj-section></mj-body></mjml>",
                "text": "Hi",
            }
        },
    )
    version = template.versions.order_by("-version").first()
    segment = segment_create(name="Bench readers", kind=Segment.Kind.STATIC, rule=None)
    now = timezone.now()
    broadcasts = [
        Broadcast.objects.create(
            name=f"Bench broadcast {n}",
            segment=segment,
            template=template,
            template_version=version,
            purpose=purpose,
            status="scheduled",
            snapshot_at=now,
        ).pk
        for n in range(4)
    ]
    source = system_source_get(slug=EVENT_SOURCE, name=EVENT_SOURCE_NAME)
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO campaigns_message (origin_kind, origin_id, profile_id, channel,
                 purpose_id, kind, template_version_id, payload, status, skip_reason,
                 message_id, due_at, attempts, language, last_error, sent_at, created_at)
               SELECT 'broadcast', (%(broadcasts)s::bigint[])[1 + p.id %% 4], p.id, 'email',
                 %(purpose)s, 'marketing', %(version)s, '{}',
                 p.status, CASE WHEN p.status = 'skipped'
                   THEN (ARRAY['no_consent', 'withdrawn', 'frequency_cap'])[1 + p.id %% 3]
                   ELSE '' END,
                 'bench-' || p.id || '@cdp.bench', p.due_at, 1, '', '',
                 CASE WHEN p.status = 'sent' THEN p.due_at END, p.due_at
               FROM (SELECT id, now() - (id %% 90) * interval '1 day' - interval '1 hour'
                              AS due_at,
                            CASE WHEN id %% 20 = 0 THEN 'skipped'
                                 WHEN id %% 50 = 1 THEN 'failed' ELSE 'sent' END AS status
                     FROM profiles_profile ORDER BY id LIMIT %(count)s) p""",
            {
                "broadcasts": broadcasts,
                "purpose": purpose.pk,
                "version": version.pk,
                "count": count,
            },
        )
        created = cursor.rowcount
        cursor.execute(
            """INSERT INTO profiles_event (profile_id, source_id, type, name, properties,
                 context, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
                 message_id, occurred_at, received_at)
               SELECT m.profile_id, %(source)s, 'track', x.name, x.properties, '{}',
                 '', '', '', '', '', x.message_id, m.sent_at + x.delay, m.sent_at + x.delay
               FROM campaigns_message m CROSS JOIN LATERAL (VALUES
                 ('Email Sent', '{"channel": "email"}'::jsonb, 'sent:' || m.message_id,
                  interval '0', true),
                 ('Email Opened', jsonb_build_object('origin', 'broadcast', 'origin_id',
                  m.origin_id, 'message', m.id, 'machine', false), 'open:' || m.id || ':h',
                  interval '2 hours', m.id %% 3 = 0),
                 ('Email Opened', jsonb_build_object('origin', 'broadcast', 'origin_id',
                  m.origin_id, 'message', m.id, 'machine', true), 'open:' || m.id || ':m',
                  interval '5 seconds', m.id %% 4 = 0),
                 ('Email Clicked', jsonb_build_object('origin', 'broadcast', 'origin_id',
                  m.origin_id, 'message', m.id, 'machine', false),
                  'click:' || m.id || ':aaaa:h', interval '3 hours', m.id %% 9 = 0),
                 ('Email Clicked', jsonb_build_object('origin', 'broadcast', 'origin_id',
                  m.origin_id, 'message', m.id, 'machine', false),
                  'click:' || m.id || ':bbbb:h', interval '4 hours', m.id %% 27 = 0),
                 ('Email Bounced', '{"channel": "email", "hard": true, "status": "5.1.1"}',
                  'bounce:' || m.message_id, interval '1 minute', m.id %% 100 = 7),
                 ('Email Complained', '{"channel": "email", "hard": false}',
                  'complaint:' || m.message_id, interval '1 day', m.id %% 500 = 3)
               ) AS x(name, properties, message_id, delay, keep)
               WHERE m.status = 'sent' AND m.message_id LIKE 'bench-%%' AND x.keep""",
            {"source": source.pk},
        )
        cursor.execute("ANALYZE")
    return created


def dashboard_seconds(runs: int = 15, warm_up: int = 3) -> tuple[float, float]:
    """Median seconds of the admin's first page for a viewer, after a few requests that
    warm the caches, and the seconds of beat's count of the costly figures (people, new
    people by source, quality, contactable people per purpose), taken first as beat does.
    (The page spends ~14 ms in SQL and the rest rendering: a median of few runs moved by
    a third between runs.)"""
    from reports.services import figures_snapshot_refresh

    counted = time.perf_counter()
    figures_snapshot_refresh()
    counted = time.perf_counter() - counted
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(
        username="bench-viewer", defaults={"is_staff": True}
    )
    user.groups.add(Group.objects.get(name="viewer"))
    client = Client()
    client.force_login(user)
    for _ in range(warm_up):
        client.get("/admin/")
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get("/admin/")
        times.append(time.perf_counter() - start)
        if response.status_code != 200:
            sys.exit(f"the dashboard answered {response.status_code}")
    return statistics.median(times), counted


def reference() -> float:
    from django.db import connection, transaction

    start = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in REFERENCE_SQL:
            cursor.execute(statement)
    return time.perf_counter() - start


def same_counts() -> None:
    """The rollups and the reference tables hold the same figures."""
    from django.db import connection

    checks = {
        "events": (
            "SELECT day, source_id, type, name, utm_source, utm_medium, utm_campaign, count "
            "FROM {} ORDER BY 1, 2, 3, 4, 5, 6, 7",
            "reports_dailyevents",
            "bench_daily_events",
        ),
        "consents": (
            "SELECT day, purpose_id, status, method, count FROM {} ORDER BY 1, 2, 3, 4",
            "reports_dailyconsents",
            "bench_daily_consents",
        ),
        "messages": (
            "SELECT day, origin_kind, origin_id, step, variant, channel, metric, reason, "
            "sum(count)::bigint FROM {} GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 "
            "HAVING sum(count) <> 0 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8",
            "reports_dailymessages",
            "bench_daily_messages",
        ),
        "conversions": (
            "SELECT event_id, day, name, first_source, first_medium, first_campaign, "
            "last_source, last_medium, last_campaign, days_to_convert, message_kind, "
            "message_origin FROM {} ORDER BY 1",
            "reports_conversion",
            "bench_conversions",
        ),
    }
    with connection.cursor() as cursor:
        for name, (sql, ours, theirs) in checks.items():
            cursor.execute(sql.format(ours))
            mine = cursor.fetchall()
            cursor.execute(sql.format(theirs))
            if mine != cursor.fetchall():
                sys.exit(f"the {name} rollup differs from the hand-written SQL")


FLOOR_SQL = [
    """INSERT INTO reports_dailyevents
         (day, source_id, type, name, utm_source, utm_medium, utm_campaign, count)
       SELECT (occurred_at AT TIME ZONE 'UTC')::date, source_id, type, name,
              utm_source, utm_medium, utm_campaign, count(*)
       FROM profiles_event WHERE id > %(events)s
       GROUP BY 1, 2, 3, 4, 5, 6, 7
       ON CONFLICT (day, source_id, type, name, utm_source, utm_medium, utm_campaign)
       DO UPDATE SET count = reports_dailyevents.count + excluded.count""",
    """INSERT INTO reports_dailyconsents (day, purpose_id, status, method, count)
       SELECT (recorded_at AT TIME ZONE 'UTC')::date, purpose_id, status, method, count(*)
       FROM consent_consentrecord WHERE id > %(consents)s
       GROUP BY 1, 2, 3, 4
       ON CONFLICT (day, purpose_id, status, method)
       DO UPDATE SET count = reports_dailyconsents.count + excluded.count""",
    f"""INSERT INTO reports_conversion (event_id, day, name, first_source, first_medium,
         first_campaign, last_source, last_medium, last_campaign, days_to_convert,
         message_kind, message_origin)
       {ATTRIBUTION} AND c.id > %(events)s
       ON CONFLICT (event_id) DO NOTHING""",
    f"""INSERT INTO reports_dailymessages
         (day, origin_kind, origin_id, step, variant, channel, metric, reason, erased, count)
       SELECT day, origin_kind, origin_id, step, variant, channel, metric, reason, false, count
       FROM ({MESSAGES_SQL.format(window="e.id > %(events)s")}) n
       ON CONFLICT (day, origin_kind, origin_id, step, variant, channel, metric, reason, erased)
       DO UPDATE SET count = reports_dailymessages.count + excluded.count""",
    # The outbox rows whose state changed since the last catch-up (a held broadcast
    # cancelled): their skips added on the days they were due.
    """INSERT INTO reports_dailymessages
         (day, origin_kind, origin_id, step, variant, channel, metric, reason, erased, count)
       SELECT (due_at AT TIME ZONE 'UTC')::date, 'broadcast', origin_id, '', '', channel,
              status, skip_reason, false, count(*)
       FROM campaigns_message WHERE id = ANY(%(changed)s)
       GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
       ON CONFLICT (day, origin_kind, origin_id, step, variant, channel, metric, reason, erased)
       DO UPDATE SET count = reports_dailymessages.count + excluded.count""",
]


def hold_and_cancel(count: int) -> list[int]:
    """A fifth broadcast whose `count` messages, due over the last 90 days, were held and
    are now cancelled: state changes of old days the next catch-up must count."""
    from django.db import connection

    from campaigns.models import Broadcast, Message
    from campaigns.services import broadcast_cancel

    model = Broadcast.objects.filter(name__startswith="Bench broadcast").first()
    if model is None:
        return []
    broadcast = Broadcast.objects.create(
        name="Bench held broadcast",
        segment=model.segment,
        template=model.template,
        template_version=model.template_version,
        purpose=model.purpose,
        status="paused",
        snapshot_at=model.snapshot_at,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO campaigns_message (origin_kind, origin_id, profile_id, channel,
                 purpose_id, kind, template_version_id, payload, status, skip_reason,
                 message_id, due_at, attempts, language, last_error, created_at)
               SELECT 'broadcast', %(broadcast)s, p.id, 'email', %(purpose)s, 'marketing',
                 %(version)s, '{}', 'held', '', 'bench-held-' || p.id || '@cdp.bench',
                 now() - (p.id %% 90) * interval '1 day', 0, '', '', now()
               FROM (SELECT id FROM profiles_profile ORDER BY id LIMIT %(count)s) p""",
            {
                "broadcast": broadcast.pk,
                "purpose": model.purpose_id,
                "version": model.template_version_id,
                "count": count,
            },
        )
    broadcast_cancel(broadcast_id=broadcast.pk)
    return list(
        Message.objects.filter(origin_kind="broadcast", origin_id=broadcast.pk).values_list(
            "pk", flat=True
        )
    )


class _RolledBack(Exception):
    pass


def _rolled_back(work: Callable[[], object]) -> float:
    """Seconds `work` takes inside a transaction that is then rolled back."""
    from django.db import transaction

    start = time.perf_counter()
    try:
        with transaction.atomic():
            work()
            seconds = time.perf_counter() - start
            raise _RolledBack
    except _RolledBack:
        pass
    return seconds


def catch_up_and_floor(changed: list[int], runs: int = 3) -> tuple[float, float]:
    """Best seconds of the catch-up and of its floor (the same counts added to the same
    rollups by hand-written SQL), alternately, each rolled back."""
    from django.db import connection

    from reports.models import RollupCursor
    from reports.services import rollups_catch_up

    positions: dict[str, object] = {
        cursor.name: cursor.position
        for cursor in RollupCursor.objects.filter(name__in=("events", "consents"))
    }
    positions["changed"] = changed

    def floor() -> None:
        with connection.cursor() as cursor:
            for statement in FLOOR_SQL:
                cursor.execute(statement, positions)

    ours = floor_seconds = float("inf")
    for _ in range(runs):
        floor_seconds = min(floor_seconds, _rolled_back(floor))
        ours = min(ours, _rolled_back(rollups_catch_up))
    return ours, floor_seconds


def pdf_seconds() -> float:
    from django.core import mail
    from django.test.utils import override_settings
    from django.utils import timezone

    from reports.services import report_deliveries_run, report_schedule_create

    now = timezone.now()
    report_schedule_create(
        report="marketing", recipients="bench@cdp.test", now=now - timezone.timedelta(days=8)
    )
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
        start = time.perf_counter()
        run = report_deliveries_run(now=now)
        seconds = time.perf_counter() - start
        if run.sent != 1 or not mail.outbox[-1].attachments:
            sys.exit("the scheduled report was not sent with its attachments")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument(
        "--messages", type=int, default=None, help="outbox rows (default: one a person; 0: none)"
    )
    args = parser.parse_args()
    os.environ["CDP_CONVERSION_EVENTS"] = CONVERSION
    setup_django()
    small_profiles, small_events = max(args.profiles // 50, 1_000), max(args.events // 50, 5_000)

    from django.db.models import Sum

    from reports.models import DailyMessages
    from reports.services import rollups_catch_up, rollups_rebuild

    with timed() as gen_small:
        generate(small_profiles, small_events, seed=1)
    rollups_rebuild()
    dash_small, _count_small = dashboard_seconds()
    with timed() as gen_full:
        generate(args.profiles - small_profiles, args.events - small_events, seed=2)
    messages = generate_messages(args.profiles if args.messages is None else args.messages)

    sql_seconds = min(reference() for _ in range(2))
    rebuild_seconds = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        rollups_rebuild()
        rebuild_seconds = min(rebuild_seconds, time.perf_counter() - start)
    same_counts()
    dash_full, count_full = dashboard_seconds()
    from reports.services import lifecycle_snapshot_take

    with timed() as lifecycle:
        lifecycle_snapshot_take()

    generate(NEW_EVENTS // 5, NEW_EVENTS, seed=3)
    changed = hold_and_cancel(STATE_CHANGES if messages else 0)
    catch_up_seconds, floor_seconds = catch_up_and_floor(changed)
    caught = rollups_catch_up()
    counted = sum(result.rows for result in caught if result.ledger == "events")
    if counted != NEW_EVENTS:
        sys.exit(f"the catch-up counted {counted} new events, not {NEW_EVENTS}")
    cancelled = DailyMessages.objects.filter(metric="skipped", reason="cancelled")
    if (cancelled.aggregate(n=Sum("count"))["n"] or 0) != len(changed):
        sys.exit(f"the catch-up did not count the {len(changed)} cancelled messages")
    pdf = pdf_seconds()

    figures = {
        "profiles": args.profiles,
        "events": args.events,
        "messages": messages,
        "state_changes": len(changed),
        "generate_seconds": round(gen_small["seconds"] + gen_full["seconds"], 1),
        "reference_sql_seconds": round(sql_seconds, 3),
        "rebuild_seconds": round(rebuild_seconds, 3),
        "rebuild_vs_sql": round(rebuild_seconds / sql_seconds, 2),
        "catch_up_seconds": round(catch_up_seconds, 3),
        "catch_up_vs_rebuild": round(catch_up_seconds / rebuild_seconds, 4),
        "catch_up_floor_seconds": round(floor_seconds, 3),
        "catch_up_vs_floor": round(catch_up_seconds / floor_seconds, 2),
        "floor_vs_rebuild": round(floor_seconds / rebuild_seconds, 4),
        "dashboard_small_ms": round(1000 * dash_small, 1),
        "dashboard_full_ms": round(1000 * dash_full, 1),
        "dashboard_full_vs_small": round(dash_full / dash_small, 2),
        "figures_count_seconds": round(count_full, 2),
        "lifecycle_snapshot_seconds": round(lifecycle["seconds"], 2),
        "scheduled_pdf_report_seconds": round(pdf, 2),
        "targets": {
            "rebuild_vs_sql": TARGET_REBUILD_RATIO,
            "catch_up_vs_rebuild": TARGET_CATCH_UP_RATIO,
            "dashboard_full_vs_small": TARGET_DASHBOARD_RATIO,
        },
    }
    print_table(
        f"Rollups and dashboard, {args.profiles:,} people, {args.events:,} events, "
        f"{messages:,} messages",
        ("measure", "seconds", "ratio", "target"),
        [
            ("hand-written aggregate SQL (reference)", sql_seconds, 1.0, ""),
            (
                "full rollup rebuild",
                rebuild_seconds,
                figures["rebuild_vs_sql"],
                f"≤ {TARGET_REBUILD_RATIO}",
            ),
            (
                f"catch-up after {NEW_EVENTS:,} events, {len(changed):,} state changes",
                catch_up_seconds,
                figures["catch_up_vs_rebuild"],
                f"≤ {TARGET_CATCH_UP_RATIO} × rebuild",
            ),
            (
                "floor: hand-written upserts of the same events and changes",
                floor_seconds,
                figures["floor_vs_rebuild"],
                f"ours {figures['catch_up_vs_floor']} × floor",
            ),
            (f"dashboard at {small_events:,} events", dash_small, 1.0, ""),
            (
                f"dashboard at {args.events:,} events",
                dash_full,
                figures["dashboard_full_vs_small"],
                f"≤ {TARGET_DASHBOARD_RATIO}",
            ),
            ("beat's count of the dashboard's costly figures", count_full, "", "every 5 min"),
            (
                "lifecycle snapshot (people by month, stage, source)",
                lifecycle["seconds"],
                "",
                "every 30 min",
            ),
            ("weekly report as PDF, sent", pdf, "", ""),
        ],
    )
    emit(figures)


if __name__ == "__main__":
    main()
