"""Consent that arrives with a message goes to the consent ledger, with its proof.

Channels put decisions in the message context, in any of these shapes:
- forms: `{"consent": {"newsletter": {"granted": true, "form": "signup", "wording_version": 2}}}`
- the API: `{"consent": {"newsletter": true}}` or Segment's
  `{"consent": {"categoryPreferences": {"newsletter": true, "ads": false}}}`
A ticked box on a form is a grant; an unticked one is no decision (not a withdrawal). From
the API and imports, `false` is an explicit withdrawal. Only `consent.services.consent_record`
writes the ledger: double opt-in, repeats and wording checks are its rules.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction

from consent.errors import ConsentError
from consent.models import ConsentMethod, ConsentStatus, Purpose, PurposeVersion
from consent.services import consent_record
from profiles.models import Event, Profile

logger = logging.getLogger(__name__)

_METHOD: dict[str, ConsentMethod] = {
    Event.Type.FORM: ConsentMethod.FORM,
    Event.Type.IMPORT: ConsentMethod.IMPORT,
}


@dataclass(frozen=True)
class ConsentCapture:
    """One message's consent, after identity resolution gave it a profile."""

    profile_id: int
    message_type: str
    message_id: str
    context: Mapping[str, Any]
    occurred_at: datetime


def _decisions(consent: object, *, from_form: bool) -> dict[str, tuple[bool, int | None]]:
    """code -> (granted, wording version) from the shapes channels send."""
    if not isinstance(consent, Mapping):
        return {}
    found: dict[str, tuple[bool, int | None]] = {}
    preferences = consent.get("categoryPreferences")
    items = preferences.items() if isinstance(preferences, Mapping) else consent.items()
    for code, value in items:
        if code == "categoryPreferences" or not isinstance(code, str):
            continue
        if isinstance(value, bool):
            granted, version = value, None
        elif isinstance(value, Mapping) and isinstance(value.get("granted"), bool):
            granted = value["granted"]
            raw_version = value.get("wording_version")
            version = raw_version if isinstance(raw_version, int) else None
        else:
            continue
        if from_form and not granted:
            continue  # an unticked box is no decision
        found[code] = (granted, version)
    return found


def consent_capture(*, source_id: int, captures: Sequence[ConsentCapture]) -> int:
    """Record the decisions carried by messages; returns how many ledger rows were added."""
    wanted = [
        (
            capture,
            _decisions(
                capture.context.get("consent"), from_form=capture.message_type == Event.Type.FORM
            ),
        )
        for capture in captures
        if capture.context.get("consent")
    ]
    codes = {code for _, decisions in wanted for code in decisions}
    if not codes:
        return 0
    purposes = {p.code: p for p in Purpose.objects.filter(code__in=codes, is_active=True)}
    versions = {
        (version.purpose_id, version.version): version
        for version in PurposeVersion.objects.filter(purpose__in=purposes.values())
    }
    emails = dict(
        Profile.objects.filter(pk__in={capture.profile_id for capture, _ in wanted}).values_list(
            "pk", "email"
        )
    )
    added = skipped = 0
    for capture, decisions in wanted:
        proof = {
            "message_id": capture.message_id,
            "channel": capture.message_type,
            "occurred_at": capture.occurred_at.isoformat(),
            **{
                key: str(capture.context[key])[:500]
                for key in ("ip", "userAgent")
                if capture.context.get(key)
            },
        }
        for code, (granted, version) in sorted(decisions.items()):
            purpose = purposes.get(code)
            if purpose is None:
                skipped += 1
                continue
            form = (capture.context.get("consent") or {}).get(code)
            item_proof: dict[str, Any] = dict(proof)
            imported = capture.context.get("import")
            if isinstance(imported, Mapping):
                # Which file and row said so: the import's proof.
                item_proof.update(
                    import_job=imported.get("job"),
                    file=str(imported.get("file", ""))[:255],
                    row=imported.get("row"),
                )
            if isinstance(form, Mapping) and form.get("form"):
                item_proof["form"] = str(form["form"])[:100]
            try:
                with transaction.atomic():
                    _, created = consent_record(
                        profile_id=capture.profile_id,
                        purpose=purpose,
                        status=ConsentStatus.GRANTED if granted else ConsentStatus.WITHDRAWN,
                        method=_METHOD.get(capture.message_type, ConsentMethod.API),
                        proof=item_proof,
                        source_id=source_id,
                        wording=versions.get((purpose.pk, version)) if version else None,
                        email=emails.get(capture.profile_id) or None,
                    )
            except ConsentError as exc:  # the message is stored; the decision is not provable
                logger.warning(
                    "consent not recorded for a message of source %s: %s", source_id, exc.code
                )
                skipped += 1
                continue
            added += created
    if skipped:
        logger.info("consent capture: %s decisions skipped (unknown purpose or refused)", skipped)
    return added
