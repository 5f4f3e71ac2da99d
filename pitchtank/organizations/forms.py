"""The member company form."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import InputRequired, Length, Optional

from pitchtank.core.forms import REQUIRED
from pitchtank.core.labels import choices
from pitchtank.organizations.models import MembershipStatus
from pitchtank.organizations.services import LEGAL_NAME_MAX, NAME_MAX, OrganizationData


class OrganizationForm(FlaskForm):
    name = StringField(_l("Name"), validators=[InputRequired(REQUIRED), Length(max=NAME_MAX)])
    legal_name = StringField(_l("Legal name (razón social)"), validators=[Optional(), Length(max=LEGAL_NAME_MAX)])
    rfc = StringField(_l("RFC"), description=_l("Tax id: 12 characters for a company, 13 for a person."),
                      validators=[Optional(), Length(max=20)])
    membership_status = SelectField(_l("Membership"), choices=lambda: choices(MembershipStatus))

    def to_data(self) -> OrganizationData:
        return OrganizationData(
            name=self.name.data, legal_name=self.legal_name.data or "", rfc=self.rfc.data or "",
            membership_status=MembershipStatus(self.membership_status.data),
        )
