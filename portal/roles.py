"""Review roles through Django groups: who may read, review (select, edit) and approve.

The groups are created by a migration; their names are the contract with the
admin, so they never change. A superuser may do everything; staff without a role
group may only read. Fetching, creating, retrying and extending requests are
operator work and need "review". Inactive or non-staff users may do nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied


class Role(enum.StrEnum):
    """A role is a Django group of this name."""

    VIEWER = "Viewer"
    REVIEWER = "Reviewer"
    APPROVER = "Approver"


ACTIONS = ("view", "review", "approve")
# Which roles allow each action (superusers may do all of them).
_ALLOWED: dict[str, frozenset[Role | None]] = {
    # None: staff without any role group still read.
    "view": frozenset({None, Role.VIEWER, Role.REVIEWER, Role.APPROVER}),
    "review": frozenset({Role.REVIEWER}),
    "approve": frozenset({Role.APPROVER}),
}
_CACHE_ATTR = "_review_roles_cache"


def user_roles(user: Any) -> set[Role]:
    """The user's roles, read once per user object (a request's user is reused)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return set()
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is None:
        names = set(user.groups.values_list("name", flat=True))
        cached = {role for role in Role if role.value in names}
        setattr(user, _CACHE_ATTR, cached)
    return set(cached)


def user_roles_forget(user: Any) -> None:
    """Drop the cached roles (after changing the user's groups)."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def user_can(user: Any, action: str) -> bool:
    """Whether ``user`` may do ``action`` ("view", "review" or "approve")."""
    if action not in _ALLOWED:
        raise ValueError(f"Unknown action {action!r}; expected one of {ACTIONS}.")
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if not user.is_active or not user.is_staff:
        return False
    if user.is_superuser:
        return True
    roles: set[Role | None] = set(user_roles(user)) or {None}
    if action == "view":
        roles.add(None)
    return bool(roles & _ALLOWED[action])


def require_role(user: Any, action: str) -> None:
    """Raise ``PermissionDenied`` unless ``user`` may do ``action`` (for services)."""
    if not user_can(user, action):
        raise PermissionDenied(f"Your role does not allow this ({action}).")


def role_required(action: str) -> Callable:
    """View decorator: sign in first, then 403 unless the user may do ``action``."""
    if action not in _ALLOWED:
        raise ValueError(f"Unknown action {action!r}; expected one of {ACTIONS}.")

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            require_role(request.user, action)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def role_group(role: Role):
    """The group of a role (created if a database lacks it, e.g. before migrating)."""
    from django.contrib.auth.models import Group

    return Group.objects.get_or_create(name=role.value)[0]


def user_roles_set(user: Any, roles: set[Role] | list[Role]) -> None:
    """Make the role groups of ``user`` exactly ``roles`` (other groups untouched)."""
    wanted = {Role(r) for r in roles}
    for role in Role:
        group = role_group(role)
        if role in wanted:
            user.groups.add(group)
        else:
            user.groups.remove(group)
    user_roles_forget(user)
