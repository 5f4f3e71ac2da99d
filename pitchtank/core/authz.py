"""Who may do what: one decorator for roles, used by pages and the API alike."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from flask_babel import gettext as _
from flask_login import current_user

from pitchtank.accounts.models import Role
from pitchtank.core.errors import NotAuthenticated, PermissionDenied

F = TypeVar("F", bound=Callable)


def require_login() -> None:
    if not current_user.is_authenticated:
        raise NotAuthenticated(_("Please log in to continue."))


def require_role(*roles: Role) -> None:
    require_login()
    if roles and not current_user.has_role(*roles):
        raise PermissionDenied(_("Your account does not have permission to do this."))


def login_required(view: F) -> F:
    @wraps(view)
    def wrapped(*args, **kwargs):
        require_login()
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def roles_required(*roles: Role) -> Callable[[F], F]:
    """Refuse anonymous callers (401) and users without one of ``roles`` (403)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args, **kwargs):
            require_role(*roles)
            return view(*args, **kwargs)

        wrapped.required_roles = roles  # read by the authorization table test
        return wrapped  # type: ignore[return-value]

    return decorator
