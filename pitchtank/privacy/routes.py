"""Pages: the privacy notice (aviso de privacidad), one's data download and account deletion."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from pitchtank.core.authz import login_required
from pitchtank.core.errors import Conflict, ValidationFailed
from pitchtank.core.forms import apply_errors
from pitchtank.extensions import db
from pitchtank.privacy import services
from pitchtank.privacy.forms import DeleteAccountForm

bp = Blueprint("privacy", __name__)

ZIP_MIMETYPE = "application/zip"


@bp.route("/privacy")
def notice():
    """The privacy notice: who holds which data, why, and how to exercise one's ARCO rights."""
    config = current_app.config
    return render_template("privacy/notice.html", controller=config["PRIVACY_CONTROLLER"],
                           address=config["PRIVACY_CONTROLLER_ADDRESS"], contact=config["PRIVACY_CONTACT_EMAIL"],
                           updated=config["PRIVACY_NOTICE_UPDATED"])


@bp.route("/account/data")
@login_required
def download():
    """Download everything PitchTank holds about oneself: JSON and one's own decks, zipped."""
    user = current_user._get_current_object()
    services.record_download(user)
    db.session.commit()
    response = Response(services.data_archive(user), mimetype=ZIP_MIMETYPE)
    response.headers["Content-Disposition"] = f'attachment; filename="pitchtank-data-{user.id}.zip"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/account/delete", methods=["GET", "POST"])
@login_required
def delete_account():
    """Delete one's account after confirming with the password; what the ledger and the audit
    log must keep stays, anonymised."""
    user = current_user._get_current_object()
    form = DeleteAccountForm()
    blockers = services.deletion_blockers(user)
    status = 200
    if form.validate_on_submit():
        try:
            services.delete_account(user, form.password.data)
            db.session.commit()
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        except Conflict as error:
            db.session.rollback()
            flash(error.message, "error")
            status = 409
        else:
            logout_user()
            flash(_("Your account was deleted. What the fund's ledger and the audit log must keep stays, "
                    "without your name or email."), "success")
            return redirect(url_for("core.home"))
    if form.errors:
        status = 422
    return render_template("privacy/delete.html", form=form, blockers=blockers), status
