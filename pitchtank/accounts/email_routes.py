"""Pages reached from emails: confirm one's address, and reset a forgotten password.

Registered on the accounts blueprint (imported at the end of ``accounts/routes.py``).
"""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from pitchtank.accounts import recovery, verification
from pitchtank.accounts.forms import ForgotPasswordForm, ResendVerificationForm, ResetPasswordForm
from pitchtank.accounts.routes import bp
from pitchtank.core.authz import login_required
from pitchtank.core.errors import Conflict, NotFound, ValidationFailed
from pitchtank.core.forms import apply_errors
from pitchtank.extensions import client_address, db, limiter


def _reset_limit() -> str:
    return current_app.config["PASSWORD_RESET_RATE_LIMIT"]


def _reset_limit_per_address() -> str:
    return current_app.config["PASSWORD_RESET_RATE_LIMIT_PER_ADDRESS"]


def _resend_limit() -> str:
    return current_app.config["VERIFICATION_RESEND_RATE_LIMIT"]


def _reset_email_key() -> str:
    return "reset:" + (request.form.get("email") or "").strip().lower()[:254]


def _resend_key() -> str:
    return f"verify-resend:{current_user.get_id() if current_user.is_authenticated else client_address()}"


@bp.route("/verify-email/<token>")
def verify_email(token: str):
    """The link in the confirmation email: marks the address as confirmed."""
    try:
        user, confirmed_now = verification.confirm(token)
        db.session.commit()
    except (NotFound, Conflict) as error:
        db.session.rollback()
        return render_template("accounts/verify_result.html", ok=False, message=error.message), error.status
    if confirmed_now:
        message = _("Thank you: your email address %(email)s is confirmed.", email=user.email)
    else:
        message = _("Your email address %(email)s was already confirmed.", email=user.email)
    return render_template("accounts/verify_result.html", ok=True, message=message)


@bp.route("/account/verify", methods=["GET", "POST"])
@login_required
@limiter.limit(_resend_limit, key_func=_resend_key, methods=["POST"])
def verify_email_notice():
    """Why the address needs confirming, and a button that mails the link again."""
    form = ResendVerificationForm()
    if current_user.email_verified:
        if request.method == "POST":
            flash(_("Your email address is already confirmed."), "info")
        return render_template("accounts/verify_notice.html", form=form)
    if form.validate_on_submit():
        verification.send_verification(current_user._get_current_object())
        db.session.commit()
        flash(_("We sent a new link to %(email)s. It may take a minute to arrive.", email=current_user.email),
              "success")
        return redirect(url_for("accounts.verify_email_notice"))
    return render_template("accounts/verify_notice.html", form=form), 422 if form.errors else 200


@bp.route("/forgot-password", methods=["GET", "POST"])
@limiter.limit(_reset_limit_per_address, methods=["POST"])
@limiter.limit(_reset_limit, key_func=_reset_email_key, methods=["POST"])
def forgot_password():
    """Ask for a reset link; the answer is the same whether or not the address has an account."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        recovery.request_reset(form.email.data)
        db.session.commit()
        flash(_("If an account uses %(email)s, we sent it a link to choose a new password. "
                "The link works for one hour.", email=form.email.data.strip()), "info")
        return redirect(url_for("accounts.forgot_password"))
    return render_template("accounts/forgot_password.html", form=form), 422 if form.errors else 200


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """The link in the reset email: choose a new password (the link works once)."""
    try:
        recovery.user_for_token(token)
    except (NotFound, Conflict) as error:
        return render_template("accounts/reset_password.html", form=None, message=error.message), error.status
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            recovery.reset_password(token, form.password.data)
            db.session.commit()
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        except (NotFound, Conflict) as error:  # used by a concurrent request a moment ago
            db.session.rollback()
            return render_template("accounts/reset_password.html", form=None, message=error.message), error.status
        else:
            if current_user.is_authenticated:
                logout_user()
            flash(_("Your password was changed and every session was logged out. Log in with the new password."),
                  "success")
            return redirect(url_for("accounts.login"))
    return render_template("accounts/reset_password.html", form=form, message=None), 422 if form.errors else 200
