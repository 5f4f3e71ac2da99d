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


# Pages a session must reach before its second factor is verified: the two-factor pages
# themselves, logging out, the language switch, the health checks and metrics (which must
# never load the user or touch the session cookie) and the token exchange.
SECOND_FACTOR_EXEMPT = {"static", "accounts.logout", "two_factor.setup", "two_factor.verify",
                        "core.set_language", "core.healthz", "core.readyz", "core.metrics",
                        "api.create_token"}


def enforce_second_factor():
    """Organizers (and anyone who turned two-factor on) act only from sessions verified with a code.

    One ``before_request`` hook covers every page and API call made with the session cookie, so
    no organizer page or action can forget it; bearer tokens are exempt because organizers only
    get them with a code (``POST /api/v1/tokens``).
    """
    from flask import redirect, request, session, url_for

    from pitchtank.accounts import two_factor

    if request.endpoint in SECOND_FACTOR_EXEMPT or request.endpoint is None or "_user_id" not in session:
        return None
    user = current_user
    if not user.is_authenticated or not two_factor.required_for(user) or two_factor.session_verified(user):
        return None
    if request.path.startswith("/api/"):
        raise PermissionDenied(
            _("Organizers need two-factor authentication: set it up and confirm a code in the web app first.")
        )
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    if user.two_factor_enabled:
        return redirect(url_for("two_factor.verify", next=target))
    return redirect(url_for("two_factor.setup", next=target))
