"""Suppressed people (erased at their request) cannot be recreated by a batch.

One look-up per batch: the HMAC of every email and phone the batch carries is checked
against the consent app's suppression list. A suppressed message is rejected with the
error "suppressed" and writes nothing (a public form answers it as a success, so that it
does not reveal the erasure). A form post is public: anyone may type the
address, so a form submission (from a web-form source) that grants a consent purpose does
not lift the suppression; it mails the address a link, and only the person's click on it
(a confirmed double opt-in) lifts the suppression. They then sign up again.
"""

from __future__ import annotations

from collections.abc import Mapping

from consent.services import suppression_digest, suppression_return_request
from profiles.models import Event, Identity, Source
from profiles.services.ingest.results import MessageResult
from profiles.services.messages import Prepared

SUPPRESSED_KINDS = frozenset({Identity.Kind.EMAIL, Identity.Kind.PHONE})
SUPPRESSED = "suppressed"  # the error's key
SUPPRESSED_ERROR = {
    SUPPRESSED: [
        "suppressed: this person asked to be erased; only their confirmed opt-in (the "
        "link mailed to the address) can bring them back."
    ]
}


def _digests(item: Prepared) -> set[str]:
    digests = {
        suppression_digest(kind=kind, value=value)
        for kind, _, value in item.keys
        if kind in SUPPRESSED_KINDS
    }
    # The address as given too: a person erased before identities held the mailbox's key
    # is suppressed under the address's own digest.
    address = item.fields.get("email")
    if address:
        digests.add(suppression_digest(kind=Identity.Kind.EMAIL, value=address))
    return digests


def _fresh_opt_in(item: Prepared, source: Source) -> bool:
    """The person's own form submission that ticks at least one consent box."""
    if source.kind != Source.Kind.WEB_FORM or item.type != Event.Type.FORM:
        return False
    consent = item.context.get("consent")
    if not isinstance(consent, Mapping):
        return False
    return any(
        value is True or (isinstance(value, Mapping) and value.get("granted") is True)
        for value in consent.values()
    )


def _suppressed_email(item: Prepared, hits: set[str]) -> str | None:
    """The message's suppressed email address, the one the come-back link goes to."""
    address = item.fields.get("email")
    if address and suppression_digest(kind=Identity.Kind.EMAIL, value=address) in hits:
        return str(address)
    for kind, _, value in item.keys:
        if kind == Identity.Kind.EMAIL and suppression_digest(kind=kind, value=value) in hits:
            return str(address or value)  # mailed as the person spelled it
    return None


def suppression_filter(
    prepared: list[Prepared],
    source: Source,
    results: list[MessageResult | None],
    suppressed: set[str],
) -> list[Prepared]:
    """Drop suppressed messages (reported in `results`); a fresh opt-in gets a link mailed."""
    kept = []
    for item in prepared:
        hits = _digests(item) & suppressed
        if not hits:
            kept.append(item)
        else:
            email = _suppressed_email(item, hits)
            if email is not None and _fresh_opt_in(item, source):
                suppression_return_request(email=email, digests=hits)
            results[item.index] = MessageResult(
                index=item.index,
                status="error",
                message_id=item.message_id,
                errors=SUPPRESSED_ERROR,
            )
    return kept


def batch_digests(prepared: list[Prepared]) -> set[str]:
    """Every suppressible identifier's digest in the batch."""
    return {digest for item in prepared for digest in _digests(item)}
