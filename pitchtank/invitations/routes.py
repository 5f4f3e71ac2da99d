"""Pages: organizers create invitation links and QR codes; invitees accept them."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user

from pitchtank.accounts.models import Role, User
from pitchtank.core.authz import roles_required
from pitchtank.core.errors import Conflict, NotFound, ValidationFailed
from pitchtank.core.forms import ConfirmForm, apply_errors, safe_next_url
from pitchtank.events.services import get_session
from pitchtank.extensions import db
from pitchtank.invitations import services
from pitchtank.invitations.forms import AcceptInvitationForm, InvitationForm, JudgeLoginsForm
from pitchtank.organizations.services import all_organizations, get_organization

bp = Blueprint("invitations", __name__)


def _invitation_form() -> InvitationForm:
    form = InvitationForm()
    form.organization_id.choices = [(0, _("None"))] + [(o.id, o.name) for o in all_organizations()]
    return form


@bp.route("/invitations", methods=["GET", "POST"])
@roles_required(Role.ORGANIZER)
def index():
    """Organizers: invite someone, and see every invitation's state."""
    form = _invitation_form()
    if form.validate_on_submit():
        organization = get_organization(form.organization_id.data) if form.organization_id.data else None
        try:
            invitation = services.create_invitation(
                current_user, role=Role(form.role.data), invitee_name=form.invitee_name.data or "",
                organization=organization, ttl_hours=form.ttl_hours.data,
            )
            db.session.commit()
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            return redirect(url_for("invitations.show", invitation_id=invitation.id))
    return render_template("invitations/index.html", form=form,
                           invitations=services.recent_invitations()), 422 if form.errors else 200


@bp.route("/invitations/<int:invitation_id>")
@roles_required(Role.ORGANIZER)
def show(invitation_id: int):
    """The link and its QR code, to copy or show on a screen."""
    invitation = services.get_invitation(invitation_id)
    link = url_for("invitations.accept", token=services.invitation_token(invitation), _external=True)
    return render_template("invitations/show.html", invitation=invitation, link=link,
                           qr=services.qr_svg_data_uri(link), revoke_form=ConfirmForm())


@bp.route("/invitations/<int:invitation_id>/revoke", methods=["POST"])
@roles_required(Role.ORGANIZER)
def revoke(invitation_id: int):
    """Make an unused invitation link stop working."""
    invitation = services.get_invitation(invitation_id)
    if ConfirmForm().validate_on_submit():
        try:
            services.revoke(invitation, current_user)
            db.session.commit()
            flash(_("The invitation was revoked."), "success")
        except Conflict as error:
            db.session.rollback()
            flash(error.message, "error")
    return redirect(safe_next_url(url_for("invitations.show", invitation_id=invitation.id)))


@bp.route("/invite/<token>", methods=["GET", "POST"])
def accept(token: str):
    """Accept an invitation: with a new account, or adding the role to one's own."""
    invitation = services.find_usable(token[:80])
    if current_user.is_authenticated:
        form = ConfirmForm()
        if form.validate_on_submit():
            services.accept_as(invitation, current_user)
            db.session.commit()
            flash(_("Your account now has the role you were invited to."), "success")
            return redirect(url_for("core.dashboard"))
        return render_template("invitations/accept.html", invitation=invitation, form=form, token=token)
    form = AcceptInvitationForm()
    if form.validate_on_submit():
        try:
            user = services.accept_with_new_account(
                invitation, name=form.name.data, email=form.email.data,
                password=form.password.data, language=session.get("lang", "es_MX"),
            )
            db.session.commit()
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            login_user(user)
            flash(_("Welcome to PitchTank!"), "success")
            return redirect(url_for("core.dashboard"))
    return render_template("invitations/accept.html", invitation=invitation, form=form, token=token), \
        422 if form.errors else 200


@bp.route("/sessions/<int:session_id>/judges/<int:user_id>/login-code", methods=["POST"])
@roles_required(Role.ORGANIZER)
def create_login_code(session_id: int, user_id: int):
    """Make a single-use QR login for one judge of a session."""
    session = get_session(session_id)
    judge = db.session.get(User, user_id)
    if judge is None:
        raise NotFound(_("That user does not exist."))
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("events.manage_session", session_id=session.id))
    link = services.create_login_link(current_user, judge, session)
    db.session.commit()
    return redirect(url_for("invitations.show_login_code", link_id=link.id))


@bp.route("/login-codes/<int:link_id>")
@roles_required(Role.ORGANIZER)
def show_login_code(link_id: int):
    """The judge's login QR code, to show on the judge's tablet or the organizer's screen."""
    link = services.get_login_link(link_id)
    url = url_for("invitations.use_login_code", token=services.login_link_token(link), _external=True)
    return render_template("invitations/login_code.html", link=link, url=url,
                           qr=services.qr_svg_data_uri(url), revoke_form=ConfirmForm())


@bp.route("/login-codes/<int:link_id>/revoke", methods=["POST"])
@roles_required(Role.ORGANIZER)
def revoke_login_code(link_id: int):
    """Make an unused judge login code stop working."""
    link = services.get_login_link(link_id)
    if ConfirmForm().validate_on_submit():
        try:
            services.revoke_login_link(link, current_user)
            db.session.commit()
            flash(_("The login code was revoked."), "success")
        except Conflict as error:
            db.session.rollback()
            flash(error.message, "error")
    fallback = url_for("events.manage_session", session_id=link.session_id) if link.session_id \
        else url_for("invitations.show_login_code", link_id=link.id)
    return redirect(safe_next_url(fallback))


@bp.route("/sessions/<int:session_id>/judge-logins", methods=["POST"])
@roles_required(Role.ORGANIZER)
def set_judge_logins(session_id: int):
    """Switch new judge logins by QR code off (judges already in keep scoring) or back on."""
    session = get_session(session_id)
    form = JudgeLoginsForm()
    if form.validate_on_submit():
        open_ = form.state.data == "on"
        if services.set_judge_logins(session, open_, current_user):
            db.session.commit()
        flash(_("New judge logins are on: login codes work again.") if open_
              else _("New judge logins are off: login codes are refused until you switch them on. "
                     "Judges already logged in keep scoring."), "success")
    else:
        flash(_("Choose whether new judge logins are on or off."), "error")
    return redirect(safe_next_url(url_for("events.manage_session", session_id=session.id)))


@bp.route("/login/code/<token>", methods=["GET", "POST"])
def use_login_code(token: str):
    """Log a judge in from a QR code: a confirm button, so link previewers cannot spend it."""
    link = services.find_usable_login_link(token[:80])
    form = ConfirmForm()
    if form.validate_on_submit():
        user = services.use_login_link(link)
        db.session.commit()
        login_user(user)
        target = url_for("judging_tablet.tablet", session_id=link.session_id) if link.session_id \
            else url_for("core.dashboard")
        return redirect(target)
    return render_template("invitations/use_login_code.html", link=link, form=form)
