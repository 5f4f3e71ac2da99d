"""Member companies: register them, keep their details right, list their people."""

from __future__ import annotations

from dataclasses import dataclass, replace

from flask_babel import gettext as _
from sqlalchemy import func, select

from pitchtank.core.errors import NotFound, ValidationFailed
from pitchtank.extensions import db
from pitchtank.organizations.models import (
    MembershipStatus,
    Organization,
    is_valid_rfc,
    normalize_rfc,
)

NAME_MAX = 120
LEGAL_NAME_MAX = 200


@dataclass(frozen=True)
class OrganizationData:
    name: str
    legal_name: str
    rfc: str
    membership_status: MembershipStatus


def check_organization_data(data: OrganizationData, existing: Organization | None = None) -> OrganizationData:
    data = replace(data, name=data.name.strip(), legal_name=data.legal_name.strip(),
                   rfc=normalize_rfc(data.rfc) if data.rfc else "")
    errors: dict[str, list[str]] = {}
    if not data.name:
        errors["name"] = [_("This field is required.")]
    elif len(data.name) > NAME_MAX:
        errors["name"] = [_("Use at most %(n)s characters.", n=NAME_MAX)]
    else:
        clash = db.session.scalar(select(Organization).where(func.lower(Organization.name) == data.name.lower()))
        if clash is not None and clash is not existing:
            errors["name"] = [_("A member company with this name already exists.")]
    if len(data.legal_name) > LEGAL_NAME_MAX:
        errors["legal_name"] = [_("Use at most %(n)s characters.", n=LEGAL_NAME_MAX)]
    if data.rfc:
        if not is_valid_rfc(data.rfc):
            errors["rfc"] = [_("The RFC does not have a valid format (for example ABC010203XY1).")]
        else:
            clash = db.session.scalar(select(Organization).where(Organization.rfc == data.rfc))
            if clash is not None and clash is not existing:
                errors["rfc"] = [_("Another member company has this RFC.")]
    if errors:
        raise ValidationFailed(errors, _("Some fields are not valid."))
    return data


def create_organization(data: OrganizationData) -> Organization:
    data = check_organization_data(data)
    organization = Organization(name=data.name, legal_name=data.legal_name, rfc=data.rfc or None,
                                membership_status=data.membership_status)
    db.session.add(organization)
    db.session.flush()
    return organization


def update_organization(organization: Organization, data: OrganizationData) -> Organization:
    data = check_organization_data(data, existing=organization)
    organization.name = data.name
    organization.legal_name = data.legal_name
    organization.rfc = data.rfc or None
    organization.membership_status = data.membership_status
    db.session.flush()
    return organization


def get_organization(organization_id: int) -> Organization:
    organization = db.session.get(Organization, organization_id)
    if organization is None:
        raise NotFound(_("That member company does not exist."))
    return organization


def all_organizations() -> list[Organization]:
    return list(db.session.scalars(select(Organization).order_by(Organization.name)))
