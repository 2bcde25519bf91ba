"""The field lists of Profile and Event, defined once.

Ingestion, merges, person data (export, erasure, masking), the admin and the API read
them here, so a new field is added in one place.
"""

from __future__ import annotations

# Who the person is and how to reach them ...
_PERSON = ("email", "phone", "first_name", "last_name", "company", "job_title")
# ... and where they are.
_PLACE = ("address_line", "postcode", "city", "country", "date_of_birth", "language", "timezone")

# The standard fields a message (API call, form, import row) may set.
PROFILE_FIELDS: tuple[str, ...] = (*_PERSON, *_PLACE)

# Everything the CDP shows of a profile, in display order (the admin's read-only fields).
PROFILE_SHOWN_FIELDS: tuple[str, ...] = (
    "status",
    "merged_into",
    "lifecycle_stage",
    *_PERSON,
    "job_function",
    *_PLACE,
    "traits",
    "first_seen_at",
    "last_seen_at",
    "quality_score",
    "created_at",
    "updated_at",
)

# What the API answers for a profile.
PROFILE_OUTPUT_FIELDS: tuple[str, ...] = ("id", *PROFILE_SHOWN_FIELDS)

# Fields that name or locate the person: masked for viewers (admin and API).
PERSONAL_FIELDS: tuple[str, ...] = (
    *_PERSON,
    "address_line",
    "postcode",
    "city",
    "date_of_birth",
    "traits",
)

EVENT_UTM_FIELDS: tuple[str, ...] = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
)

# What an event says, beyond whose it is and which source sent it.
EVENT_FIELDS: tuple[str, ...] = (
    "type",
    "name",
    "properties",
    "context",
    *EVENT_UTM_FIELDS,
    "message_id",
    "occurred_at",
    "received_at",
)
