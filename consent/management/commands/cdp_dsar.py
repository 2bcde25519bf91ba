"""Run a data-subject request end to end: record, verify, carry out.

    manage.py cdp_dsar export --email ada@example.org [--output ada.json]
    manage.py cdp_dsar erase --email ada@example.org [--phone +33612345678]

For operators and scripts whose identity check happened elsewhere (say how with
--verified-by). The output never tells whether the person was found.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from consent.errors import ConsentError
from consent.models import DataSubjectRequest
from consent.services import dsar_create, dsar_execute, dsar_verify

KINDS = {"export": DataSubjectRequest.Kind.ACCESS, "erase": DataSubjectRequest.Kind.ERASURE}


class Command(BaseCommand):
    help = "Carry out a data-subject request (export or erase) for an email and/or phone."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=sorted(KINDS))
        parser.add_argument("--email", default="")
        parser.add_argument("--phone", default="")
        parser.add_argument(
            "--verified-by",
            default="operator: identity checked before running cdp_dsar",
            help="How the requester's identity was verified.",
        )
        parser.add_argument("--output", help="Write the export to this file instead of stdout.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            request = dsar_create(
                kind=KINDS[options["action"]],
                email=options["email"],
                phone=options["phone"],
                note="manage.py cdp_dsar",
            )
            dsar_verify(request=request, method=options["verified_by"], actor=None)
            data = dsar_execute(request=request, actor=None, via="command")
        except ConsentError as exc:
            details = "; ".join(
                f"{field}: {' '.join(messages)}" for field, messages in (exc.fields or {}).items()
            )
            raise CommandError(f"{exc} {details}".strip()) from exc
        request.refresh_from_db()
        if data is not None:
            text = json.dumps(data, indent=2, ensure_ascii=False)
            if options.get("output"):
                with open(options["output"], "w", encoding="utf-8") as handle:
                    handle.write(text + "\n")
            else:
                self.stdout.write(text)
        message = f"request #{request.pk} ({request.kind}): {request.status}. {request.answer}"
        (self.stderr if data is not None and not options.get("output") else self.stdout).write(
            message
        )
