"""The access log: who viewed or exported which person's data, and masking for viewers."""

from __future__ import annotations

from typing import Any

from consent.models import AccessLog

UNMASK_PERMISSION = "consent.unmask_personal_data"
MASK_PERMISSION = "consent.mask_personal_data"
EXPORT_PERMISSION = "consent.export_personal_data"
ERASE_PERMISSION = "consent.erase_personal_data"


def may_unmask(user: Any) -> bool:
    """Only a user holding the unmask permission (stewards, admins, superusers) sees data.

    Fail closed: a viewer, a staff account in no group and anyone else see it masked.
    """
    if not (user and getattr(user, "is_authenticated", False)):
        return False
    return bool(user.has_perm(UNMASK_PERMISSION))


def access_log_add(*, user: Any, action: str, what: str, profile_id: int | None) -> AccessLog:
    """Log one view or export of a person's data (ids only, never the data itself)."""
    return AccessLog.objects.create(
        user=user if getattr(user, "is_authenticated", False) else None,
        action=action,
        what=what[:60],
        profile_id=profile_id,
        masked=not may_unmask(user),
    )


def mask_value(value: Any) -> Any:
    """Keep the shape, hide the person: "ada@example.org" -> "a***@e***", "+3361…" -> "+33***"."""
    if value in (None, "") or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {key: mask_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_value(item) for item in value]
    text = str(value)
    if "@" in text:
        local, _, domain = text.partition("@")
        return f"{local[:1]}***@{domain[:1]}***"
    if text.startswith("+"):
        return text[:3] + "***"
    return text[:1] + "***"
