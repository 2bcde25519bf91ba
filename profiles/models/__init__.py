"""Models of the profiles app, one module per concern."""

from profiles.models.aggregates import EventAggregate
from profiles.models.core import (
    Event,
    FieldProvenance,
    Identity,
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
from profiles.models.merge import (
    BlockedIdentifier,
    IdentityConflict,
    IdentityRule,
    ProfileMerge,
)
from profiles.models.quality import (
    DataQualityIssue,
    JobFunctionRule,
    MaintenanceRun,
    QualityWeight,
    SurvivorshipRule,
)

__all__ = [
    "BlockedIdentifier",
    "DataQualityIssue",
    "DuplicateCandidate",
    "DuplicateScan",
    "DuplicateSettings",
    "Event",
    "EventAggregate",
    "FieldProvenance",
    "Identity",
    "IdentityConflict",
    "IdentityRule",
    "JobFunctionRule",
    "MaintenanceRun",
    "MatchKey",
    "Profile",
    "ProfileAudit",
    "ProfileMerge",
    "QualityWeight",
    "Source",
    "SurvivorshipRule",
]
