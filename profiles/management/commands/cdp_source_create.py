"""Create a source and print its write key (the last line of the output)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from profiles.errors import ProfilesError
from profiles.models import Source
from profiles.services import source_create


class Command(BaseCommand):
    help = "Create a source; its write key is printed once, as the last line."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--kind", required=True, choices=Source.Kind.values)
        parser.add_argument("--slug", default="")
        parser.add_argument(
            "--origin",
            action="append",
            default=[],
            dest="origins",
            help="An allowed browser origin (repeatable).",
        )
        parser.add_argument("--phone-region", default="")
        parser.add_argument("--trust-rank", type=int, default=50)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            source, key = source_create(
                name=options["name"],
                kind=options["kind"],
                slug=options["slug"],
                allowed_origins=options["origins"],
                default_phone_region=options["phone_region"],
                trust_rank=options["trust_rank"],
            )
        except ProfilesError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Created source {source.slug!r} ({source.get_kind_display()}).")
        self.stdout.write("Write key (shown once, store it now):")
        self.stdout.write(key)
