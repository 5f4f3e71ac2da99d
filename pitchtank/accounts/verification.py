"""Email verification: a signed, expiring link mailed at sign-up; what waits for it.

The link carries the account's id and address, signed with a purpose salt; it expires after
``VERIFY_MAX_AGE`` and does nothing once the address is confirmed (``email_verified_at``),
nor after the address changed. Until then the person can log in and look around, but cannot
apply to events, pledge, make offers or create API tokens (``require_verified_email``).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from pitchtank.accounts.models import User
from pitchtank.core.errors import Conflict, NotFound, PermissionDenied
from pitchtank.core.types import utcnow
from pitchtank.extensions import db
from pitchtank.notices.services import external_url, queue_email

VERIFY_SALT = "pitchtank.email-verification"
VERIFY_MAX_AGE = timedelta(days=3)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=VERIFY_SALT)


def verification_token(user: User) -> str:
    # The nonce makes every link (and its email's dedupe key) distinct, even within a second.
    return _serializer().dumps({"u": user.id, "e": user.email, "n": secrets.token_urlsafe(6)})


def send_verification(user: User) -> None:
    """Queue the email with a fresh link (in the caller's transaction)."""
    token = verification_token(user)
    digest = hashlib.sha256(token.encode()).hexdigest()[:24]
    queue_email(user, "email_verification", dedupe_key=f"verify-email:{user.id}:{digest}", context={
        "verify_url": external_url("accounts.verify_email", token=token),
        "valid_days": VERIFY_MAX_AGE.days,
    })


def confirm(token: str) -> tuple[User, bool]:
    """The account the link confirms, and whether this call confirmed it (False: already was)."""
    try:
        data = _serializer().loads(token, max_age=int(VERIFY_MAX_AGE.total_seconds()))
    except SignatureExpired:
        raise Conflict(_("This confirmation link has expired. Log in and ask for a new one.")) from None
    except BadSignature:
        raise NotFound(_("This confirmation link is not valid.")) from None
    user_id = data.get("u") if isinstance(data, dict) else None
    user = db.session.scalar(select(User).where(User.id == user_id).with_for_update()) \
        if isinstance(user_id, int) else None
    if user is None or user.email != data.get("e"):
        raise NotFound(_("This confirmation link is not valid."))
    if user.email_verified_at is not None:
        return user, False
    user.email_verified_at = utcnow()
    db.session.flush()
    return user, True


def require_verified_email(user: User) -> None:
    """Refuse what needs a confirmed address: applying, pledging, offers and API tokens."""
    if getattr(user, "email_verified_at", None) is None:
        raise PermissionDenied(_(
            "Confirm your email address first: open the link we sent to %(email)s, "
            "or ask for a new one on your account page.", email=user.email))
