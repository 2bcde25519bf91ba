"""Read bounces and complaints mailed back: `manage.py cdp_bounce [FILE …]` (stdin: one mail).

For the mail server's bounce mailbox, e.g. Postfix's aliases:
`bounces: "|/srv/cdp/manage.py cdp_bounce --recipient $ORIGINAL_RECIPIENT"`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from campaigns.bounces import report_parse
from campaigns.services import DeliveryEvent, delivery_event_record


class Command(BaseCommand):
    help = "Record the bounces (DSN) and complaints (ARF) in mails: files, or one on stdin."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("files", nargs="*", help="Mail files; none: one mail on stdin.")
        parser.add_argument(
            "--recipient",
            default=os.environ.get("ORIGINAL_RECIPIENT", ""),
            help="The address the mail was delivered to (its VERP tag names the message).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        mails = [Path(f).read_bytes() for f in options["files"]] or [sys.stdin.buffer.read()]
        recorded = ignored = 0
        for raw in mails:
            report = report_parse(raw=raw, recipient=options["recipient"])
            known = report is not None and delivery_event_record(
                DeliveryEvent(
                    type="complained" if report.kind == "complaint" else "bounced",
                    hard=report.hard,
                    status=report.status,
                    message_pk=report.message_pk,
                    message_id="" if report.message_pk else report.message_id,
                    source="verp",
                )
            )
            if not known:
                ignored += 1
            else:
                recorded += 1
        self.stdout.write(f"{recorded} recorded, {ignored} not a report about a message of ours")
