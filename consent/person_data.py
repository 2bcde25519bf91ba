"""What the consent app holds about a person, for data-subject requests.

Export: every ledger row with its proof. Erasure is the one lawful exception to the
ledger being append-only: the decisions stay (they prove what the organisation was
allowed to do, and when), but their proofs lose what identifies the person's device
(IP address, user agent). Nothing else in the ledger names the person.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from consent.models import ConsentRecord

# Proof keys that identify a device or a person; dropped on erasure.
IDENTIFYING_PROOF_KEYS = frozenset({"ip", "user_agent", "userAgent", "email", "phone"})


def consent_export(profile_ids: Sequence[int]) -> Mapping[str, Any]:
    records = (
        ConsentRecord.objects.filter(profile_id__in=profile_ids)
        .select_related("purpose", "wording", "source")
        .order_by("id")
    )
    return {
        "consents": [
            {
                "purpose": record.purpose.code,
                "status": record.status,
                "method": record.method,
                "source": record.source.slug if record.source else None,
                "wording_version": record.wording.version if record.wording else None,
                "wording": record.wording.text if record.wording else None,
                "proof": record.proof,
                "recorded_at": record.recorded_at,
                "expires_at": record.expires_at,
            }
            for record in records
        ]
    }


def consent_erase(profile_ids: Sequence[int]) -> int:
    changed = []
    for record in ConsentRecord.objects.filter(profile_id__in=profile_ids).only("id", "proof"):
        proof = record.proof if isinstance(record.proof, dict) else {}
        kept = {key: value for key, value in proof.items() if key not in IDENTIFYING_PROOF_KEYS}
        if kept != proof:
            record.proof = {**kept, "erased": True}
            changed.append(record)
    # The ledger's only update: proofs lose the device's identifiers (see module docstring).
    ConsentRecord.objects.bulk_update(changed, ["proof"], batch_size=500)
    return len(changed)
