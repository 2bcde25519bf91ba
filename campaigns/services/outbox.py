"""The outbox: claim due messages, gate them on consent and policy, send, mark.

Exactly once, as far as SMTP allows: a claim takes due rows with FOR UPDATE SKIP LOCKED,
decides in that same transaction who may still be contacted, and leases the rest to
this worker. Each message is marked sent right after its SMTP transaction; a worker
killed in between leaves a lease that expires, and the row is sent again with the same
Message-ID (receivers and ESPs de-duplicate on it). Celery only wakes workers up.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import smtplib
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from anymail.exceptions import AnymailError, AnymailRecipientsRefused
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Concat
from django.utils import timezone, translation

from campaigns import policy
from campaigns.links import links_track
from campaigns.models import BlockedAddress, Message, TemplateVersion
from campaigns.rendering import HTML, TEXT, choose_language, render_compiled
from campaigns.selectors import contactable_among, withdrawn_profile_ids
from campaigns.services.content import contexts_build
from campaigns.services.delivery import EVENT_SOURCE, EVENT_SOURCE_NAME, Marks, Sender, smtp_of
from campaigns.services.webhooks import webhooks_send_claimed
from consent.links import consent_unsubscribe_headers
from consent.models import Purpose, Suppression
from consent.services import suppression_digest
from profiles.models import Profile
from profiles.normalise import normalise_email
from profiles.services.events import (
    system_event_properties,
    system_events_append,
    system_events_insert_sql,
    system_source_get,
)

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
SENT_PROPERTIES = {"channel": "email"}
PROFILE_STATUS_REASON: dict[str, str] = {
    Profile.Status.ERASED: Message.Reason.ERASED,
    Profile.Status.RESTRICTED: Message.Reason.RESTRICTED,
    Profile.Status.MERGED: Message.Reason.MERGED,
}


def lease_seconds() -> int:
    return int(getattr(settings, "CDP_OUTBOX_LEASE_SECONDS", 300))


def message_id_make(*, origin_kind: str, origin_id: int, profile_id: int) -> str:
    """The Message-ID of one (origin, profile): the same on every attempt, unique per row."""
    domain = getattr(settings, "CDP_MAIL_DOMAIN", "cdp.localhost")
    digest = hashlib.sha256(
        f"{settings.SECRET_KEY}:{origin_kind}:{origin_id}:{profile_id}".encode()
    ).hexdigest()[:12]
    return f"<{origin_kind}.{origin_id}.{profile_id}.{digest}@{domain}>"


@dataclass
class Claimed:
    """A message leased to this worker, with what sending it needs."""

    pk: int
    message_id: str
    profile: Profile
    address: str
    purpose_id: int
    kind: str
    version_id: int | None
    version: LoadedVersion | None = None
    channel: str = "email"


@dataclass
class SendResult:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    deferred: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


def _address(profile: Profile) -> str:
    return normalise_email(profile.email).value if profile.email else ""


def _identifier_digests(profile: Profile) -> set[str]:
    address = _address(profile)
    found = {suppression_digest(kind="email", value=address)} if address else set()
    if profile.phone:
        found.add(suppression_digest(kind="phone", value=profile.phone))
    return found


def _identifiers_gate(
    live: Sequence[dict[str, Any]], profiles: dict[int, Profile], skip: dict[int, str]
) -> None:
    """The suppression list (erasure) and blocked addresses (bounces, complaints)."""
    digests = {
        r["id"]: suppression_digest(kind="email", value=_address(profiles[r["profile_id"]]))
        for r in live
        if r["channel"] == Message.Channel.EMAIL
    }
    # A call to another system (an SMS gateway) carries the person: their email or phone
    # on the suppression list stops it too.
    identifiers = {
        r["id"]: _identifier_digests(profiles[r["profile_id"]])
        for r in live
        if r["channel"] != Message.Channel.EMAIL
    }
    wanted = set(digests.values()).union(*identifiers.values())
    suppressed = set(
        Suppression.objects.filter(digest__in=wanted, lifted_at__isnull=True).values_list(
            "digest", flat=True
        )
    )
    for pk, held in identifiers.items():
        if held & suppressed:
            skip[pk] = Message.Reason.SUPPRESSED
    blocked = set(
        BlockedAddress.objects.filter(channel="email", digest__in=wanted).values_list(
            "digest", flat=True
        )
    )
    for pk, digest in digests.items():
        if digest in suppressed:
            skip[pk] = Message.Reason.SUPPRESSED
        elif digest in blocked:
            skip[pk] = Message.Reason.UNDELIVERABLE


def _gate(
    rows: Sequence[dict[str, Any]], profiles: dict[int, Profile], now: datetime
) -> tuple[dict[int, str], dict[int, datetime]]:
    """Why each row may not go now: {pk: skip reason}, {pk: time quiet hours end}."""
    skip: dict[int, str] = {}
    defer: dict[int, datetime] = {}
    for row in rows:
        profile = profiles.get(row["profile_id"])
        if profile is None or profile.status != Profile.Status.ACTIVE:
            status = str(profile.status) if profile else "erased"
            skip[row["id"]] = PROFILE_STATUS_REASON.get(status, str(Message.Reason.ERASED))
        elif row["channel"] == Message.Channel.EMAIL and not _address(profile):
            skip[row["id"]] = Message.Reason.NO_ADDRESS
    live = [r for r in rows if r["id"] not in skip]
    _identifiers_gate(live, profiles, skip)
    by_purpose: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for row in live:
        if row["id"] not in skip:
            by_purpose[(row["purpose_id"], row["kind"])].append(row)
    purposes = Purpose.objects.in_bulk([p for p, _ in by_purpose])
    for (purpose_id, kind), group in by_purpose.items():
        ids = [r["profile_id"] for r in group]
        withdrawn = withdrawn_profile_ids(purpose=purposes[purpose_id], profile_ids=ids)
        granted = (
            contactable_among(purpose=purposes[purpose_id], profile_ids=ids, at=now)
            if kind == Message.Kind.MARKETING
            else set(ids)
        )
        for row in group:
            if row["profile_id"] in withdrawn:
                skip[row["id"]] = Message.Reason.WITHDRAWN
            elif row["profile_id"] not in granted:
                skip[row["id"]] = Message.Reason.NO_CONSENT
    marketing = [r for r in live if r["id"] not in skip and r["kind"] == Message.Kind.MARKETING]
    by_channel: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in marketing:
        by_channel[row["channel"]].append(row)
    for channel, group in by_channel.items():
        _right_time(channel, group, profiles, now, skip, defer)
    return skip, defer


def _right_time(
    channel: str,
    rows: Sequence[dict[str, Any]],
    profiles: dict[int, Profile],
    now: datetime,
    skip: dict[int, str],
    defer: dict[int, datetime],
) -> None:
    """Quiet hours defer, caps skip: marketing only, caps across every origin of the channel."""
    hours = policy.quiet_hours(channel)
    recent: dict[int, list[datetime]] = defaultdict(list)
    for profile_id, sent_at in Message.objects.filter(
        profile_id__in={r["profile_id"] for r in rows},
        kind=Message.Kind.MARKETING,
        channel=channel,
        sent_at__gt=now - policy.WEEK,
    ).values_list("profile_id", "sent_at"):
        if sent_at is not None:
            recent[profile_id].append(sent_at)
    caps = policy.channel_caps(channel)
    for row in rows:
        profile = profiles[row["profile_id"]]
        zone = policy.recipient_zone(timezone=profile.timezone, country=profile.country)
        until = policy.quiet_until(now=now, zone=zone, hours=hours)
        if until is not None:
            defer[row["id"]] = until
        elif policy.cap_reached(sent_at=recent[row["profile_id"]], now=now, caps=caps):
            skip[row["id"]] = Message.Reason.FREQUENCY_CAP
        else:
            recent[row["profile_id"]].append(now)  # two origins in one batch count twice


@transaction.atomic
def outbox_claim(*, limit: int, now: datetime | None = None) -> tuple[list[Claimed], SendResult]:
    """Lease up to `limit` due messages to this worker; skip or defer those that may not go."""
    now = now or timezone.now()
    due = Message.objects.filter(
        Q(status=Message.Status.QUEUED, due_at__lte=now)
        | Q(status=Message.Status.SENDING, lease_until__lt=now)
    ).order_by("due_at", "id")
    if connection.features.has_select_for_update_skip_locked:
        due = due.select_for_update(skip_locked=True, of=("self",))
    rows: list[dict[str, Any]] = [
        dict(row)
        for row in due.values(
            "id",
            "profile_id",
            "purpose_id",
            "kind",
            "template_version_id",
            "message_id",
            "attempts",
            "channel",
            "origin_kind",
            "origin_id",
        )[:limit]
    ]
    result = SendResult()
    if not rows:
        return [], result
    profiles = Profile.objects.in_bulk({r["profile_id"] for r in rows})
    _redirect_merged(rows, profiles)
    exhausted = {r["id"] for r in rows if r["attempts"] >= MAX_ATTEMPTS}
    if exhausted:
        Message.objects.filter(pk__in=exhausted).update(
            status=Message.Status.FAILED, lease_until=None, last_error="too many attempts"
        )
        result.failed += len(exhausted)
        rows = [r for r in rows if r["id"] not in exhausted]
    skip, defer = _gate(rows, profiles, now)
    reasons: dict[str, list[int]] = defaultdict(list)
    for pk, reason in skip.items():
        reasons[reason].append(pk)
    for reason, pks in reasons.items():
        Message.objects.filter(pk__in=pks).update(
            status=Message.Status.SKIPPED, skip_reason=reason, lease_until=None
        )
        result.skipped[str(reason)] = len(pks)
    by_time: dict[datetime, list[int]] = defaultdict(list)
    for pk, until in defer.items():
        by_time[until].append(pk)
    for until, pks in by_time.items():
        Message.objects.filter(pk__in=pks).update(
            status=Message.Status.QUEUED, due_at=until, lease_until=None
        )
    result.deferred = len(defer)
    claimed = [r for r in rows if r["id"] not in skip and r["id"] not in defer]
    Message.objects.filter(pk__in=[r["id"] for r in claimed]).update(
        status=Message.Status.SENDING,
        lease_until=now + timedelta(seconds=lease_seconds()),
        attempts=F("attempts") + 1,
    )
    result.claimed = len(claimed)
    return [
        Claimed(
            pk=r["id"],
            message_id=r["message_id"],
            profile=profiles[r["profile_id"]],
            address=_address(profiles[r["profile_id"]]),
            purpose_id=r["purpose_id"],
            kind=r["kind"],
            version_id=r["template_version_id"],
            channel=r["channel"],
        )
        for r in claimed
    ], result


def _survivors(profiles: dict[int, Profile]) -> dict[int, Profile]:
    """{merged profile id: the profile it now lives in}, following merges of merges."""
    found: dict[int, Profile] = {}
    pending = {pk: p.merged_into_id for pk, p in profiles.items() if p.status == "merged"}
    for _hop in range(10):
        targets = Profile.objects.in_bulk({t for t in pending.values() if t is not None})
        still: dict[int, int | None] = {}
        for pk, target in pending.items():
            survivor = targets.get(target) if target is not None else None
            if survivor is None:
                continue
            if survivor.status == Profile.Status.MERGED:
                still[pk] = survivor.merged_into_id
            else:
                found[pk] = survivor
        if not still:
            break
        pending = still
    return found


def _redirect_merged(rows: list[dict[str, Any]], profiles: dict[int, Profile]) -> None:
    """Rows owed to a merged-away profile go to its survivor, unless the survivor already
    has a row for that origin (then the gate skips them as `merged`): never twice."""
    survivors = _survivors(profiles)
    if not survivors:
        return
    moving = [r for r in rows if r["profile_id"] in survivors]
    taken = set(
        Message.objects.filter(
            profile_id__in={s.pk for s in survivors.values()},
            origin_id__in={r["origin_id"] for r in moving},
        ).values_list("origin_kind", "origin_id", "profile_id")
    )
    for row in sorted(moving, key=lambda r: r["id"]):
        survivor = survivors[row["profile_id"]]
        key = (row["origin_kind"], row["origin_id"], survivor.pk)
        if key in taken:
            continue
        try:
            with transaction.atomic():
                Message.objects.filter(pk=row["id"]).update(profile_id=survivor.pk)
        except IntegrityError:  # a row for the survivor appeared meanwhile
            continue
        taken.add(key)
        row["profile_id"] = survivor.pk
        profiles[survivor.pk] = survivor


@dataclass(frozen=True)
class LoadedVersion:
    """A version's compiled variants, its template's default language, the names it uses."""

    compiled: dict[str, Any]
    default_language: str
    uses: frozenset[str]


@functools.lru_cache(maxsize=256)
def _names_used(source: str, html: bool) -> frozenset[str]:
    """The top-level names a compiled part reads (keyed by its text: never stale)."""
    return frozenset((HTML if html else TEXT).from_string(source).analyze().globals)


def version_load(*, version_id: int) -> LoadedVersion:
    """One query: a batch loads each of its versions once."""
    version = TemplateVersion.objects.select_related("template").get(pk=version_id)
    uses: set[str] = set()
    for parts in version.compiled.values():
        for part, source in parts.items():
            if source:
                uses.update(_names_used(source, part == "html"))
    return LoadedVersion(
        compiled=version.compiled,
        default_language=version.template.default_language,
        uses=frozenset(uses),
    )


@dataclass(frozen=True)
class Content:
    """One claimed message's rendered parts and its own headers."""

    subject: str
    text: str
    html: str
    headers: dict[str, str]


def content_build(*, claimed: Claimed, context: dict[str, Any], track: bool = True) -> Content:
    """The rendered parts of one claimed message: Message-ID, unsubscribe headers, links."""
    if claimed.version is None and claimed.version_id is None:
        raise ValueError("an email message needs a template version")
    loaded = claimed.version or version_load(version_id=cast(int, claimed.version_id))
    compiled = loaded.compiled
    language = choose_language(
        available=compiled, wanted=claimed.profile.language, default=loaded.default_language
    )
    # Anything translated or localised while rendering speaks the chosen variant's language.
    with translation.override(language):
        rendered = render_compiled(compiled=compiled[language], context=context)
    html = rendered.html
    if rendered.preheader:
        hidden = (
            f'<div style="display:none;max-height:0;overflow:hidden">{rendered.preheader}</div>'
        )
        html = html.replace("<body>", "<body>" + hidden, 1) if "<body>" in html else hidden + html
    if track:
        html = links_track(html=html, message_pk=claimed.pk)
    headers = {"Message-ID": claimed.message_id}
    if claimed.kind == Message.Kind.MARKETING:
        link = context.get("links", {}).get("unsubscribe")  # signed once for both uses
        headers.update(
            {"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
            if link
            else consent_unsubscribe_headers(
                profile_id=claimed.profile.pk,
                purpose_id=claimed.purpose_id,
                message_id=claimed.pk or None,
            )
        )
    return Content(subject=rendered.subject, text=rendered.text, html=html, headers=headers)


def email_build(
    *, claimed: Claimed, context: dict[str, Any], track: bool = True
) -> EmailMultiAlternatives:
    """The email of one claimed message: rendered parts, Message-ID, unsubscribe headers."""
    content = content_build(claimed=claimed, context=context, track=track)
    email = EmailMultiAlternatives(
        subject=content.subject,
        body=content.text,
        to=[claimed.address],
        headers=content.headers,
    )
    email.attach_alternative(content.html, "text/html")
    # django-anymail hands it to the email service, whose tracking webhooks send it back.
    email.metadata = {"cdp_message_id": claimed.message_id}  # type: ignore[attr-defined]
    return email


def email_bytes(
    *, claimed: Claimed, context: dict[str, Any], sender: Sender | None = None
) -> bytes:
    """The same email as `email_build`, written directly as the bytes SMTP carries."""
    content = content_build(claimed=claimed, context=context)
    return (sender or Sender()).bytes_of(
        to=claimed.address,
        subject=content.subject,
        text=content.text,
        html=content.html,
        headers=content.headers,
    )


def _mark_sent_statement(pk: int, now: datetime) -> tuple[str, list[Any]]:
    """PostgreSQL: the row marked sent and its profile event, in one statement."""
    table = connection.ops.quote_name(Message._meta.db_table)
    events_sql, events_params = system_events_insert_sql(
        rows_sql="SELECT profile_id, message_id, name, properties FROM _sent",
        rows_params=[],
        source_slug=EVENT_SOURCE,
        at=now,
    )
    sql = (
        f"WITH _sent AS (UPDATE {table} SET status = 'sent', sent_at = %s, "  # noqa: S608
        "lease_until = NULL, last_error = '' WHERE id = %s AND status = 'sending' "
        "RETURNING profile_id, 'sent:' || message_id AS message_id, %s AS name, "
        "%s::jsonb AS properties) " + events_sql
    )
    params = [now, pk, "Email Sent", system_event_properties(SENT_PROPERTIES), *events_params]
    return sql, params


def _mark_sent_sql(pk: int, now: datetime) -> bool:
    sql, params = _mark_sent_statement(pk, now)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return bool(cursor.rowcount)


def _mark_sent(pk: int, now: datetime) -> None:
    """The message is sent: mark it and append its profile event, together."""
    if connection.vendor == "postgresql" and connection.get_autocommit():
        _mark_sent_sql(pk, now)
        return
    with transaction.atomic():
        updated = Message.objects.filter(pk=pk, status=Message.Status.SENDING).update(
            status=Message.Status.SENT, sent_at=now, lease_until=None, last_error=""
        )
        if updated:
            system_events_append(
                source_slug=EVENT_SOURCE,
                source_name=EVENT_SOURCE_NAME,
                name="Email Sent",
                properties=SENT_PROPERTIES,
                rows=Message.objects.filter(pk=pk).annotate(
                    event_id=Concat(Value("sent:"), "message_id")
                ),
                message_id_field="event_id",
            )


@contextlib.contextmanager
def _asynchronous_commits() -> Iterator[None]:
    """PostgreSQL commits without waiting for the disk while a batch is marked sent.

    A server crash can lose the last fraction of a second of marks: those messages are
    sent again with the same Message-ID, the same outcome as a worker killed mid-send.
    The wait for the disk was most of the time of a mark.
    """
    if connection.vendor != "postgresql" or not connection.get_autocommit():
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO DEFAULT")


def _bounce(claimed: Claimed, code: int) -> None:
    """A permanent refusal of the address: the message failed, the address is blocked."""
    with transaction.atomic():
        Message.objects.filter(pk=claimed.pk).update(
            status=Message.Status.FAILED, lease_until=None, last_error=f"bounce {code}"
        )
        BlockedAddress.objects.get_or_create(
            channel="email",
            digest=suppression_digest(kind="email", value=claimed.address),
            defaults={"reason": BlockedAddress.Reason.BOUNCE, "detail": f"SMTP {code}"},
        )


def _retry_later(claimed: Claimed, error: str, now: datetime) -> None:
    Message.objects.filter(pk=claimed.pk, status=Message.Status.SENDING).update(
        status=Message.Status.QUEUED,
        lease_until=None,
        due_at=now + timedelta(minutes=5),
        last_error=error[:200],
    )


def _one_per_profile(items: Sequence[Claimed]) -> list[list[Claimed]]:
    """The items in groups where each person appears once (almost always one group)."""
    groups: list[list[Claimed]] = []
    seen: list[set[int]] = []
    for item in items:
        for group, people in zip(groups, seen, strict=True):
            if item.profile.pk not in people:
                group.append(item)
                people.add(item.profile.pk)
                break
        else:
            groups.append([item])
            seen.append({item.profile.pk})
    return groups


def outbox_send_claimed(
    *, claimed: Sequence[Claimed], result: SendResult, mailer: Any = None
) -> SendResult:
    """Render and send each claimed message over one connection, marking each at once.

    `mailer`: an open mail backend connection to reuse (the caller closes it); else one is
    opened for this batch.
    """
    if not claimed:
        return result
    by_purpose: dict[tuple[int, int | None], list[Claimed]] = defaultdict(list)
    for item in claimed:
        by_purpose[(item.purpose_id, item.version_id)].append(item)
    contexts: dict[int, dict[str, Any]] = {}
    for (purpose_id, version_id), items in by_purpose.items():
        uses: frozenset[str] = frozenset({"*"})
        if version_id is not None:
            loaded = version_load(version_id=version_id)
            for item in items:
                item.version = loaded
            uses = loaded.uses
        # A context per person, whose unsubscribe link names the message: a person with
        # two messages in the batch (two origins) gets one context for each.
        for group in _one_per_profile(items):
            built = contexts_build(
                profiles=[i.profile for i in group],
                purpose_id=purpose_id,
                uses=uses,
                messages={i.profile.pk: i.pk for i in group},
            )
            contexts.update({i.pk: built[i.profile.pk] for i in group})
    system_source_get(slug=EVENT_SOURCE, name=EVENT_SOURCE_NAME)
    calls = [i for i in claimed if i.channel == Message.Channel.WEBHOOK]
    if calls:
        webhooks_send_claimed(claimed=calls, contexts=contexts, result=result)
        claimed = [i for i in claimed if i.channel != Message.Channel.WEBHOOK]
        if not claimed:
            return result
    own = mailer is None
    if own:
        mailer = get_connection()
        mailer.open()
    try:
        with _asynchronous_commits():
            marks = Marks(_mark_sent)
            sender = Sender()
            try:
                for item in claimed:
                    _send_one(mailer, item, contexts[item.pk], result, marks, sender)
            finally:
                marks.collect()
    finally:
        if own:
            mailer.close()
    return result


def _send_one(
    mailer: Any,
    item: Claimed,
    context: dict[str, Any],
    result: SendResult,
    marks: Marks,
    sender: Sender,
) -> None:
    """One SMTP transaction, then at once the mark: only a kill in between sends twice."""
    now = timezone.now()
    try:
        smtp = smtp_of(mailer)
        if smtp is not None:
            body = email_bytes(claimed=item, context=context, sender=sender)
            envelope = sender.envelope_of(message_pk=item.pk)
            try:
                smtp.sendmail(envelope, [item.address], body)
            except smtplib.SMTPServerDisconnected:
                mailer.close()  # an idle connection the server closed between batches
                mailer.open()
                smtp_of(mailer).sendmail(envelope, [item.address], body)
        else:
            mailer.send_messages([email_build(claimed=item, context=context)])
    except AnymailRecipientsRefused:
        marks.collect()
        _bounce(item, 550)  # the email service refuses the address (bounced or blocked before)
        result.failed += 1
        return
    except AnymailError as error:
        marks.collect()
        _retry_later(item, type(error).__name__, now)
        result.retried += 1
        return
    except smtplib.SMTPRecipientsRefused as error:
        marks.collect()
        codes = [code for code, _ in error.recipients.values()]
        if codes and codes[0] >= 500:
            _bounce(item, codes[0])
            result.failed += 1
        else:
            _retry_later(item, f"refused {codes[:1]}", now)
            result.retried += 1
        return
    except (smtplib.SMTPException, OSError) as error:
        marks.collect()
        _retry_later(item, type(error).__name__, now)
        result.retried += 1
        mailer.close()
        mailer.open()
        return
    marks.send(*_mark_sent_statement(item.pk, now), item.pk, now)
    result.sent += 1


def outbox_send_due(*, limit: int = 100, budget_seconds: float = 50.0) -> SendResult:
    """Claim and send due messages in batches until none is due or the time budget is spent."""
    total = SendResult()
    started = time.monotonic()
    mailer = get_connection()
    opened = False
    with contextlib.closing(mailer):
        while time.monotonic() - started < budget_seconds:
            claimed, result = outbox_claim(limit=limit)
            if claimed and not opened:
                mailer.open()  # one connection for every batch of this run
                opened = True
            outbox_send_claimed(claimed=claimed, result=result, mailer=mailer)
            total.claimed += result.claimed
            total.sent += result.sent
            total.failed += result.failed
            total.retried += result.retried
            total.deferred += result.deferred
            for reason, count in result.skipped.items():
                total.skipped[reason] = total.skipped.get(reason, 0) + count
            if not (result.claimed or result.skipped or result.failed or result.deferred):
                break
    logger.info(
        "outbox: %d sent, %d failed, %d retried later, %d deferred, skipped %s",
        total.sent,
        total.failed,
        total.retried,
        total.deferred,
        total.skipped,
    )
    return total
