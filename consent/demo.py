"""Demo purposes of the consent app, with their wordings; loading twice adds nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from consent.models import (
    ConsentMethod,
    ConsentRecord,
    ConsentStatus,
    DataSubjectRequest,
    DataSubjectRequestEvent,
    Purpose,
)
from consent.services import (
    consent_record,
    dsar_create,
    dsar_execute,
    dsar_verify,
    purpose_wording_add,
)

DEMO_NOTE = "demo history"

DEMO_PURPOSES = [
    (
        "newsletter",
        "Monthly newsletter",
        Purpose.Channel.EMAIL,
        False,
        "Send me the monthly newsletter. I can unsubscribe at any time.",
    ),
    (
        "offers",
        "Partner offers by email",
        Purpose.Channel.EMAIL,
        True,
        "Send me offers from our partners by email (confirmed by a link we email you).",
    ),
    (
        "sms-reminders",
        "Event reminders by SMS",
        Purpose.Channel.SMS,
        False,
        "Text me a reminder before events I registered for.",
    ),
]


def consent_demo_load() -> int:
    """Create the demo purposes and their first wording; returns how many were new."""
    created = 0
    for code, name, channel, double_opt_in, text in DEMO_PURPOSES:
        purpose, was_created = Purpose.objects.get_or_create(
            code=code,
            defaults={"name": name, "channel": channel, "requires_double_opt_in": double_opt_in},
        )
        purpose_wording_add(purpose=purpose, text=text)
        created += was_created
    return created


# (kind, received days ago, answered days after receipt or None while open, subject index)
DEMO_REQUESTS = [
    ("access", 80, 9, 0),
    ("rectification", 62, 3, 1),
    ("access", 48, 21, 2),
    ("erasure", 40, 12, 3),  # `subjects[3]` is erased: a person only the demo's CRM knew
    ("portability", 26, 6, 4),
    ("access", 35, None, 5),  # past its month: overdue on the dashboard
    ("objection", 4, None, 6),
]


def consent_demo_requests_recorded() -> bool:
    return DataSubjectRequestEvent.objects.filter(note=DEMO_NOTE).exists()


def consent_demo_history(*, subjects: list[str], now: datetime | None = None) -> dict[str, int]:
    """Give the consent and GDPR report a history; idempotent (nothing twice).

    Decisions the demo's forms carried are dated when the form was filled (their proof
    says when); a few people withdraw over the last two months on the preference page; and
    data-subject requests arrive over three months, from `subjects` (email addresses of
    demo people), answered on time, late or not yet; one is an erasure, carried out.
    """
    now = now or timezone.now()
    dated = 0
    for record in ConsentRecord.objects.filter(
        proof__message_id__startswith="demo-", proof__has_key="occurred_at"
    ):
        at = datetime.fromisoformat(record.proof["occurred_at"])
        if at < record.recorded_at:
            ConsentRecord.objects.filter(pk=record.pk).update(recorded_at=at)
            dated += 1
    withdrawn = 0
    if not ConsentRecord.objects.filter(proof__note=DEMO_NOTE).exists():
        grants = ConsentRecord.objects.filter(
            proof__message_id__startswith="demo-", status=ConsentStatus.GRANTED
        ).order_by("pk")
        for n, grant in enumerate(list(grants)[::9]):
            record, created = consent_record(
                profile_id=grant.profile_id,
                purpose=grant.purpose,
                status=ConsentStatus.WITHDRAWN,
                method=ConsentMethod.PREFERENCE_PAGE,
                proof={"note": DEMO_NOTE},
            )
            at = max(now - timedelta(days=2 + 4 * n, hours=n), grant.recorded_at)
            ConsentRecord.objects.filter(pk=record.pk).update(recorded_at=at)
            withdrawn += created
    requests = 0
    if not consent_demo_requests_recorded():
        for kind, days_ago, answered_after, index in DEMO_REQUESTS:
            if index >= len(subjects):
                continue
            received = now - timedelta(days=days_ago, hours=index)
            request = dsar_create(
                kind=kind,
                email=subjects[index],
                received_at=received,
                changes={"city": "Lyon"} if kind == "rectification" else None,
                note=DEMO_NOTE,
            )
            requests += 1
            if answered_after is None:
                continue
            request = dsar_verify(
                request=request, method="demo: replied from the address", actor=None
            )
            dsar_execute(request=request, actor=None, via="demo")
            done = received + timedelta(days=answered_after)
            DataSubjectRequest.objects.filter(pk=request.pk).update(
                verified_at=received + timedelta(days=1), completed_at=done
            )
            DataSubjectRequestEvent.objects.filter(request=request, action="done").update(at=done)
    return {"dated": dated, "withdrawn": withdrawn, "requests": requests}
