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

from pitchtank.accounts import services
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
            flash(_("Welcome to PitchTank! Start by describing your venture."), "success")
            return redirect(url_for("ventures.new"))
    return render_template("accounts/signup.html", form=form), 422 if form.errors else 200


@bp.route("/login", methods=["GET", "POST"])
@login_rate_limit
def login():
    """Log in with email and password."""
    if current_user.is_authenticated:
        return redirect(safe_next_url(url_for("core.dashboard")))
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is not None:
            login_user(user)
            session.pop("lang", None)
            return redirect(safe_next_url(url_for("core.dashboard")))
        form.password.errors.append(_("The email or the password is not right."))
    return render_template("accounts/login.html", form=form), 422 if form.errors else 200


@bp.route("/logout", methods=["POST"])
def logout():
    """End the login session."""
    logout_user()
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
            flash(_("Your password was changed. Other sessions were logged out."), "success")
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
