"""Steward roles: which permissions each group holds.

The groups are created by a data migration (cdp_site 0002); their permissions are
re-synced after every `migrate`, because a new model's permissions only exist then.
"""

from __future__ import annotations

from consent.roles import FORBIDDEN_CODENAMES as CONSENT_FORBIDDEN_CODENAMES

OUR_APPS = ("consent", "profiles", "collection", "segments", "campaigns", "reports", "cdp_site")

VIEWER = "viewer"
STEWARD = "steward"
ADMIN = "admin"

# (app labels, actions) per role. Apps may narrow this later (e.g. the consent ledger
# is append-only: nobody gets change/delete on it, see consent.roles).
ROLE_GRANTS: dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]] = {
    VIEWER: [(OUR_APPS, ("view",)), (("consent",), ("mask",))],
    STEWARD: [
        (OUR_APPS, ("view", "add", "change", "delete")),
        # See personal data unmasked and export it (consent's custom permissions).
        (("consent",), ("unmask", "export")),
        (("django_celery_beat",), ("view", "change")),
    ],
    ADMIN: [
        (OUR_APPS, ("view", "add", "change", "delete")),
        # Only admins erase people.
        (("consent",), ("unmask", "export", "erase")),
        (("django_celery_beat", "auth", "core"), ("view", "add", "change", "delete")),
    ],
}

# Pages that show raw personal data without masking (a data-quality issue's raw value and
# suggestion, a duplicate pair side by side, an intake batch's JSON): viewers do not get
# them at all.
WITHHELD_FROM_VIEWERS: set[str] = {
    "view_dataqualityissue",
    "view_duplicatecandidate",
    "view_matchkey",
    "view_intakebatch",
}

# Codenames no role may hold (append-only or audit tables); apps add theirs.
FORBIDDEN_CODENAMES: set[str] = set(CONSENT_FORBIDDEN_CODENAMES)
