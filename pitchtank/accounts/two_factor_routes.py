"""Pages: the second step of logging in, and turning two-factor authentication on and off."""

from __future__ import annotations

from flask import Blueprint, flash, make_response, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_user

from pitchtank.accounts import lockout, services, two_factor
from pitchtank.accounts.forms import TwoFactorCodeForm
from pitchtank.accounts.models import Role
from pitchtank.accounts.routes import finish_login, login_limit
from pitchtank.core.authz import login_required
from pitchtank.core.errors import NotAuthenticated, ValidationFailed
from pitchtank.core.forms import apply_errors, safe_next_url
from pitchtank.extensions import db, limiter

bp = Blueprint("two_factor", __name__)


def _code_attempt_key() -> str:
    """Code guesses are counted per account: the one waiting for its second step, or the caller."""
    pending = session.get(two_factor.PENDING_KEY)
    user_id = pending.get("user_id") if isinstance(pending, dict) else None
    if user_id is None and current_user.is_authenticated:
        user_id = current_user.id
    return f"2fa:{user_id}" if user_id is not None else f"2fa-ip:{get_remote_address()}"


code_rate_limit = limiter.shared_limit(login_limit, scope="two-factor", key_func=_code_attempt_key,
                                       methods=["POST"])


def _private(response):
    """Pages that show secrets (the enrolment key, recovery codes) are never cached."""
    response = make_response(response)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/login/two-factor", methods=["GET", "POST"])
@code_rate_limit
def verify():
    """The second step of logging in: the code from the authenticator app, or a recovery code."""
    dashboard = url_for("core.dashboard")
    if current_user.is_authenticated:
        # A session opened another way (a judge's QR code, a session older than enrolment).
        user = current_user._get_current_object()
        target = safe_next_url(dashboard)
        if not user.two_factor_enabled:
            return redirect(url_for("two_factor.setup", next=target) if two_factor.required_for(user) else target)
        if two_factor.session_verified(user):
            return redirect(target)
        step_up = True
    else:
        pending = two_factor.pending_login()
        if pending is None:
            raise NotAuthenticated(_("Your login took too long or was not started. Please log in again."))
        user, target = pending
        step_up = False
    form = TwoFactorCodeForm()
    alert = None
    if form.validate_on_submit():
        if locked := lockout.seconds_locked(user.email):
            alert = lockout.locked_message(locked)
        else:
            check = two_factor.check_code(user, form.code.data)
            if check.ok and not step_up:
                return finish_login(user, target or dashboard, check.method)
            if check.ok:
                lockout.record_success(user.email)
                services.record_login(user, channel="page", second_factor=check.method)
                db.session.commit()
                two_factor.mark_session_verified(user)
                return redirect(target)
            locked = lockout.record_failure(user.email, user)
            db.session.commit()
            if locked:
                alert = lockout.locked_message(locked)
            else:
                form.code.errors.append(two_factor.code_error(check))
        if alert and not step_up:
            session.pop(two_factor.PENDING_KEY, None)  # after the lock, the password is asked again
    body = render_template("accounts/two_factor_verify.html", form=form, alert=alert, step_up=step_up)
    return body, 429 if alert else 422 if form.errors else 200


def _overview_page(user, *, form: TwoFactorCodeForm | None = None,
                   codes_form: TwoFactorCodeForm | None = None) -> str:
    """The two-factor page; after a refused form, that form with its errors and the other one empty."""
    return render_template(
        "accounts/two_factor.html",
        form=TwoFactorCodeForm(prefix="off", formdata=None) if form is None else form,
        codes_form=TwoFactorCodeForm(prefix="new", formdata=None) if codes_form is None else codes_form,
        codes_left=two_factor.recovery_codes_left(user) if user.two_factor_enabled else 0,
        required=user.has_role(Role.ORGANIZER),
    )


@bp.route("/account/two-factor")
@login_required
def overview():
    """Whether two-factor authentication is on, with what can be done about it."""
    return _overview_page(current_user._get_current_object())


@bp.route("/account/two-factor/setup", methods=["GET", "POST"])
@login_required
@code_rate_limit
def setup():
    """Turn two-factor authentication on: scan the QR code, then confirm with a code."""
    user = current_user._get_current_object()
    target = safe_next_url(url_for("two_factor.overview"))
    if user.two_factor_enabled:
        if not two_factor.session_verified(user):
            return redirect(url_for("two_factor.verify", next=target))
        flash(_("Two-factor authentication is already on for your account."), "info")
        return redirect(url_for("two_factor.overview"))
    secret = session.get(two_factor.ENROLL_KEY)
    if not isinstance(secret, str) or len(secret) != 32:
        secret = session[two_factor.ENROLL_KEY] = two_factor.new_secret()
    form = TwoFactorCodeForm()
    if form.validate_on_submit():
        try:
            codes = two_factor.enable(user, secret, form.code.data)
            db.session.commit()
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            session.pop(two_factor.ENROLL_KEY, None)
            two_factor.mark_session_verified(user)
            flash(_("Two-factor authentication is on."), "success")
            return _private(render_template("accounts/two_factor_codes.html", codes=codes, target=target))
    uri = two_factor.provisioning_uri(user, secret)
    body = render_template(
        "accounts/two_factor_setup.html", form=form, qr=two_factor.qr_svg_data_uri(uri),
        secret=" ".join(secret[i:i + 4] for i in range(0, len(secret), 4)),
        required=user.has_role(Role.ORGANIZER),
    )
    return _private(body), 422 if form.errors else 200


@bp.route("/account/two-factor/disable", methods=["POST"])
@login_required
@code_rate_limit
def disable():
    """Turn two-factor authentication off, with a current code or a recovery code."""
    user = current_user._get_current_object()
    form = TwoFactorCodeForm(prefix="off")
    if not user.two_factor_enabled:
        flash(_("Two-factor authentication is already off."), "info")
        return redirect(url_for("two_factor.overview"))
    if form.validate_on_submit():
        try:
            two_factor.disable(user, form.code.data)
            db.session.commit()
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            login_user(user)  # stay logged in under the new session version, no longer verified
            session.pop(two_factor.VERIFIED_KEY, None)
            if user.has_role(Role.ORGANIZER):
                flash(_("Two-factor authentication is off. Organizers need it: set it up again to continue."),
                      "info")
            else:
                flash(_("Two-factor authentication is off. Your other sessions and API tokens were ended."),
                      "success")
            return redirect(url_for("two_factor.overview"))
    return _overview_page(user, form=form), 422


@bp.route("/account/two-factor/recovery-codes", methods=["POST"])
@login_required
@code_rate_limit
def regenerate_codes():
    """Ten new recovery codes; the old ones stop working."""
    user = current_user._get_current_object()
    form = TwoFactorCodeForm(prefix="new")
    if not user.two_factor_enabled:
        flash(_("Turn two-factor authentication on first."), "info")
        return redirect(url_for("two_factor.overview"))
    if form.validate_on_submit():
        try:
            codes = two_factor.regenerate_recovery_codes(user, form.code.data)
            db.session.commit()
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            flash(_("New recovery codes were made; the old ones no longer work."), "success")
            return _private(render_template("accounts/two_factor_codes.html", codes=codes,
                                            target=url_for("two_factor.overview")))
    return _overview_page(user, codes_form=form), 422
