"""API: bearer tokens and the caller's own profile."""

from __future__ import annotations

from flask import jsonify
from flask_babel import gettext as _
from flask_login import current_user
from pydantic import Field

from pitchtank.accounts import lockout, services, two_factor
from pitchtank.accounts.auth_loader import bearer_token, token_record
from pitchtank.accounts.models import EMAIL_MAX, PASSWORD_MAX, Role
from pitchtank.accounts.routes import login_rate_limit
from pitchtank.accounts.two_factor import CODE_MAX
from pitchtank.api import bp
from pitchtank.api.openapi import Response, operation
from pitchtank.api.schemas import Body, Out, UserOut, user_out
from pitchtank.api.validation import parse_json
from pitchtank.core.authz import require_login
from pitchtank.core.errors import NotAuthenticated, PermissionDenied, ValidationFailed
from pitchtank.core.problem import problem_response
from pitchtank.extensions import db


class TokenRequest(Body):
    email: str = Field(min_length=1, max_length=EMAIL_MAX)
    password: str = Field(min_length=1, max_length=PASSWORD_MAX)
    otp: str | None = Field(
        default=None, max_length=CODE_MAX,
        description="For accounts with two-factor authentication: the 6-digit code of the "
                    "authenticator app, or one of the account's recovery codes.",
    )


class TokenOut(Out):
    token: str
    user: UserOut


@operation(
    bp, "/tokens", "POST",
    summary="Exchange email and password for a bearer token",
    who="anyone; rate limited",
    body=TokenRequest,
    public=True,
    responses={
        201: Response("The token, shown only once", TokenOut),
        401: Response("Wrong email or password; or, with two-factor authentication on, "
                      "a code (`otp`) missing or not right"),
        403: Response("An organizer who has not set up two-factor authentication in the web app, or an "
                      "account whose email address is not confirmed yet"),
        422: Response("Invalid body"),
        429: Response("Too many attempts, or logins with this email paused after repeated failures"),
    },
    tag="accounts",
)
@login_rate_limit
def create_token():
    """Log in from an app or script."""
    data = parse_json(TokenRequest)
    if locked := lockout.seconds_locked(data.email):
        services.spend_password_check_time(data.password)
        return _locked(locked)
    user = services.authenticate(data.email, data.password)
    if user is None:
        locked = lockout.record_failure(data.email, services.find_user_by_email(data.email))
        db.session.commit()
        if locked:
            return _locked(locked)
        raise NotAuthenticated(_("The email or the password is not right."))
    second_factor = ""
    if user.two_factor_enabled:
        if not data.otp:
            return problem_response(401, _("This account uses two-factor authentication: send the code "
                                           "of your authenticator app in the otp field."),
                                    {"otp": [_("Send the 6-digit code of your authenticator app.")]})
        check = two_factor.check_code(user, data.otp)
        if not check.ok:
            locked = lockout.record_failure(user.email, user)
            db.session.commit()
            if locked:
                return _locked(locked)
            return problem_response(401, _("The two-factor code is not right."), {"otp": [two_factor.code_error(check)]})
        second_factor = check.method
    elif user.has_role(Role.ORGANIZER):
        raise PermissionDenied(_("Organizers need two-factor authentication for API tokens: log in to the "
                                 "web app, set it up under My account, then ask again with the code in otp."))
    lockout.record_success(user.email)
    services.record_login(user, channel="api", second_factor=second_factor)
    token = services.issue_token(user)
    db.session.commit()
    return jsonify({"token": token, "user": user_out(user)}), 201


def _locked(seconds: int):
    response = problem_response(429, lockout.locked_message(seconds))
    response.headers["Retry-After"] = str(seconds)
    return response


@operation(
    bp, "/tokens/current", "DELETE",
    summary="Revoke the bearer token in use",
    who="any user authenticated by a bearer token",
    responses={204: Response("Revoked"), 401: Response("No valid token"), 422: Response("Not a token request")},
    tag="accounts",
)
def revoke_current_token():
    """Log out an app or script."""
    require_login()
    token = bearer_token()
    record = token_record(token) if token else None
    if record is None:
        raise ValidationFailed(
            {"Authorization": [_("Send the token to revoke as a bearer token.")]},
            _("This request was not made with a bearer token."),
        )
    services.revoke_token(record)
    db.session.commit()
    return "", 204


@operation(
    bp, "/me", "GET",
    summary="The caller's own profile",
    who="any user",
    responses={200: Response("The profile", UserOut), 401: Response("Not logged in")},
    tag="accounts",
)
def me():
    """Who am I, with my roles and company."""
    require_login()
    return jsonify(user_out(current_user))
