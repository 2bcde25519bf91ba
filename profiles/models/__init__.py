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
from profiles.models.forms import Form
from profiles.models.imports import ImportJob, ImportMapping
from profiles.models.quality import (
    DataQualityIssue,
    JobFunctionRule,
    MaintenanceRun,
    QualityWeight,
    SurvivorshipRule,
)

__all__ = [
    "DataQualityIssue",
    "Event",
    "FieldProvenance",
    "Form",
    "Identity",
    "ImportJob",
    "ImportMapping",
    "IntakeBatch",
    "JobFunctionRule",
    "MaintenanceRun",
    "Profile",
    "ProfileAudit",
    "QualityWeight",
    "Source",
    "SurvivorshipRule",
]
