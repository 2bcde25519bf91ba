"""Models of the consent app: the ledger (purposes, wordings, decisions) and GDPR work."""

from consent.models.gdpr import (
    AccessLog,
    DataSubjectRequest,
    DataSubjectRequestEvent,
    RequestKind,
    RequestStatus,
    RetentionPolicy,
    RetentionRun,
    Suppression,
)
from consent.models.ledger import (
    PURPOSE_CODE_RE,
    Channel,
    ConsentMethod,
    ConsentRecord,
    ConsentStatus,
    LegalBasis,
    Purpose,
    PurposeVersion,
)

__all__ = [
    "PURPOSE_CODE_RE",
    "AccessLog",
    "Channel",
    "ConsentMethod",
    "ConsentRecord",
    "ConsentStatus",
    "DataSubjectRequest",
    "DataSubjectRequestEvent",
    "LegalBasis",
    "Purpose",
    "PurposeVersion",
    "RequestKind",
    "RequestStatus",
    "RetentionPolicy",
    "RetentionRun",
    "Suppression",
]
