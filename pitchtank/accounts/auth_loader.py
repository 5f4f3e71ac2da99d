"""How a request is tied to a user: the login session cookie or a bearer token."""

from __future__ import annotations

from flask import Flask, request
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from pitchtank.accounts.models import ApiToken, User, hash_token
from pitchtank.core.types import utcnow
from pitchtank.extensions import db, login_manager


@login_manager.user_loader
def load_user_from_session(session_id: str) -> User | None:
    user_id, _, version = session_id.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.session_version != int(version):
        return None
    return user


@login_manager.request_loader
def load_user_from_bearer_token(req) -> User | None:
    token = bearer_token()
    if not token:
        return None
    api_token = token_record(token)
    return api_token.user if api_token and api_token.user.is_active else None


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme == "Bearer" else None


def token_record(token: str) -> ApiToken | None:
    api_token = db.session.scalar(
        select(ApiToken).options(joinedload(ApiToken.user)).where(ApiToken.token_hash == hash_token(token))
    )
    if api_token is None or api_token.revoked_at is not None or api_token.expires_at <= utcnow():
        return None
    return api_token


def init_app(app: Flask) -> None:
    login_manager.login_view = "accounts.login"
    login_manager.session_protection = "basic"
