"""Accounts: sign-up, authentication, API tokens and role management."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, inspect, select
from werkzeug.security import check_password_hash, generate_password_hash

from pitchtank.accounts.models import (
    EMAIL_MAX,
    LANGUAGE_CHOICES,
    NAME_MAX,
    PASSWORD_MAX,
    PASSWORD_MIN,
    ApiToken,
    Role,
    User,
    hash_token,
    normalize_email,
)
from pitchtank.audit.services import record
from pitchtank.core.errors import PermissionDenied, ValidationFailed
from pitchtank.core.types import utcnow
from pitchtank.extensions import db
from pitchtank.organizations.models import Organization

TOKEN_LIFETIME = timedelta(days=30)
# Verifying against this keeps "no such user" as slow as "wrong password".
_DUMMY_HASH_CACHE: dict[str, str] = {}


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def _dummy_hash() -> str:
    method = current_app.config["PASSWORD_HASH_METHOD"]
    if method not in _DUMMY_HASH_CACHE:
        _DUMMY_HASH_CACHE[method] = generate_password_hash("not-a-password", method=method)
    return _DUMMY_HASH_CACHE[method]


def password_problems(password: str) -> list[str]:
    if len(password) < PASSWORD_MIN:
        return [_("Use at least %(n)s characters.", n=PASSWORD_MIN)]
    if len(password) > PASSWORD_MAX:
        return [_("Use at most %(n)s characters.", n=PASSWORD_MAX)]
    return []


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def register_user(
    *,
    email: str,
    name: str,
    password: str,
    roles: Iterable[Role] = (Role.ENTREPRENEUR,),
    language: str = "es_MX",
    organization: Organization | None = None,
    email_verified: bool = False,
) -> User:
    """Create an account; the caller commits. Unless ``email_verified`` (made by an organizer
    or the command line), a confirmation link is mailed once the transaction commits."""
    errors: dict[str, list[str]] = {}
    email = normalize_email(email)
    name = name.strip()
    if not email or "@" not in email or len(email) > EMAIL_MAX:
        errors["email"] = [_("Enter a valid email address.")]
    elif find_user_by_email(email) is not None:
        errors["email"] = [_("An account with this email already exists.")]
    if not name or len(name) > NAME_MAX:
        errors["name"] = [_("Enter a name of at most %(n)s characters.", n=NAME_MAX)]
    if problems := password_problems(password):
        errors["password"] = problems
    roles = set(roles)
    if Role.INVESTOR in roles and organization is None:
        errors["organization"] = [_("An investor represents a member company.")]
    if errors:
        raise ValidationFailed(errors, _("Some fields are not valid."))
    user = User(
        email=email,
        name=name,
        password_hash=hash_password(password),
        language=language if language in LANGUAGE_CHOICES else "es_MX",
        organization=organization,
    )
    for role in sorted(roles):
        user.grant(role)
    if email_verified:
        user.email_verified_at = utcnow()
    db.session.add(user)
    db.session.flush()
    if not email_verified:
        from pitchtank.accounts.verification import send_verification

        send_verification(user)
    return user


def authenticate(email: str, password: str) -> User | None:
    """The active user with these credentials, or None."""
    user = find_user_by_email(email) if len(email) <= EMAIL_MAX else None
    if user is None:
        check_password_hash(_dummy_hash(), password[:PASSWORD_MAX])
        return None
    if not check_password_hash(user.password_hash, password[:PASSWORD_MAX]) or not user.is_active:
        return None
    return user


def spend_password_check_time(password: str) -> None:
    """As slow as checking a real password, for answers that must not reveal whether one was."""
    check_password_hash(_dummy_hash(), password[:PASSWORD_MAX])


def record_login(user: User, *, channel: str, second_factor: str = "") -> None:
    """Organizers' logins go to the audit log (they move money and publish results)."""
    if user.has_role(Role.ORGANIZER):
        from pitchtank.audit.services import record

        record("account.login", actor=user, subject_type="user", subject_id=user.id, channel=channel,
               second_factor=second_factor or "none")


def issue_token(user: User) -> str:
    """A new bearer token for ``user``; only its hash is kept."""
    from pitchtank.accounts.verification import require_verified_email

    require_verified_email(user)
    secret = ApiToken.new_secret()
    db.session.add(
        ApiToken(user=user, token_hash=hash_token(secret), expires_at=utcnow() + TOKEN_LIFETIME)
    )
    db.session.flush()
    return secret


def revoke_token(token: ApiToken) -> None:
    token.revoked_at = utcnow()
    db.session.flush()


def revoke_all_tokens(user: User) -> int:
    """Revoke every live API token of ``user``; returns how many.

    Row by row through the ORM, so that the per-process authentication cache hears of it.
    """
    now = utcnow()
    tokens = db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ).all()
    for token in tokens:
        token.revoked_at = now
    db.session.flush()
    return len(tokens)


def set_roles(user: User, roles: Iterable[Role], *, actor: User) -> None:
    """Replace a user's roles; organizers cannot remove their own organizer role."""
    roles = set(roles)
    if user.deleted_at is not None:
        raise ValidationFailed({"roles": [_("This account was deleted; it cannot get roles again.")]})
    if user.id == actor.id and Role.ORGANIZER not in roles:
        raise PermissionDenied(_("You cannot remove your own organizer role."))
    before = sorted(role.value for role in user.roles)
    company_changed = inspect(user).attrs.organization.history.has_changes()
    if Role.INVESTOR in roles and user.organization is None:
        raise ValidationFailed(
            {"roles": [_("Link the user to a member company before making them an investor.")]}
        )
    for role in user.roles - roles:
        user.revoke(role)
    if Role.ORGANIZER in roles - user.roles:
        # An organizer's API tokens must come through two-factor login: older ones stop.
        revoke_all_tokens(user)
    for role in roles - user.roles:
        user.grant(role)
    db.session.flush()
    after = sorted(role.value for role in user.roles)
    if before != after or company_changed:
        record("user.roles_changed", actor=actor, subject_type="user", subject_id=user.id,
               before=before, after=after, organization_id=user.organization_id)


def change_password(user: User, current: str, new: str) -> None:
    if not check_password_hash(user.password_hash, current[:PASSWORD_MAX]):
        raise ValidationFailed({"current_password": [_("The current password is not right.")]})
    if problems := password_problems(new):
        raise ValidationFailed({"new_password": problems})
    if new == current:
        raise ValidationFailed({"new_password": [_("Choose a password different from the current one.")]})
    user.password_hash = hash_password(new)
    user.session_version += 1  # every other browser session of this user ends
    revoke_all_tokens(user)  # and so does every app or script holding one of its API tokens
    db.session.flush()


def count_users() -> int:
    return db.session.scalar(select(func.count(User.id))) or 0
