"""Forms to invite someone and to accept an invitation."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from pitchtank.accounts.forms import SignupForm
from pitchtank.core.forms import REQUIRED, WholeNumberField
from pitchtank.core.labels import label
from pitchtank.invitations.services import INVITABLE_ROLES, MAX_TTL_HOURS


class InvitationForm(FlaskForm):
    role = SelectField(_l("Role"), choices=lambda: [(r.value, label(r)) for r in INVITABLE_ROLES],
                       validators=[InputRequired(REQUIRED)])
    invitee_name = StringField(_l("Who is it for? (optional)"), validators=[Optional(), Length(max=120)])
    organization_id = SelectField(_l("Member company (for investors)"), coerce=int, choices=[])
    ttl_hours = WholeNumberField(_l("Valid for (hours)"), default=72,
                             validators=[InputRequired(REQUIRED), NumberRange(1, MAX_TTL_HOURS)])


class JudgeLoginsForm(FlaskForm):
    """Switch new judge logins by QR code on or off for a session."""

    state = SelectField(_l("New judge logins"), choices=lambda: [("on", _l("On")), ("off", _l("Off"))],
                        validators=[InputRequired(REQUIRED)])


class AcceptInvitationForm(SignupForm):
    """Create an account from an invitation: the same fields as signing up."""


__all__ = ["AcceptInvitationForm", "InvitationForm", "JudgeLoginsForm"]
