"""Pages: organizers manage the cluster's member companies and see their people."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from pitchtank.accounts.models import Role
from pitchtank.core.authz import roles_required
from pitchtank.core.errors import ValidationFailed
from pitchtank.core.forms import apply_errors
from pitchtank.extensions import db
from pitchtank.organizations import services
from pitchtank.organizations.forms import OrganizationForm

bp = Blueprint("organizations", __name__, url_prefix="/companies")


@bp.route("/")
@roles_required(Role.ORGANIZER)
def index():
    """Every member company with its membership status."""
    return render_template("organizations/index.html", organizations=services.all_organizations())


@bp.route("/new", methods=["GET", "POST"])
@roles_required(Role.ORGANIZER)
def new():
    """Register a member company."""
    form = OrganizationForm()
    if form.validate_on_submit():
        try:
            organization = services.create_organization(form.to_data())
            db.session.commit()
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            flash(_("%(name)s was added.", name=organization.name), "success")
            return redirect(url_for("organizations.show", organization_id=organization.id))
    return render_template("organizations/form.html", form=form, organization=None), 422 if form.errors else 200


@bp.route("/<int:organization_id>")
@roles_required(Role.ORGANIZER)
def show(organization_id: int):
    """A member company and its people."""
    organization = services.get_organization(organization_id)
    return render_template("organizations/show.html", organization=organization)


@bp.route("/<int:organization_id>/edit", methods=["GET", "POST"])
@roles_required(Role.ORGANIZER)
def edit(organization_id: int):
    """Correct a member company's details or membership."""
    organization = services.get_organization(organization_id)
    form = OrganizationForm(obj=organization)
    if form.validate_on_submit():
        try:
            services.update_organization(organization, form.to_data())
            db.session.commit()
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            flash(_("The changes were saved."), "success")
            return redirect(url_for("organizations.show", organization_id=organization.id))
    return render_template("organizations/form.html", form=form, organization=organization), \
        422 if form.errors else 200
