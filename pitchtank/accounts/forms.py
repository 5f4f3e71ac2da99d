"""Sign-up, login and account forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import Email, EqualTo, InputRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from pitchtank.accounts.models import EMAIL_MAX, NAME_MAX, PASSWORD_MAX, PASSWORD_MIN, Role
from pitchtank.core.forms import REQUIRED


def language_choices():
    return [("es_MX", "Español"), ("en", "English")]


def role_label(role: Role) -> str:
    from flask_babel import gettext as _

    return {
        Role.ENTREPRENEUR: _("Entrepreneur"),
        Role.JUDGE: _("Judge"),
        Role.INVESTOR: _("Investor"),
        Role.ORGANIZER: _("Organizer"),
    }[role]


class SignupForm(FlaskForm):
    name = StringField(_l("Full name"), validators=[InputRequired(REQUIRED), Length(max=NAME_MAX)])
    email = EmailField(
        _l("Email"),
        validators=[InputRequired(REQUIRED), Length(max=EMAIL_MAX),
                    Email(_l("Enter a valid email address."), check_deliverability=False)],
    )
    password = PasswordField(
        _l("Password"),
        description=_l("At least %(n)s characters.", n=PASSWORD_MIN),
        validators=[InputRequired(REQUIRED), Length(min=PASSWORD_MIN, max=PASSWORD_MAX)],
    )
    password_confirm = PasswordField(
        _l("Repeat the password"),
        validators=[InputRequired(REQUIRED), EqualTo("password", _l("The passwords do not match."))],
    )


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[InputRequired(REQUIRED), Length(max=EMAIL_MAX)])
    password = PasswordField(_l("Password"), validators=[InputRequired(REQUIRED), Length(max=PASSWORD_MAX)])


class AccountForm(FlaskForm):
    name = StringField(_l("Full name"), validators=[InputRequired(REQUIRED), Length(max=NAME_MAX)])
    language = SelectField(_l("Language"), choices=language_choices)


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[InputRequired(REQUIRED)])
    new_password = PasswordField(
        _l("New password"),
        description=_l("At least %(n)s characters.", n=PASSWORD_MIN),
        validators=[InputRequired(REQUIRED), Length(min=PASSWORD_MIN, max=PASSWORD_MAX)],
    )
    new_password_confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[InputRequired(REQUIRED), EqualTo("new_password", _l("The passwords do not match."))],
    )


class TwoFactorCodeForm(FlaskForm):
    """A code from the authenticator app (or, where allowed, a recovery code)."""

    code = StringField(
        _l("Code"),
        description=_l("The 6-digit code your authenticator app shows, or one of your recovery codes."),
        validators=[InputRequired(REQUIRED), Length(max=64)],
    )


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class UserRolesForm(FlaskForm):
    roles = MultiCheckboxField(_l("Roles"), choices=[], validators=[Optional()])
    organization_id = SelectField(_l("Member company"), coerce=int, choices=[])


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[InputRequired(REQUIRED), Length(max=EMAIL_MAX)])


class ResetPasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password"),
        description=_l("At least %(n)s characters.", n=PASSWORD_MIN),
        validators=[InputRequired(REQUIRED), Length(min=PASSWORD_MIN, max=PASSWORD_MAX)],
    )
    password_confirm = PasswordField(
        _l("Repeat the password"),
        validators=[InputRequired(REQUIRED), EqualTo("password", _l("The passwords do not match."))],
    )


class ResendVerificationForm(FlaskForm):
    """Only the CSRF token: the link goes to the logged-in account's address."""
