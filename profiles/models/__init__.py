"""Models of the profiles app, one module per concern."""

from profiles.models.aggregates import EventAggregate
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

__all__ = [
    "Event",
    "EventAggregate",
    "FieldProvenance",
    "Form",
    "Identity",
    "ImportJob",
    "ImportMapping",
    "IntakeBatch",
    "Profile",
    "ProfileAudit",
    "Source",
]
