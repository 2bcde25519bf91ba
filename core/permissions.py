"""Staff API authorisation: each view action needs the Django permissions it declares.

Every staff view names, per action (a viewset's `list`, `merge` …, or an `APIView`'s
HTTP method in lower case), the permissions a user must hold in `required_permissions`.
An action the view does not name is refused, and so is any user who is not an active
staff member: a staff account in no group may do nothing. `OPTIONS` (DRF's `metadata`)
takes the permissions of the view's read action.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

# A view's read action, in the order it is looked up for OPTIONS requests.
_READ_ACTIONS = ("list", "retrieve", "get")


def required_permissions(view: Any, request: Request) -> Sequence[str] | None:
    """The permissions the request's action needs, or None if the view does not say."""
    declared: Mapping[str, Sequence[str]] | None = getattr(view, "required_permissions", None)
    if not declared:
        return None
    action = getattr(view, "action", None) or (request.method or "").lower()
    if action == "head":
        action = "get"
    if action in ("metadata", "options"):
        return next((declared[name] for name in _READ_ACTIONS if name in declared), None)
    return declared.get(action)


class HasActionPermissions(BasePermission):
    """Fail closed: an active staff user holding every permission the action declares."""

    message = _("Your role does not allow this action.")

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active and user.is_staff):
            return False
        if getattr(view, (request.method or "").lower(), None) is None:
            return True  # no handler: DRF answers 405, nothing runs
        needed = required_permissions(view, request)
        if needed is None:
            return False
        return bool(user.has_perms(needed))


class IsActiveStaff(BasePermission):
    """Pages that hold no data (the API root, its schema and docs): any active staff user."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.is_staff)
