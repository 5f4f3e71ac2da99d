"""Invitations: organizers bring judges, investors and fellow organizers in with a link."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta

import segno
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update

from pitchtank.accounts import services as accounts
from pitchtank.accounts.models import Role, User
from pitchtank.audit.services import record
from pitchtank.core.errors import Conflict, NotFound, ValidationFailed
from pitchtank.core.types import utcnow
from pitchtank.events.models import PitchSession
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
        raise Conflict(invitation_refusal(invitation))
    return invitation


def invitation_refusal(invitation: Invitation) -> str:
    """Why a link no longer works, in words the invitee can act on."""
    if invitation.revoked_at is not None:
        return _("This invitation was revoked by the organizer. Ask them for a new one if you still need it.")
    if invitation.accepted_at is not None:
        return _("This invitation was already used: each invitation link works once. Log in, or ask the "
                 "organizer for a new one.")
    return _("This invitation has expired. Ask the organizer for a new one.")


def _mark_used(invitation: Invitation, user: User) -> None:
    # One conditional UPDATE claims the link, so that two people using it at once cannot both.
    now = utcnow()
    claimed = db.session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.accepted_at.is_(None),
               Invitation.revoked_at.is_(None), Invitation.expires_at > now)
        .values(accepted_at=now, accepted_by_id=user.id)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        db.session.refresh(invitation)
        raise Conflict(invitation_refusal(invitation))
    invitation.accepted_at = now
    invitation.accepted_by_id = user.id
    # A role granted by a link is a role change: audited like the organizer's own edits.
    record("invitation.accepted", actor=user, subject_type="user", subject_id=user.id,
           invitation_id=invitation.id, role=invitation.role.value, invited_by_id=invitation.created_by_id,
           organization_id=invitation.organization_id)


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
    if invitation.role == Role.ORGANIZER and not user.has_role(Role.ORGANIZER):
        accounts.revoke_all_tokens(user)  # an organizer's API tokens must come through two-factor login
    user.grant(invitation.role)
    _mark_used(invitation, user)
    db.session.flush()
    return user


def revoke(invitation: Invitation, actor: User | None = None) -> None:
    """Make an unused invitation link stop working."""
    if invitation.accepted_at is not None:
        raise Conflict(_("This invitation was already used."))
    if invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        record("invitation.revoked", actor=actor, subject_type="invitation", subject_id=invitation.id,
               role=invitation.role.value)
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


def login_link_refusal(link: LoginLink) -> str | None:
    """Why a judge's login code cannot log in now, or None if it can."""
    if link.revoked_at is not None:
        return _("This login code was revoked by the organizer. Ask them for a new one.")
    if link.used_at is not None:
        return _("This login code was already used: each code logs in once. Ask the organizer for a new one.")
    if link.expires_at <= utcnow():
        return _("This login code has expired. Ask the organizer for a new one.")
    if not link.user.is_active:
        return _("This account is not active. Ask the organizer.")
    session = db.session.get(PitchSession, link.session_id) if link.session_id else None
    if session is not None and not session.judge_logins_open:
        return _("New judge logins are switched off for this session right now. Ask the organizer to "
                 "switch them on; judges already logged in can keep scoring.")
    return None


def find_usable_login_link(token: str) -> LoginLink:
    link = _row_for_token(LoginLink, "login", token)
    if link is None:
        raise NotFound(_("This login code is not valid."))
    if refusal := login_link_refusal(link):
        raise Conflict(refusal)
    return link


def use_login_link(link: LoginLink) -> User:
    """Spend the code: one conditional UPDATE, so that two tablets scanning it at once cannot both log in."""
    if refusal := login_link_refusal(link):
        raise Conflict(refusal)
    now = utcnow()
    claimed = db.session.execute(
        update(LoginLink)
        .where(LoginLink.id == link.id, LoginLink.used_at.is_(None), LoginLink.revoked_at.is_(None),
               LoginLink.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        db.session.refresh(link)
        raise Conflict(login_link_refusal(link) or _("This login code can no longer be used."))
    link.used_at = now
    return link.user


def revoke_login_link(link: LoginLink, actor: User) -> None:
    """Make an unused login code stop working."""
    if link.used_at is not None:
        raise Conflict(_("This login code was already used; it cannot be revoked."))
    if link.revoked_at is None:
        link.revoked_at = utcnow()
        record("login_code.revoked", actor=actor, subject_type="login_code", subject_id=link.id,
               judge_id=link.user_id, session_id=link.session_id)
    db.session.flush()


def session_login_links(session: PitchSession, limit: int = 100) -> list[LoginLink]:
    """A session's judge login codes, newest first, for the organizer's list."""
    return list(db.session.scalars(
        select(LoginLink).where(LoginLink.session_id == session.id)
        .order_by(LoginLink.created_at.desc(), LoginLink.id.desc()).limit(limit)
    ))


def set_judge_logins(session: PitchSession, open_: bool, actor: User) -> bool:
    """Switch new judge logins by QR code on or off for ``session``; True if it changed.

    Judges already logged in keep their sessions: only the codes stop working while off.
    """
    if session.judge_logins_open == open_:
        return False
    session.judge_logins_open = open_
    record("judge_logins.switched_on" if open_ else "judge_logins.switched_off", actor=actor,
           subject_type="session", subject_id=session.id)
    db.session.flush()
    return True


def get_login_link(link_id: int) -> LoginLink:
    link = db.session.get(LoginLink, link_id)
    if link is None:
        raise NotFound(_("That login code does not exist."))
    return link
