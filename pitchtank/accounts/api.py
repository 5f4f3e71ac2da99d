"""API: bearer tokens and the caller's own profile."""

from __future__ import annotations

from flask import jsonify
from flask_babel import gettext as _
from flask_login import current_user
from pydantic import Field

from pitchtank.accounts import services
from pitchtank.accounts.auth_loader import bearer_token, token_record
from pitchtank.accounts.models import EMAIL_MAX, PASSWORD_MAX
from pitchtank.accounts.routes import login_rate_limit
from pitchtank.api import bp
from pitchtank.api.openapi import Response, operation
from pitchtank.api.schemas import Body, Out, UserOut, user_out
from pitchtank.api.validation import parse_json
from pitchtank.core.authz import require_login
from pitchtank.core.errors import NotAuthenticated, ValidationFailed
from pitchtank.extensions import db


class TokenRequest(Body):
    email: str = Field(min_length=1, max_length=EMAIL_MAX)
    password: str = Field(min_length=1, max_length=PASSWORD_MAX)


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
        401: Response("Wrong email or password"),
        422: Response("Invalid body"),
        429: Response("Too many attempts"),
    },
    tag="accounts",
)
@login_rate_limit
def create_token():
    """Log in from an app or script."""
    data = parse_json(TokenRequest)
    user = services.authenticate(data.email, data.password)
    if user is None:
        raise NotAuthenticated(_("The email or the password is not right."))
    token = services.issue_token(user)
    db.session.commit()
    return jsonify({"token": token, "user": user_out(user)}), 201


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
