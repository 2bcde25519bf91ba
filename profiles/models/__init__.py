"""Models of the profiles app, one module per concern."""

from profiles.models.core import (
    Event,
    FieldProvenance,
    Identity,
    IntakeBatch,
    Profile,
    ProfileAudit,
    Source,
)
from profiles.models.duplicates import (
    DuplicateCandidate,
    DuplicateScan,
    DuplicateSettings,
    MatchKey,
)
from profiles.models.forms import Form
from profiles.models.imports import ImportJob, ImportMapping
from profiles.models.merge import (
    BlockedIdentifier,
    IdentityConflict,
    IdentityRule,
    ProfileMerge,
)

__all__ = [
    "BlockedIdentifier",
    "DuplicateCandidate",
    "DuplicateScan",
    "DuplicateSettings",
    "Event",
    "FieldProvenance",
    "Form",
    "Identity",
    "IdentityConflict",
    "IdentityRule",
    "ImportJob",
    "ImportMapping",
    "IntakeBatch",
    "MatchKey",
    "Profile",
    "ProfileAudit",
    "ProfileMerge",
    "Source",
]
