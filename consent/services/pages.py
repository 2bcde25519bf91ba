"""What people do on the public pages: unsubscribe, and change their preferences."""

from __future__ import annotations

from collections.abc import Mapping

from django.db import transaction
from django.utils.translation import gettext

from consent.errors import InvalidLink
from consent.hooks import unsubscribed_notify
from consent.links import preferences_link_read, unsubscribe_link_read
from consent.models import ConsentRecord, Purpose, PurposeVersion
from consent.proof import click_proof
from consent.selectors import consent_state_for_profile
from consent.services.ledger import consent_record, lock_profile

Status = ConsentRecord.Status
Method = ConsentRecord.Method


@transaction.atomic
def consent_unsubscribe(
    *, token: str, ip: str, user_agent: str, one_click: bool
) -> tuple[ConsentRecord, bool]:
    """Withdraw the purpose a signed unsubscribe link names: as easy as giving it was."""
    link = unsubscribe_link_read(token=token)
    purpose = Purpose.objects.filter(pk=link.purpose_id).first()
    if purpose is None:
        raise InvalidLink(gettext("This link is not valid."))
    record, created = consent_record(
        profile_id=link.profile_id,
        purpose=purpose,
        status=Status.WITHDRAWN,
        method=Method.UNSUBSCRIBE_LINK,
        proof=click_proof(ip=ip, user_agent=user_agent, one_click=one_click),
    )
    if link.message_id is not None and record.status == Status.WITHDRAWN:
        # The email the link came from counts this unsubscribe (once, however many clicks).
        unsubscribed_notify(
            profile_ids=frozenset({link.profile_id, record.profile_id}),
            purpose_id=purpose.pk,
            message_id=link.message_id,
            source="one-click" if one_click else "link",
        )
    return record, created


@transaction.atomic
def consent_preferences_update(
    *,
    token: str,
    choices: Mapping[str, bool],
    shown_versions: Mapping[str, int],
    ip: str,
    user_agent: str,
) -> list[ConsentRecord]:
    """Record each purpose whose box the person changed; untouched purposes add nothing.

    `choices` maps purpose codes shown on the page to ticked or not, `shown_versions` the
    wording version each box showed (the proof names the text the person read). Inactive
    purposes can only be withdrawn. A link sent in a campaign's email names its message:
    withdrawing that email's purpose here counts the unsubscribe for it.
    """
    link = preferences_link_read(token=token)
    profile_id = lock_profile(profile_id=link.profile_id)
    proof = click_proof(ip=ip, user_agent=user_agent)
    versions = {
        (version.purpose_id, version.version): version
        for version in PurposeVersion.objects.filter(
            purpose__code__in=list(shown_versions), version__in=list(shown_versions.values())
        )
    }
    recorded: list[ConsentRecord] = []
    for state in consent_state_for_profile(profile_id=profile_id):
        code = state.purpose.code
        if code not in choices:
            continue
        if choices[code] and not state.in_force and state.purpose.is_active:
            status = Status.GRANTED
        elif not choices[code] and state.status in (Status.GRANTED, Status.PENDING_CONFIRMATION):
            status = Status.WITHDRAWN
        else:
            continue
        record, created = consent_record(
            profile_id=profile_id,
            purpose=state.purpose,
            status=status,
            method=Method.PREFERENCE_PAGE,
            proof=proof,
            wording=versions.get((state.purpose.pk, shown_versions.get(code, 0)))
            if status == Status.GRANTED
            else None,
        )
        if created:
            recorded.append(record)
        if created and status == Status.WITHDRAWN and link.message_id is not None:
            # The email the link came from counts this unsubscribe if it was sent for this
            # purpose (campaigns checks); other purposes withdrawn here count for no message.
            unsubscribed_notify(
                profile_ids=frozenset({link.profile_id, profile_id}),
                purpose_id=state.purpose.pk,
                message_id=link.message_id,
                source="preferences",
            )
    return recorded
