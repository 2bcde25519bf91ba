"""The suppression list: hashed identifiers of erased people.

Identifiers are stored as an HMAC-SHA256 of "kind:normalised value" keyed by
`settings.CDP_SUPPRESSION_KEY` (the SUPPRESSION_KEY environment variable; locally derived
from SECRET_KEY). Without the key a digest cannot be tested against a guessed address;
with it, ingestion recognises a suppressed person in one query per batch.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from consent.links import confirm_max_age, return_token_read, return_url
from consent.models import DataSubjectRequest, Suppression
from consent.proof import click_proof

logger = logging.getLogger(__name__)

SUPPRESSIBLE_KINDS = frozenset(Suppression.Kind.values)


@functools.lru_cache(maxsize=4)
def _keyed(key: str) -> Any:
    """The HMAC state after the key: copying it is far cheaper than keying each digest."""
    return hmac.new(key.encode(), digestmod=hashlib.sha256)


def suppression_digest(*, kind: str, value: str) -> str:
    """HMAC of one normalised identifier; the only form in which the list holds it."""
    mac = _keyed(settings.CDP_SUPPRESSION_KEY).copy()
    mac.update(f"{kind}:{value}".encode())
    return mac.hexdigest()


def suppression_add(
    *,
    identifiers: Iterable[tuple[str, str]],
    reason: str = "erasure",
    request: DataSubjectRequest | None = None,
) -> int:
    """Suppress email and phone identifiers (other kinds are ignored); returns how many are new."""
    digests = {
        suppression_digest(kind=kind, value=value): kind
        for kind, value in identifiers
        if kind in SUPPRESSIBLE_KINDS and value
    }
    if not digests:
        return 0
    already = set(
        Suppression.objects.filter(digest__in=digests, lifted_at__isnull=True).values_list(
            "digest", flat=True
        )
    )
    # The partial unique index settles a race with a concurrent erasure of the same person.
    Suppression.objects.bulk_create(
        [
            Suppression(digest=digest, kind=kind, reason=reason, request=request)
            for digest, kind in digests.items()
            if digest not in already
        ],
        ignore_conflicts=True,
    )
    return len(digests) - len(already)


@transaction.atomic
def suppression_lift(*, digests: Iterable[str], proof: Mapping[str, Any]) -> int:
    """The person opted in again themself: lift their suppression, keeping the row and proof."""
    return Suppression.objects.filter(digest__in=set(digests), lifted_at__isnull=True).update(
        lifted_at=timezone.now(), lift_proof=dict(proof)
    )


def suppression_return_request(*, email: str, digests: Iterable[str]) -> None:
    """An erased person's address ticked a consent box: mail that address a link; only the
    click (double opt-in) lifts the suppression, so nobody else can bring them back."""
    context = {"url": return_url(digests=digests), "days": confirm_max_age().days}
    subject = " ".join(render_to_string("consent/email/return_subject.txt", context).split())
    body = render_to_string("consent/email/return_body.txt", context)
    transaction.on_commit(functools.partial(_mail_return, subject=subject, body=body, to=email))


def _mail_return(*, subject: str, body: str, to: str) -> None:
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to])
    except Exception:
        logger.exception("come-back confirmation email failed")  # no address logged


def suppression_return_confirm(*, token: str, ip: str, user_agent: str) -> int:
    """The person clicked the link mailed to them: lift the suppression, with the click as proof."""
    digests = return_token_read(token=token)
    proof = click_proof(ip=ip, user_agent=user_agent, method="double_opt_in")
    return suppression_lift(digests=digests, proof=proof)
