"""Confirming an account deletion."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import InputRequired, Length

from pitchtank.accounts.models import PASSWORD_MAX
from pitchtank.core.forms import REQUIRED


class DeleteAccountForm(FlaskForm):
    password = PasswordField(_l("Your password, to confirm"),
                             validators=[InputRequired(REQUIRED), Length(max=PASSWORD_MAX)])
