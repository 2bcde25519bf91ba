"""Render and send a broadcast through the outbox vs plain smtplib, to the same SMTP sink.

Both sides send the same N messages to Postfix's `smtp-sink` (started here on a free
port; `apt-get install postfix` ships it), with the same number of processes:
- reference: plain `smtplib` sending messages rendered beforehand (bytes ready), one
  connection a process;
- outbox: `outbox_send_due` in each process, which claims rows (FOR UPDATE SKIP LOCKED),
  runs the consent gate, suppression and right-time policy in the claiming transaction,
  renders Liquid over the compiled MJML per person, rewrites links for tracking, sends
  through Django's SMTP backend, and marks each message sent with its profile event.
- floor: the same processes render and serialise each message with the outbox's own
  code, then send it with smtplib: what sending costs with no outbox at all.
The audience snapshot (scheduling) is timed apart.
Usage: BENCH_DATABASE_URL=postgres://… python bench/sending.py [--messages 5000] [--processes 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import shutil
import smtplib
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import _free_port, emit, print_table, setup_django, timed

TARGET_OUTBOX_VS_SMTPLIB = 0.6
SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"

MJML = (
    "<mjml><mj-head><mj-style>.lead { color: #1d4ed8; font-size: 18px; }</mj-style></mj-head>"
    '<mj-body><mj-section><mj-column><mj-text css-class="lead">Bonjour '
    "{{ profile.first_name }},</mj-text><mj-text>Voici les nouvelles du mois"
    '{% if profile.city != "" %} à {{ profile.city }}{% endif %}.</mj-text>'
    '<mj-button href="https://example.org/offre?utm_source=newsletter">Découvrir</mj-button>'
    '<mj-text><a href="{{ links.preferences }}">Préférences</a> · '
    '<a href="{{ links.unsubscribe }}">Se désabonner</a> · {{ organisation.postal_address }}'
    "</mj-text></mj-column></mj-section></mj-body></mjml>"
)


def _populate(count: int) -> Any:
    from django.utils import timezone

    from campaigns.services import broadcast_create, template_create
    from consent.models import ConsentRecord, Purpose
    from consent.services import purpose_wording_add
    from profiles.models import Profile
    from segments.models import Membership, Segment

    now = timezone.now()
    newsletter = Purpose.objects.create(code="newsletter", name="Newsletter", channel="email")
    purpose_wording_add(purpose=newsletter, text="Send me the newsletter.")
    Profile.objects.bulk_create(
        [
            Profile(
                email=f"person{n}@example.org",
                first_name=f"Prénom{n}",
                city="Lyon" if n % 2 else "",
                language="fr" if n % 3 else "en",
                timezone="UTC",
                status="active",
            )
            for n in range(count)
        ],
        batch_size=2000,
    )
    ids = list(Profile.objects.order_by("pk").values_list("pk", flat=True))
    ConsentRecord.objects.bulk_create(
        [
            ConsentRecord(
                profile_id=pk,
                purpose=newsletter,
                status="granted",
                method="import",
                proof={"bench": True},
                recorded_at=now,
            )
            for pk in ids
        ],
        batch_size=2000,
    )
    segment = Segment.objects.create(name="Bench readers", kind="static")
    Membership.objects.bulk_create(
        [Membership(segment=segment, profile_id=pk, entered_at=now) for pk in ids], batch_size=2000
    )
    variants = {
        lang: {
            "subject": "Nouvelles, {{ profile.first_name }}",
            "preheader": "Ce mois-ci",
            "mjml": MJML,
        }
        for lang in ("en", "fr")
    }
    template = template_create(name="Bench", variants=variants)
    return broadcast_create(
        name="Bench", segment_id=segment.pk, template_id=template.pk, purpose_id=newsletter.pk
    )


def _claims(count: int) -> tuple[list[Any], dict[int, Any]]:
    """The outbox rows as a worker would hold them once claimed, and their contexts."""
    from campaigns.models import Message
    from campaigns.services.content import contexts_build
    from campaigns.services.outbox import Claimed, version_load
    from profiles.models import Profile

    rows = list(
        Message.objects.order_by("pk").values(
            "pk", "profile_id", "message_id", "purpose_id", "template_version_id"
        )[:count]
    )
    profiles = Profile.objects.in_bulk([r["profile_id"] for r in rows])
    claims = [
        Claimed(
            pk=row["pk"],
            message_id=row["message_id"],
            profile=profiles[row["profile_id"]],
            address=profiles[row["profile_id"]].email,
            purpose_id=row["purpose_id"],
            kind="marketing",
            version_id=row["template_version_id"],
        )
        for row in rows
    ]
    loaded = version_load(version_id=rows[0]["template_version_id"])
    for claim in claims:
        claim.version = loaded  # loaded once, before the processes fork
    contexts = contexts_build(
        profiles=list(profiles.values()),
        purpose_id=rows[0]["purpose_id"],
        uses=loaded.uses,
        messages={row["profile_id"]: row["pk"] for row in rows},
    )
    return claims, contexts


def _prerendered(claims: list[Any], contexts: dict[int, Any]) -> list[tuple[str, bytes]]:
    """The reference's input: each person's message, rendered by the same code, as bytes."""
    from campaigns.services.outbox import email_bytes

    return [(c.address, email_bytes(claimed=c, context=contexts[c.profile.pk])) for c in claims]


def _render_and_smtplib_part(port: int, claims: list[Any], contexts: dict[int, Any]) -> None:
    """The floor of sending: render and serialise each message, smtplib; no outbox."""
    from campaigns.services.outbox import email_bytes

    server = smtplib.SMTP("127.0.0.1", port)
    for claim in claims:
        body = email_bytes(claimed=claim, context=contexts[claim.profile.pk])
        server.sendmail("cdp@localhost", [claim.address], body)
    server.quit()


def _smtplib_part(port: int, messages: list[tuple[str, bytes]]) -> None:
    server = smtplib.SMTP("127.0.0.1", port)
    for to, body in messages:
        server.sendmail("cdp@localhost", [to], body)
    server.quit()


def _outbox_part(batch: int, profile: str = "") -> None:
    from django.db import connection

    from campaigns.services import outbox_send_due

    connection.close()  # a fresh connection in the forked process
    if not profile:
        outbox_send_due(limit=batch, budget_seconds=3600)
        return
    import cProfile

    cProfile.runctx(
        "outbox_send_due(limit=batch, budget_seconds=3600)",
        globals(),
        {"outbox_send_due": outbox_send_due, "batch": batch},
        f"{profile}.{os.getpid()}",
    )


CPU: dict[str, float] = {}


def _parallel(processes: int, target: Any, args: list[tuple[Any, ...]], name: str) -> float:
    """Wall seconds of the processes; their CPU seconds (user + system) go to CPU[name]."""
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=target, args=a) for a in args[:processes]]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
        if worker.exitcode != 0:
            sys.exit(f"a process failed ({worker.exitcode})")
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU[name] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--batch", type=int, default=100, help="messages claimed at once")
    parser.add_argument("--profile", default="", help="cProfile the outbox into FILE.<pid>")
    args, _ = parser.parse_known_args()
    if not Path(SMTP_SINK).exists():
        sys.exit("smtp-sink is missing: apt-get install -y postfix (only its smtp-sink is used)")
    port = _free_port()
    os.environ.update(
        {
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(port),
            "EMAIL_USE_TLS": "false",
            "CDP_QUIET_HOURS": "off",
            "CDP_EMAIL_CAP_DAY": "1000",
            "CDP_EMAIL_CAP_WEEK": "1000",
            "CDP_POSTAL_ADDRESS": "1 rue de la Paix, 75002 Paris",
        }
    )
    sink = subprocess.Popen(
        [SMTP_SINK, "-u", "nobody", f"127.0.0.1:{port}", "256"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.3)
        setup_django()
        from django.db import connection

        from campaigns.models import Message
        from campaigns.services import broadcast_schedule

        broadcast = _populate(args.messages)
        with timed() as snapshot:
            broadcast_schedule(broadcast_id=broadcast.pk)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # the statistics autovacuum would gather after a load
        claims, contexts = _claims(args.messages)
        prepared = _prerendered(claims, contexts)
        share = [prepared[n :: args.processes] for n in range(args.processes)]
        claim_share = [claims[n :: args.processes] for n in range(args.processes)]
        connection.close()
        reference = _parallel(
            args.processes, _smtplib_part, [(port, part) for part in share], "reference"
        )
        floor = _parallel(
            args.processes,
            _render_and_smtplib_part,
            [(port, part, contexts) for part in claim_share],
            "floor",
        )
        outbox = _parallel(
            args.processes, _outbox_part, [(args.batch, args.profile)] * args.processes, "outbox"
        )
        sent = Message.objects.filter(status="sent").count()
        if sent != args.messages:
            sys.exit(f"the outbox sent {sent} of {args.messages}")
    finally:
        sink.terminate()
        sink.wait()
    ratio = reference / outbox
    rows = [
        (
            "smtplib, pre-rendered (reference)",
            f"{args.messages / reference:,.0f}",
            f"{reference:.2f}",
        ),
        ("render + serialise + smtplib (floor)", f"{args.messages / floor:,.0f}", f"{floor:.2f}"),
        (
            "outbox: claim, gate, render, send, mark",
            f"{args.messages / outbox:,.0f}",
            f"{outbox:.2f}",
        ),
    ]
    print_table(
        f"{args.messages} messages, {args.processes} processes, Postfix smtp-sink",
        ["path", "messages/s", "seconds"],
        rows,
    )
    print(f"outbox / smtplib: {ratio:.2f} (target ≥ {TARGET_OUTBOX_VS_SMTPLIB})")
    print(f"outbox / floor (rendering included, no outbox): {floor / outbox:.2f}")
    per = {k: v / args.messages * 1000 for k, v in CPU.items()}
    print(
        "CPU of the sending processes a message (PostgreSQL's and the sink's apart): "
        f"reference {per['reference']:.2f} ms, floor {per['floor']:.2f} ms, "
        f"outbox {per['outbox']:.2f} ms; reference / outbox {per['reference'] / per['outbox']:.2f}"
    )
    print(f"audience snapshot of {args.messages}: {snapshot['seconds']:.2f} s")
    emit(
        {
            "bench": "sending",
            "messages": args.messages,
            "processes": args.processes,
            "smtplib_per_s": round(args.messages / reference, 1),
            "outbox_per_s": round(args.messages / outbox, 1),
            "outbox_vs_smtplib": round(ratio, 3),
            "floor_per_s": round(args.messages / floor, 1),
            "outbox_vs_floor": round(floor / outbox, 3),
            "target": TARGET_OUTBOX_VS_SMTPLIB,
            "snapshot_seconds": round(snapshot["seconds"], 3),
            "cpu_ms_per_message": {k: round(v / args.messages * 1000, 3) for k, v in CPU.items()},
        }
    )


if __name__ == "__main__":
    main()
