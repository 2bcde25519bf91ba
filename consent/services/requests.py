"""Data-subject requests: record, verify, extend, then carry out (GDPR arts. 12-21).

A request is due one calendar month after receipt, extendable once by two months with
a reason (art. 12(3)). Nothing is done about a person before their identity is verified.
Whether the person exists is never revealed: a request about an unknown person is
recorded, verified and answered like any other, and the answer's wording is the same.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.core.mail import mail_admins, send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from consent.errors import InvalidRequest, RequestNotReady
from consent.models import (
    AccessLog,
    ConsentRecord,
    ConsentStatus,
    DataSubjectRequest,
    DataSubjectRequestEvent,
    Purpose,
)
from consent.registry import Located, person_data_handlers, person_data_owner
from consent.services.ledger import consent_record
from consent.services.person import person_erase, person_export, person_records_count
from consent.services.suppression import suppression_add, suppression_digest

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

Kind = DataSubjectRequest.Kind
Status = DataSubjectRequest.Status

ANSWER_MONTHS = 1
EXTENSION_MONTHS = 2
_EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+$")

ANSWERS: dict[str, StrOrPromise] = {
    Kind.ACCESS: _("Here is a copy of all the data we hold about you, if any."),
    Kind.PORTABILITY: _("Here is the data you gave us, in a machine-readable format, if any."),
    Kind.RECTIFICATION: _("Any data we held about you has been corrected as you asked."),
    Kind.ERASURE: _("Any data we held about you has been erased."),
    Kind.RESTRICTION: _("Any processing of data about you has been restricted."),
    Kind.OBJECTION: _("Any data about you is no longer used for marketing or profiling."),
}


def _step(request: DataSubjectRequest, action: str, actor: Any, note: str = "") -> None:
    DataSubjectRequestEvent.objects.create(
        request=request,
        action=action,
        note=note,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
    )


def _user(actor: Any) -> Any:
    return actor if getattr(actor, "is_authenticated", False) else None


def dsar_due(*, received_at: datetime, extended: bool = False) -> datetime:
    """One calendar month after receipt, three once extended."""
    months = ANSWER_MONTHS + (EXTENSION_MONTHS if extended else 0)
    return received_at + relativedelta(months=months)


@transaction.atomic
def dsar_create(
    *,
    kind: str,
    email: str = "",
    phone: str = "",
    changes: Mapping[str, Any] | None = None,
    received_at: datetime | None = None,
    actor: Any = None,
    note: str = "",
) -> DataSubjectRequest:
    """Record a request as received; the person is not looked up (nothing is revealed)."""
    email, phone = (email or "").strip(), (phone or "").strip()
    errors: dict[str, list[str]] = {}
    if kind not in Kind.values:
        errors["kind"] = [gettext("Choose one of: %(value)s.") % {"value": ", ".join(Kind.values)}]
    if not email and not phone:
        errors["email"] = [gettext("Give the person's email address or phone number.")]
    if email and (len(email) > 254 or not _EMAIL_SHAPE.match(email)):
        errors["email"] = [gettext("Enter a valid email address.")]
    if len(phone) > 32:
        errors["phone"] = ["At most 32 characters."]
    clean_changes = dict(changes or {})
    if kind == Kind.RECTIFICATION:
        if not clean_changes or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in clean_changes.items()
        ):
            errors["changes"] = ['Say what to correct: {"field": "corrected value"}.']
    elif clean_changes:
        errors["changes"] = [gettext("Only a rectification carries changes.")]
    if received_at is not None and timezone.is_naive(received_at):
        errors["received_at"] = ["Give a time zone."]
    if errors:
        raise InvalidRequest(gettext("This request cannot be recorded."), fields=errors)
    received = received_at or timezone.now()
    request = DataSubjectRequest.objects.create(
        kind=kind,
        subject_email=email,
        subject_phone=phone,
        changes=clean_changes,
        received_at=received,
        due_at=dsar_due(received_at=received),
        handler=_user(actor),
    )
    _step(request, "received", actor, note)
    return request


def _open(request: DataSubjectRequest) -> DataSubjectRequest:
    """The request, locked and re-read; refused once closed."""
    locked = DataSubjectRequest.objects.select_for_update().get(pk=request.pk)
    if locked.status in (Status.DONE, Status.REJECTED):
        raise RequestNotReady(
            gettext("This request is %(value)s already.")
            % {"value": locked.get_status_display().lower()}
        )
    return locked


@transaction.atomic
def dsar_verify(*, request: DataSubjectRequest, method: str, actor: Any) -> DataSubjectRequest:
    """Record how the requester's identity was checked; the handler becomes the verifier."""
    method = (method or "").strip()
    if not method:
        raise InvalidRequest(
            gettext("Say how the identity was verified."),
            fields={"method": [gettext("Say how the identity was verified.")]},
        )
    locked = _open(request)
    locked.status = Status.VERIFIED
    locked.verification = method[:200]
    locked.verified_at = timezone.now()
    locked.handler = _user(actor) or locked.handler
    locked.save(update_fields=["status", "verification", "verified_at", "handler"])
    _step(locked, "verified", actor, method[:200])
    return locked


@transaction.atomic
def dsar_extend(*, request: DataSubjectRequest, reason: str, actor: Any) -> DataSubjectRequest:
    """Extend the deadline by two months, once, for a stated reason."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidRequest(
            gettext("Say why more time is needed."),
            fields={"reason": [gettext("Say why more time is needed.")]},
        )
    locked = _open(request)
    if locked.extended:
        raise RequestNotReady(gettext("This request was extended already."))
    locked.extended = True
    locked.extension_reason = reason
    locked.due_at = dsar_due(received_at=locked.received_at, extended=True)
    locked.save(update_fields=["extended", "extension_reason", "due_at"])
    _step(locked, "extended", actor, reason)
    return locked


@transaction.atomic
def dsar_reject(*, request: DataSubjectRequest, reason: str, actor: Any) -> DataSubjectRequest:
    """Close a request without acting (e.g. the identity could not be verified)."""
    locked = _open(request)
    locked.status = Status.REJECTED
    locked.answer = (reason or "").strip()
    locked.completed_at = timezone.now()
    locked.save(update_fields=["status", "answer", "completed_at"])
    _step(locked, "rejected", actor, locked.answer)
    return locked


def _locate(request: DataSubjectRequest) -> Located:
    locate = person_data_owner().locate
    assert locate is not None  # the owner is the handler that gives locate
    return locate(request.subject_email, request.subject_phone)


def _verified(request: DataSubjectRequest) -> DataSubjectRequest:
    locked = _open(request)
    if locked.status != Status.VERIFIED:
        raise RequestNotReady(gettext("Verify the requester's identity first."))
    return locked


def _done(request: DataSubjectRequest, located: Located, actor: Any, note: str = "") -> None:
    request.status = Status.DONE
    request.completed_at = timezone.now()
    request.profiles_found = len(located.profile_ids)
    request.answer = str(ANSWERS[request.kind])
    request.save()
    _step(request, "done", actor, note)


@transaction.atomic
def dsar_export(*, request: DataSubjectRequest, actor: Any, via: str = "admin") -> dict[str, Any]:
    """The person's data from every app (access, portability); closes such a request."""
    locked = _verified(request)
    if locked.kind not in (Kind.ACCESS, Kind.PORTABILITY):
        raise RequestNotReady(
            gettext("Only access and portability requests are answered with an export.")
        )
    located = _locate(locked)
    data = person_export(profile_ids=located.profile_ids)
    AccessLog.objects.create(
        user=_user(actor),
        action=AccessLog.Action.EXPORT,
        what=f"{via}:dsar",
        profile_id=min(located.profile_ids, default=None),
        request=locked,
    )
    _done(locked, located, actor, "export produced")
    return data


def _subject_digest(located: Located) -> str:
    identifiers = sorted(f"{kind}:{value}" for kind, value in located.identifiers)
    return suppression_digest(kind="subject", value="|".join(identifiers))


@transaction.atomic
def dsar_erase(*, request: DataSubjectRequest, actor: Any, via: str = "admin") -> dict[str, int]:
    """Erase the person in every app, suppress their identifiers, and forget them here too."""
    locked = _verified(request)
    if locked.kind != Kind.ERASURE:
        raise RequestNotReady(gettext("Only an erasure request erases."))
    located = _locate(locked)
    touched = person_erase(profile_ids=located.profile_ids)
    suppression_add(identifiers=located.identifiers, reason="erasure", request=locked)
    # The request must not keep the person: only a digest of the identifiers stays.
    locked.subject_digest = _subject_digest(located)
    locked.subject_email = ""
    locked.subject_phone = ""
    AccessLog.objects.create(
        user=_user(actor),
        action=AccessLog.Action.ERASE,
        what=f"{via}:dsar",
        profile_id=min(located.profile_ids, default=None),
        request=locked,
    )
    _done(locked, located, actor, f"rows touched: {sum(touched.values())}")
    return touched


@dataclass(frozen=True)
class ErasurePreview:
    """Who an erasure request would erase, and how many records in each app."""

    request: DataSubjectRequest
    people: list[dict[str, Any]]  # a profile each: id, status, name, email, phone
    records: dict[str, dict[str, int]]  # app -> kind of record -> rows

    @property
    def total(self) -> int:
        return sum(sum(kinds.values()) for kinds in self.records.values())

    @property
    def lines(self) -> list[tuple[str, list[tuple[str, int]]]]:
        """The counts in the words the apps give them: [(app, [(kind, rows)])]."""
        handlers = {handler.app: handler for handler in person_data_handlers()}
        lines = []
        for app, kinds in self.records.items():
            handler = handlers.get(app)
            label = str(handler.label) if handler and handler.label else app
            names = handler.labels if handler else {}
            lines.append((label, [(str(names.get(kind, kind)), n) for kind, n in kinds.items()]))
        return lines


def dsar_erasure_preview(*, request: DataSubjectRequest) -> ErasurePreview:
    """What `dsar_erase` would touch, for the confirmation page; writes nothing."""
    located = _locate(request)
    exported = person_data_owner().export(located.profile_ids) if located.profile_ids else {}
    people = [
        {
            "id": row["id"],
            "status": row.get("status", ""),
            "name": f"{row.get('first_name', '')} {row.get('last_name', '')}".strip(),
            "email": row.get("email", ""),
            "phone": row.get("phone", ""),
        }
        for row in exported.get("profiles", [])
    ]
    return ErasurePreview(
        request=request,
        people=people,
        records=person_records_count(profile_ids=located.profile_ids),
    )


@transaction.atomic
def dsar_restrict(*, request: DataSubjectRequest, actor: Any) -> int:
    """Restriction: the person stays stored but drops out of segments and sending."""
    locked = _verified(request)
    if locked.kind != Kind.RESTRICTION:
        raise RequestNotReady(gettext("Only a restriction request restricts."))
    located = _locate(locked)
    owner = person_data_owner()
    if owner.restrict is None:
        raise RuntimeError(f"the person-data owner {owner.app!r} cannot restrict")
    changed = owner.restrict(located.profile_ids, True) if located.profile_ids else 0
    _done(locked, located, actor)
    return changed


@transaction.atomic
def dsar_object(*, request: DataSubjectRequest, actor: Any) -> int:
    """Objection: every purpose the person is contactable for is withdrawn in the ledger."""
    locked = _verified(request)
    if locked.kind != Kind.OBJECTION:
        raise RequestNotReady(gettext("Only an objection withdraws consent."))
    located = _locate(locked)
    owner = person_data_owner()
    if owner.restrict is None:
        raise RuntimeError(f"the person-data owner {owner.app!r} cannot restrict")
    withdrawn = 0
    # The ledger follows merged tombstones to the survivor: repeats add nothing.
    for profile_id in located.profile_ids:
        for purpose in Purpose.objects.order_by("pk"):
            _, created = consent_record(
                profile_id=profile_id,
                purpose=purpose,
                status=ConsentStatus.WITHDRAWN,
                method=ConsentRecord.Method.ADMIN,
                proof={"data_subject_request": locked.pk, "kind": "objection"},
                actor=_user(actor),
            )
            withdrawn += created
    if located.profile_ids:
        owner.restrict(located.profile_ids, True)
    _done(locked, located, actor, f"withdrawals: {withdrawn}")
    return withdrawn


@transaction.atomic
def dsar_rectify(*, request: DataSubjectRequest, actor: Any) -> list[str]:
    """Rectification: correct the fields the person named."""
    locked = _verified(request)
    if locked.kind != Kind.RECTIFICATION:
        raise RequestNotReady(gettext("Only a rectification request corrects data."))
    located = _locate(locked)
    owner = person_data_owner()
    if owner.rectify is None:
        raise RuntimeError(f"the person-data owner {owner.app!r} cannot rectify")
    changed = (
        owner.rectify(located.profile_ids, locked.changes, _user(actor))
        if located.profile_ids
        else []
    )
    _done(locked, located, actor, f"fields: {', '.join(changed)}")
    return changed


def dsar_execute(
    *, request: DataSubjectRequest, actor: Any, via: str = "admin"
) -> dict[str, Any] | None:
    """Carry out a verified request of any kind; an export is returned for access/portability."""
    if request.kind in (Kind.ACCESS, Kind.PORTABILITY):
        return dsar_export(request=request, actor=actor, via=via)
    if request.kind == Kind.ERASURE:
        dsar_erase(request=request, actor=actor, via=via)
    elif request.kind == Kind.RESTRICTION:
        dsar_restrict(request=request, actor=actor)
    elif request.kind == Kind.OBJECTION:
        dsar_object(request=request, actor=actor)
    else:
        dsar_rectify(request=request, actor=actor)
    return None


def dsar_reminders_send() -> dict[str, int]:
    """Mail each handler the ids of their open requests overdue or due within 7 days.

    Requests nobody handles go to the site admins. Ids and dates only, no person.
    """
    now = timezone.now()
    soon = (
        DataSubjectRequest.objects.filter(
            status__in=(Status.RECEIVED, Status.VERIFIED), due_at__lt=now + relativedelta(days=7)
        )
        .select_related("handler")
        .order_by("due_at")
    )
    by_handler: dict[Any, list[DataSubjectRequest]] = {}
    for request in soon:
        by_handler.setdefault(request.handler, []).append(request)
    overdue = sum(1 for request in soon if request.due_at < now)
    for handler, requests in by_handler.items():
        lines = [
            f"#{request.pk} {request.kind}: due {request.due_at:%Y-%m-%d}"
            + (" (OVERDUE)" if request.due_at < now else "")
            for request in requests
        ]
        subject = gettext("%(len)s data-subject request(s) due soon or overdue") % {
            "len": len(requests)
        }
        body = "\n".join(lines)
        if handler is not None and handler.email:
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [handler.email])
        else:
            mail_admins(subject, body)
    return {"due_soon": len(soon) - overdue, "overdue": overdue}
