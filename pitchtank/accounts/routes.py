"""Pages: sign up, log in and out, one's own account, and organizers' user management."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from sqlalchemy import or_, select

from pitchtank.accounts import lockout, services, two_factor
from pitchtank.accounts.forms import (
    AccountForm,
    LoginForm,
    PasswordChangeForm,
    SignupForm,
    UserRolesForm,
    role_label,
)
from pitchtank.accounts.models import Role, User
from pitchtank.core.authz import login_required, roles_required
from pitchtank.core.errors import NotFound, ValidationFailed
from pitchtank.core.forms import apply_errors, safe_next_url
from pitchtank.extensions import db, limiter
from pitchtank.organizations.models import Organization

bp = Blueprint("accounts", __name__)


def login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def login_attempt_key() -> str:
    """Attempts are counted per account, so one venue's shared address locks nobody else out."""
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # absurdly nested JSON; the view refuses it with a 422
        body = None
    # The body may be any JSON value (an array, a number); only an object can name an email.
    email = request.form.get("email") or (body.get("email") if isinstance(body, dict) else "") or ""
    return f"login:{str(email).strip().lower()[:254]}"


# One shared bucket for the login page and the API's token exchange: both guess the same password.
login_rate_limit = limiter.shared_limit(login_limit, scope="login", key_func=login_attempt_key, methods=["POST"])


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    """Create an entrepreneur account."""
    if current_user.is_authenticated:
        return redirect(url_for("core.dashboard"))
    form = SignupForm()
    if form.validate_on_submit():
        try:
            user = services.register_user(
                email=form.email.data,
                name=form.name.data,
                password=form.password.data,
                language=session.get("lang", "es_MX"),
            )
            db.session.commit()
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            login_user(user)
            flash(_("Welcome to PitchTank! We sent a link to %(email)s: open it to confirm your address. "
                    "Meanwhile, start by describing your venture.", email=user.email), "success")
            return redirect(url_for("ventures.new"))
    return render_template("accounts/signup.html", form=form), 422 if form.errors else 200


def finish_login(user: User, target: str, second_factor: str = ""):
    """Establish the login session (after the password, and the code where two-factor is on)."""
    lockout.record_success(user.email)
    services.record_login(user, channel="page", second_factor=second_factor)
    db.session.commit()
    login_user(user)
    session.pop("lang", None)
    if second_factor:
        two_factor.mark_session_verified(user)
    else:
        two_factor.forget_session()
    return redirect(target)


@bp.route("/login", methods=["GET", "POST"])
@login_rate_limit
def login():
    """Log in with email and password; with two-factor on, a code is asked for next."""
    if current_user.is_authenticated:
        return redirect(safe_next_url(url_for("core.dashboard")))
    form = LoginForm()
    alert = None
    if form.validate_on_submit():
        email, password = form.email.data, form.password.data
        target = safe_next_url(url_for("core.dashboard"))
        if locked := lockout.seconds_locked(email):
            # Refused without looking at the password, as slowly as if it had been checked.
            services.spend_password_check_time(password)
            alert = lockout.locked_message(locked)
        else:
            user = services.authenticate(email, password)
            if user is None:
                locked = lockout.record_failure(email, services.find_user_by_email(email))
                db.session.commit()
                if locked:
                    alert = lockout.locked_message(locked)
                else:
                    form.password.errors.append(_("The email or the password is not right."))
            elif user.two_factor_enabled:
                two_factor.start_pending_login(user, target)
                return redirect(url_for("two_factor.verify"))
            else:
                return finish_login(user, target)
    if alert:
        return render_template("accounts/login.html", form=form, alert=alert), 429
    return render_template("accounts/login.html", form=form), 422 if form.errors else 200


@bp.route("/logout", methods=["POST"])
def logout():
    """End the login session."""
    logout_user()
    two_factor.forget_session()
    flash(_("You have logged out."), "info")
    return redirect(url_for("core.home"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    """Edit one's own name and language."""
    form = AccountForm(obj=current_user)
    password_form = PasswordChangeForm(prefix="pw")
    if form.validate_on_submit():
        current_user.name = form.name.data.strip()
        current_user.language = form.language.data
        session["lang"] = form.language.data
        db.session.commit()
        flash(_("Your account was updated."), "success")
        return redirect(url_for("accounts.account"))
    return render_template(
        "accounts/account.html", form=form, password_form=password_form
    ), 422 if form.errors else 200


@bp.route("/account/password", methods=["POST"])
@login_required
def change_password():
    """Change one's password; other browsers are logged out."""
    form = AccountForm(obj=current_user, formdata=None)
    password_form = PasswordChangeForm(prefix="pw")
    if password_form.validate_on_submit():
        try:
            services.change_password(
                current_user, password_form.current_password.data, password_form.new_password.data
            )
            db.session.commit()
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(password_form, error)
        else:
            login_user(current_user._get_current_object())  # stay logged in under the new version
            flash(_("Your password was changed. Your other sessions and API tokens were ended."), "success")
            return redirect(url_for("accounts.account"))
    return render_template(
        "accounts/account.html", form=form, password_form=password_form
    ), 422


@bp.route("/users")
@roles_required(Role.ORGANIZER)
def users():
    """Organizers: everyone with an account, searchable."""
    query = (request.args.get("q") or "").strip()[:100]
    statement = select(User).order_by(User.name)
    if query:
        pattern = f"%{query.lower()}%"
        statement = statement.where(or_(User.email.like(pattern), User.name.ilike(pattern)))
    people = db.session.scalars(statement.limit(500)).all()
    return render_template("accounts/users.html", people=people, query=query, role_label=role_label)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@roles_required(Role.ORGANIZER)
def edit_user(user_id: int):
    """Organizers: set a user's roles and member company."""
    person = db.session.get(User, user_id)
    if person is None:
        raise NotFound(_("That user does not exist."))
    form = UserRolesForm(roles=[r.value for r in person.roles],
                         organization_id=person.organization_id or 0)
    form.roles.choices = [(role.value, role_label(role)) for role in Role]
    organizations = db.session.scalars(select(Organization).order_by(Organization.name)).all()
    form.organization_id.choices = [(0, _("None"))] + [(o.id, o.name) for o in organizations]
    if form.validate_on_submit():
        person.organization = db.session.get(Organization, form.organization_id.data) \
            if form.organization_id.data else None
        try:
            services.set_roles(person, [Role(r) for r in form.roles.data], actor=current_user)
            db.session.commit()
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            flash(_("The roles of %(name)s were saved.", name=person.name), "success")
            return redirect(url_for("accounts.users"))
    return render_template("accounts/user_edit.html", person=person, form=form), \
        422 if form.errors else 200


# The pages reached from emails (confirm the address, reset the password) share this blueprint.
from pitchtank.accounts import email_routes  # noqa: E402,F401
