"""Password reset by email: a single-use link that works for an hour.

The link is signed with a purpose salt and carries a fingerprint of the account's current
password hash, so it dies the moment the password changes (its own use included). Asking for
a link never says whether the address has an account.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from pitchtank.accounts import services
from pitchtank.accounts.models import EMAIL_MAX, User
from pitchtank.audit.services import record
from pitchtank.core.errors import Conflict, NotFound, ValidationFailed
from pitchtank.core.types import utcnow
from pitchtank.extensions import db
from pitchtank.notices.services import external_url, queue_email

RESET_SALT = "pitchtank.password-reset"
RESET_MAX_AGE = timedelta(hours=1)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=RESET_SALT)


def _fingerprint(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:32]


def reset_token(user: User) -> str:
    return _serializer().dumps({"u": user.id, "p": _fingerprint(user), "n": secrets.token_urlsafe(6)})


def request_reset(email: str) -> None:
    """Mail a reset link if an active account has this address; silently nothing otherwise."""
    email = (email or "")[:EMAIL_MAX]
    user = services.find_user_by_email(email)
    if user is None or not user.is_active:
        return
    token = reset_token(user)
    digest = hashlib.sha256(token.encode()).hexdigest()[:24]
    queue_email(user, "password_reset", dedupe_key=f"password-reset:{user.id}:{digest}", context={
        "reset_url": external_url("accounts.reset_password", token=token),
        "valid_minutes": int(RESET_MAX_AGE.total_seconds() // 60),
    })


def user_for_token(token: str, *, for_update: bool = False) -> User:
    """The account a reset link is for, while the link is still good."""
    try:
        data = _serializer().loads(token, max_age=int(RESET_MAX_AGE.total_seconds()))
    except SignatureExpired:
        raise Conflict(_("This password reset link has expired. Ask for a new one.")) from None
    except BadSignature:
        raise NotFound(_("This password reset link is not valid.")) from None
    user_id = data.get("u") if isinstance(data, dict) else None
    user = None
    if isinstance(user_id, int):
        statement = select(User).where(User.id == user_id)
        if for_update:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        user = db.session.scalar(statement)
    if user is None or not user.is_active:
        raise NotFound(_("This password reset link is not valid."))
    if data.get("p") != _fingerprint(user):
        raise Conflict(_("This password reset link was already used. Ask for a new one."))
    return user


def reset_password(token: str, new_password: str) -> User:
    """Set the new password; every session and API token of the account ends. The caller commits."""
    user = user_for_token(token, for_update=True)
    if problems := services.password_problems(new_password):
        raise ValidationFailed({"password": problems}, _("Some fields are not valid."))
    user.password_hash = services.hash_password(new_password)
    user.session_version += 1  # every browser session of this account ends
    services.revoke_all_tokens(user)  # and every API token, as a password change does
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()  # the link reached the mailbox: the address is theirs
    record("password.reset", actor=user, subject_type="user", subject_id=user.id)
    db.session.flush()
    return user
