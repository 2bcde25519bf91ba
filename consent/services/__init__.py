"""Writes of the consent app. Import from here: `from consent.services import ...`."""

from consent.services.ledger import consent_confirm, consent_record
from consent.services.merge import consent_records_move, consent_records_restore
from consent.services.pages import consent_preferences_update, consent_unsubscribe
from consent.services.purposes import purpose_wording_add

__all__ = [
    "consent_confirm",
    "consent_preferences_update",
    "consent_record",
    "consent_records_move",
    "consent_records_restore",
    "consent_unsubscribe",
    "purpose_wording_add",
]
