"""Writes of the consent app. Import from here: `from consent.services import ...`."""

from consent.services.access import access_log_add, mask_value, may_unmask
from consent.services.ledger import consent_confirm, consent_record
from consent.services.merge import consent_records_move, consent_records_restore
from consent.services.pages import consent_preferences_update, consent_unsubscribe
from consent.services.person import person_erase, person_export
from consent.services.purposes import purpose_wording_add
from consent.services.requests import (
    dsar_create,
    dsar_erase,
    dsar_erasure_preview,
    dsar_execute,
    dsar_export,
    dsar_extend,
    dsar_object,
    dsar_rectify,
    dsar_reject,
    dsar_reminders_send,
    dsar_restrict,
    dsar_verify,
)
from consent.services.retention import retention_apply, retention_run
from consent.services.suppression import (
    suppression_add,
    suppression_digest,
    suppression_lift,
    suppression_return_confirm,
    suppression_return_request,
)

__all__ = [
    "access_log_add",
    "consent_confirm",
    "consent_preferences_update",
    "consent_record",
    "consent_records_move",
    "consent_records_restore",
    "consent_unsubscribe",
    "dsar_create",
    "dsar_erase",
    "dsar_erasure_preview",
    "dsar_execute",
    "dsar_export",
    "dsar_extend",
    "dsar_object",
    "dsar_rectify",
    "dsar_reject",
    "dsar_reminders_send",
    "dsar_restrict",
    "dsar_verify",
    "mask_value",
    "may_unmask",
    "person_erase",
    "person_export",
    "purpose_wording_add",
    "retention_apply",
    "retention_run",
    "suppression_add",
    "suppression_digest",
    "suppression_lift",
    "suppression_return_confirm",
    "suppression_return_request",
]
