"""Permissions no steward role may hold on consent tables (read by cdp_site.roles).

The ledger is append-only: rows are added through the services (forms, API, the admin's
"Record a decision" page), never changed or deleted. Wordings are never edited either:
old proofs point at the text the person saw. Request trails, the access log, the
suppression list and retention runs are logs: nobody edits them either.
"""

FORBIDDEN_CODENAMES: frozenset[str] = frozenset(
    {
        "change_consentrecord",
        "delete_consentrecord",
        "change_purposeversion",
        # Audit trails and the suppression list are written by the services only.
        "change_datasubjectrequestevent",
        "delete_datasubjectrequestevent",
        "delete_datasubjectrequest",
        "change_accesslog",
        "delete_accesslog",
        "change_suppression",
        "delete_suppression",
        "change_retentionrun",
        "delete_retentionrun",
    }
)
