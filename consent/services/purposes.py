"""Purposes and their wordings."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext

from consent.errors import InvalidWording
from consent.models import Purpose, PurposeVersion


@transaction.atomic
def purpose_wording_add(*, purpose: Purpose, text: str, actor: Any = None) -> PurposeVersion:
    """A new wording is the purpose's next version; the same text again adds nothing."""
    text = text.strip()
    if not text:
        raise InvalidWording(
            gettext("A wording needs a text."),
            fields={"text": [gettext("This field is required.")]},
        )
    # NO KEY: recording consent (a foreign key to this row) is not held up meanwhile.
    Purpose.objects.select_for_update(no_key=True).filter(pk=purpose.pk).values_list("pk").get()
    latest = PurposeVersion.objects.filter(purpose_id=purpose.pk).order_by("-version").first()
    if latest is not None and latest.text == text:
        return latest
    return PurposeVersion.objects.create(
        purpose=purpose,
        version=latest.version + 1 if latest else 1,
        text=text,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
