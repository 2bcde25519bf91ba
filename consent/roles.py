"""Permissions no steward role may hold on consent tables (read by cdp_site.roles).

The ledger is append-only: rows are added through the services (forms, API, the admin's
"Record a decision" page), never changed or deleted. Wordings are never edited either:
old proofs point at the text the person saw.
"""

FORBIDDEN_CODENAMES: frozenset[str] = frozenset(
    {"change_consentrecord", "delete_consentrecord", "change_purposeversion"}
)
