"""Invitations: organizers bring judges, investors and fellow organizers in with a link."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta

import segno
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from pitchtank.accounts import services as accounts
from pitchtank.accounts.models import Role, User
from pitchtank.core.errors import Conflict, NotFound, ValidationFailed
from pitchtank.core.types import utcnow
from pitchtank.extensions import db
from pitchtank.invitations.models import Invitation, LoginLink
from pitchtank.organizations.models import Organization

INVITABLE_ROLES = (Role.JUDGE, Role.INVESTOR, Role.ORGANIZER)
MAX_TTL_HOURS = 24 * 30


def _signed_token(kind: str, row_id: int, nonce: str) -> str:
    """``<id>-<HMAC>``: recomputable by the server while it lasts, unforgeable from the database alone."""
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, f"{kind}:{row_id}:{nonce}".encode(), hashlib.sha256).digest()
    return f"{row_id}-{base64.urlsafe_b64encode(digest[:24]).decode().rstrip('=')}"


def _row_for_token(model, kind: str, token: str):
    row_id, _sep, _sig = token.partition("-")
    row = db.session.get(model, int(row_id)) if row_id.isdigit() and len(row_id) < 12 else None
    if row is None or not hmac.compare_digest(_signed_token(kind, row.id, row.nonce), token):
        return None
    return row


def invitation_token(invitation: Invitation) -> str:
    return _signed_token("invitation", invitation.id, invitation.nonce)


def create_invitation(
    actor: User, *, role: Role, invitee_name: str = "", organization: Organization | None = None,
    ttl_hours: int | None = None,
) -> Invitation:
    """An invitation link for one person; the caller commits."""
    ttl_hours = ttl_hours or current_app.config["INVITATION_TTL_HOURS"]
    errors: dict[str, list[str]] = {}
    if role not in INVITABLE_ROLES:
        errors["role"] = [_("Choose a role for the invitation.")]
    if role == Role.INVESTOR and organization is None:
        errors["organization_id"] = [_("An investor represents a member company: choose one.")]
    if not 1 <= ttl_hours <= MAX_TTL_HOURS:
        errors["ttl_hours"] = [_("Between 1 hour and 30 days.")]
    if len(invitee_name.strip()) > 120:
        errors["invitee_name"] = [_("Use at most %(n)s characters.", n=120)]
    if errors:
        raise ValidationFailed(errors, _("Some fields are not valid."))
    invitation = Invitation(
        nonce=Invitation.new_nonce(), role=role, invitee_name=invitee_name.strip(),
        organization=organization if role == Role.INVESTOR else None,
        created_by_id=actor.id, expires_at=utcnow() + timedelta(hours=ttl_hours),
    )
    db.session.add(invitation)
    db.session.flush()
    return invitation


def find_usable(token: str) -> Invitation:
    """The invitation behind a link, if it can still be used."""
    invitation = _row_for_token(Invitation, "invitation", token)
    if invitation is None:
        raise NotFound(_("This invitation link is not valid."))
    if not invitation.usable_at(utcnow()):
        raise Conflict(_("This invitation has expired, was revoked or was already used. Ask the organizer for a new one."))
    return invitation


def _mark_used(invitation: Invitation, user: User) -> None:
    invitation.accepted_at = utcnow()
    invitation.accepted_by_id = user.id


def accept_with_new_account(invitation: Invitation, *, name: str, email: str, password: str, language: str) -> User:
    user = accounts.register_user(
        email=email, name=name, password=password, roles=[invitation.role],
        language=language, organization=invitation.organization,
    )
    _mark_used(invitation, user)
    db.session.flush()
    return user


def accept_as(invitation: Invitation, user: User) -> User:
    """Give an existing account the invited role."""
    if invitation.role == Role.INVESTOR:
        if user.organization is not None and user.organization_id != invitation.organization_id:
            raise Conflict(_("Your account already represents another member company."))
        user.organization = invitation.organization
    user.grant(invitation.role)
    _mark_used(invitation, user)
    db.session.flush()
    return user


def revoke(invitation: Invitation) -> None:
    if invitation.accepted_at is not None:
        raise Conflict(_("This invitation was already used."))
    invitation.revoked_at = invitation.revoked_at or utcnow()
    db.session.flush()


def qr_svg_data_uri(url: str) -> str:
    return segno.make(url, error="m").svg_data_uri(scale=8, border=2, dark="#111", light="#fff")


def recent_invitations(limit: int = 200) -> list[Invitation]:
    return list(db.session.scalars(select(Invitation).order_by(Invitation.created_at.desc()).limit(limit)))


def get_invitation(invitation_id: int) -> Invitation:
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None:
        raise NotFound(_("That invitation does not exist."))
    return invitation


LOGIN_LINK_MINUTES = 120


def login_link_token(link: LoginLink) -> str:
    return _signed_token("login", link.id, link.nonce)


def create_login_link(actor: User, judge: User, session) -> LoginLink:
    """A QR-code login for one judge of ``session``, valid once and for two hours."""
    if not judge.has_role(Role.JUDGE) or not session.has_judge(judge):
        raise ValidationFailed({"user_id": [_("Only a judge of this session can get a login code.")]})
    link = LoginLink(nonce=Invitation.new_nonce(), user_id=judge.id, session_id=session.id,
                     created_by_id=actor.id, expires_at=utcnow() + timedelta(minutes=LOGIN_LINK_MINUTES))
    db.session.add(link)
    db.session.flush()
    return link


def find_usable_login_link(token: str) -> LoginLink:
    link = _row_for_token(LoginLink, "login", token)
    if link is None:
        raise NotFound(_("This login code is not valid."))
    if not link.usable_at(utcnow()) or not link.user.is_active:
        raise Conflict(_("This login code has expired or was already used. Ask the organizer for a new one."))
    return link


def use_login_link(link: LoginLink) -> User:
    link.used_at = utcnow()
    db.session.flush()
    return link.user


def get_login_link(link_id: int) -> LoginLink:
    link = db.session.get(LoginLink, link_id)
    if link is None:
        raise NotFound(_("That login code does not exist."))
    return link
