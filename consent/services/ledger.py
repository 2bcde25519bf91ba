"""The consent ledger: append decisions with their proof, and double opt-in.

Decisions about one person are serialised by a lock on the person's profile row, taken
the way ingestion takes it (one row, or rows in primary-key order), so an ingestion batch
that already holds the row records consent without waiting, and two concurrent decisions
never both believe they are new.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any, cast

from django.conf import settings
from django.core.mail import send_mail
from django.db import models, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext

from consent.errors import (
    ExpiredLink,
    InvalidDecision,
    InvalidWording,
    PurposeWithoutWording,
    SupersededLink,
)
from consent.links import confirm_max_age, confirm_url
from consent.models import ConsentRecord, Purpose, PurposeVersion
from consent.proof import click_proof
from consent.selectors import (
    consent_confirmation_request,
    consent_current,
    consent_in_force,
    consent_profile_id,
    consent_profile_language,
    purpose_current_wording,
)
from core.i18n import in_person_language

logger = logging.getLogger(__name__)

Status = ConsentRecord.Status
Method = ConsentRecord.Method

# Callers decide "granted" or "withdrawn"; pending and double_opt_in are this module's.
DECISIONS = (Status.GRANTED, Status.WITHDRAWN)
CALLER_METHODS = tuple(method for method in Method if method != Method.DOUBLE_OPT_IN)
# Where a grant for a double opt-in purpose waits for the email confirmation.
DOUBLE_OPT_IN_METHODS = (Method.FORM, Method.API)
PROOF_MAX_BYTES = 8_192


def _related_model(field: str) -> type[models.Model]:
    """The model a ledger foreign key points at ("profiles.Source"), without importing it."""
    # A class once the apps are loaded; django-stubs also allows the string "self".
    return cast("type[models.Model]", ConsentRecord._meta.get_field(field).related_model)


def lock_profile(*, profile_id: int) -> int:
    """Lock the person's profile row and return the id to record on (merges followed)."""
    return consent_profile_id(profile_id=profile_id, lock=True)


def _storable(text: str) -> bool:
    """PostgreSQL's text and jsonb refuse NUL and lone surrogates."""
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _clean_proof(proof: object) -> dict[str, Any]:
    def refuse(message: str) -> InvalidDecision:
        return InvalidDecision(message, fields={"proof": [message]})

    if not isinstance(proof, Mapping) or not proof:
        raise refuse(gettext("Say what proves this decision (form, time, note…)."))
    data = dict(proof)
    try:
        size = len(json.dumps(data, allow_nan=False).encode())
    except (TypeError, ValueError, RecursionError) as error:
        raise refuse(gettext("The proof must be plain JSON.")) from error
    if size > PROOF_MAX_BYTES:
        raise refuse(
            gettext("The proof is limited to %(PROOF_MAX_BYTES)s bytes of JSON.")
            % {"PROOF_MAX_BYTES": PROOF_MAX_BYTES}
        )
    pending: list[object] = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str) and not _storable(value):
            raise refuse(gettext("The proof holds characters that cannot be stored."))
    return data


def _resolve_wording(
    *, purpose: Purpose, status: str, method: str, wording: PurposeVersion | None
) -> PurposeVersion | None:
    """The wording the person saw: given, or the current one where a page showed it."""
    if wording is not None:
        if wording.purpose_id != purpose.pk:
            raise InvalidWording(
                gettext("This wording belongs to another purpose."),
                fields={"wording": [gettext("This wording belongs to another purpose.")]},
            )
        return wording
    shown = method == Method.FORM or (method == Method.PREFERENCE_PAGE and status == Status.GRANTED)
    if not shown:
        return None
    current = purpose_current_wording(purpose=purpose)
    if current is None:
        message = gettext(
            "The purpose %(code)s has no wording yet: add one before asking for it."
        ) % {"code": repr(purpose.code)}
        raise PurposeWithoutWording(message, fields={"purpose": [message]})
    return current


def _validate(
    *, status: str, method: str, expires_at: datetime | None, source_id: int | None
) -> None:
    errors: dict[str, list[str]] = {}
    if status not in DECISIONS:
        errors["status"] = [gettext("Choose one of: %(value)s.") % {"value": ", ".join(DECISIONS)}]
    if method not in CALLER_METHODS:
        errors["method"] = [
            gettext("Choose one of: %(value)s.") % {"value": ", ".join(CALLER_METHODS)}
        ]
    if expires_at is not None and status == Status.WITHDRAWN:
        errors["expires_at"] = [gettext("A withdrawal does not expire.")]
    if expires_at is not None and timezone.is_naive(expires_at):
        errors["expires_at"] = ["Give a time zone."]
    if (
        source_id is not None
        and not _related_model("source")._default_manager.filter(pk=source_id).exists()
    ):
        errors["source"] = [gettext("No source with this id.")]
    if errors:
        raise InvalidDecision(gettext("This decision cannot be recorded."), fields=errors)


def _repeats(
    current: ConsentRecord | None,
    *,
    status: str,
    wording: PurposeVersion | None,
    expires_at: datetime | None,
    at: datetime,
) -> bool:
    """The decision says nothing new: same status (a grant still in force), wording, expiry."""
    if current is None or current.status != status:
        return False
    if status == Status.GRANTED and not consent_in_force(record=current, at=at):
        return False
    if wording is not None and current.wording_id != wording.pk:
        return False
    return expires_at is None or current.expires_at == expires_at


def _append(
    *,
    profile_id: int,
    purpose: Purpose,
    status: str,
    method: str,
    proof: dict[str, Any],
    source_id: int | None,
    wording: PurposeVersion | None,
    actor: Any,
    expires_at: datetime | None,
    at: datetime,
) -> ConsentRecord:
    if expires_at is not None and expires_at <= at:
        raise InvalidDecision(
            gettext("This decision cannot be recorded."),
            fields={"expires_at": [gettext("The expiry must be in the future.")]},
        )
    return ConsentRecord.objects.create(
        profile_id=profile_id,
        purpose=purpose,
        status=status,
        method=method,
        proof=proof,
        source_id=source_id,
        wording=wording,
        recorded_by=actor if getattr(actor, "is_authenticated", False) else None,
        recorded_at=at,
        expires_at=expires_at,
    )


def _send_confirmation(*, record: ConsentRecord, email: str) -> None:
    """Mail the confirmation link once the pending record is committed."""
    wording = record.wording
    context = {
        "purpose": record.purpose.name,
        "wording": wording.text if wording else "",
        "url": confirm_url(record_id=record.pk),
        "days": confirm_max_age().days,
    }
    with in_person_language(stated=consent_profile_language(profile_id=record.profile_id)):
        subject = " ".join(render_to_string("consent/email/confirm_subject.txt", context).split())
        body = render_to_string("consent/email/confirm_body.txt", context)
    transaction.on_commit(
        partial(_mail_confirmation, record_id=record.pk, subject=subject, body=body, to=email)
    )


def _mail_confirmation(*, record_id: int, subject: str, body: str, to: str) -> None:
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to])
    except Exception:
        # The pending record stays; submitting again sends a new email. No address logged.
        logger.exception("consent confirmation email for record %s failed", record_id)


@transaction.atomic
def consent_record(
    *,
    profile_id: int,
    purpose: Purpose,
    status: str,
    method: str,
    proof: Mapping[str, Any],
    source_id: int | None = None,
    wording: PurposeVersion | None = None,
    actor: Any = None,
    expires_at: datetime | None = None,
    email: str | None = None,
) -> tuple[ConsentRecord, bool]:
    """Append a decision unless it repeats the current one; returns (record, created).

    A grant from a form or the API for a purpose that requires double opt-in is recorded
    as pending and a confirmation link is mailed to `email`; it counts once confirmed.
    Forms must show a wording: a purpose without one is refused.
    """
    _validate(status=status, method=method, expires_at=expires_at, source_id=source_id)
    if expires_at is not None:
        expires_at = expires_at.astimezone(UTC)
    clean_proof = _clean_proof(proof)
    wording = _resolve_wording(purpose=purpose, status=status, method=method, wording=wording)
    pending = (
        status == Status.GRANTED
        and purpose.requires_double_opt_in
        and method in DOUBLE_OPT_IN_METHODS
    )
    address = (email or "").strip()
    if pending and not address:
        message = gettext(
            "This purpose needs a confirmation by email: give the address to send it to."
        )
        raise InvalidDecision(message, fields={"email": [message]})
    profile_id = lock_profile(profile_id=profile_id)
    current = consent_current(profile_id=profile_id, purpose=purpose)
    now = timezone.now()
    if pending:
        if current is not None and consent_in_force(record=current, at=now):
            return current, False
        if current is not None and _repeats(
            current, status=Status.PENDING_CONFIRMATION, wording=wording, expires_at=None, at=now
        ):
            # The person asks again (the first email got lost): mail the same request.
            _send_confirmation(record=current, email=address)
            return current, False
        status = Status.PENDING_CONFIRMATION
    elif current is not None and _repeats(
        current, status=status, wording=wording, expires_at=expires_at, at=now
    ):
        return current, False
    record = _append(
        profile_id=profile_id,
        purpose=purpose,
        status=status,
        method=method,
        proof=clean_proof,
        source_id=source_id,
        wording=wording,
        actor=actor,
        expires_at=expires_at,
        at=now,
    )
    if pending:
        _send_confirmation(record=record, email=address)
    return record, True


@transaction.atomic
def consent_confirm(*, token: str, ip: str, user_agent: str) -> tuple[ConsentRecord, bool]:
    """A valid confirmation link turns the pending request into a grant, with the click's proof."""
    pending = consent_confirmation_request(token=token)
    profile_id = lock_profile(profile_id=pending.profile_id)
    current = consent_current(profile_id=profile_id, purpose=pending.purpose)
    now = timezone.now()
    if current is not None and current.pk != pending.pk:
        if consent_in_force(record=current, at=now):
            return current, False  # a second click, or already granted another way
        raise SupersededLink(
            gettext("This request was withdrawn or replaced since; nothing was changed.")
        )
    if pending.expires_at is not None and pending.expires_at <= now:
        raise ExpiredLink(gettext("This confirmation link has expired."))
    record = _append(
        profile_id=profile_id,
        purpose=pending.purpose,
        status=Status.GRANTED,
        method=Method.DOUBLE_OPT_IN,
        proof=click_proof(ip=ip, user_agent=user_agent, confirms=pending.pk),
        source_id=pending.source_id,
        wording=pending.wording,
        actor=None,
        expires_at=pending.expires_at,
        at=now,
    )
    return record, True
