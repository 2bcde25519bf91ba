"""Probable duplicates: `from profiles.services.duplicates import duplicates_scan, ...`."""

from profiles.services.duplicates.conflicts import identity_conflicts_score
from profiles.services.duplicates.decide import (
    DECISIONS,
    MERGE,
    NOT_SAME_PERSON,
    CandidateDecided,
    CandidateNotFound,
    duplicate_decide,
    duplicate_settings_update,
)
from profiles.services.duplicates.scan import (
    ScanCounts,
    duplicate_settings_get,
    duplicates_full_scan_batch,
    duplicates_full_scan_start,
    duplicates_scan,
    duplicates_scan_batch,
    duplicates_scan_profiles,
)

__all__ = [
    "DECISIONS",
    "MERGE",
    "NOT_SAME_PERSON",
    "CandidateDecided",
    "CandidateNotFound",
    "ScanCounts",
    "duplicate_decide",
    "duplicate_settings_get",
    "duplicate_settings_update",
    "duplicates_full_scan_batch",
    "duplicates_full_scan_start",
    "duplicates_scan",
    "duplicates_scan_batch",
    "duplicates_scan_profiles",
    "identity_conflicts_score",
]
