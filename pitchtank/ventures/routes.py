"""Pages: venture profiles, the entrepreneur's own ventures and their decks."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user

from pitchtank.accounts.models import Role
from pitchtank.core.authz import roles_required
from pitchtank.core.errors import NotFound, ValidationFailed
from pitchtank.core.forms import apply_errors
from pitchtank.core.labels import choices
from pitchtank.extensions import db
from pitchtank.ventures import services, storage
from pitchtank.ventures.forms import FORM_ALIASES, DeckForm, VentureForm
from pitchtank.ventures.models import Sector

bp = Blueprint("ventures", __name__, url_prefix="/ventures")


@bp.route("/")
def index():
    """Every venture an event accepted, optionally by sector."""
    ventures = services.public_ventures()
    sector = request.args.get("sector", "")
    if sector in {s.value for s in Sector}:
        ventures = [v for v in ventures if v.sector.value == sector]
    else:
        sector = ""
    return render_template("ventures/index.html", ventures=ventures, sector=sector,
                           sectors=choices(Sector))


@bp.route("/mine")
@roles_required(Role.ENTREPRENEUR)
def mine():
    """The entrepreneur's own ventures and the status of each application."""
    return render_template("ventures/mine.html", ventures=services.ventures_of(current_user))


@bp.route("/new", methods=["GET", "POST"])
@roles_required(Role.ENTREPRENEUR)
def new():
    """Describe a new venture."""
    form = VentureForm()
    if form.validate_on_submit():
        try:
            venture = services.create_venture(current_user, form.to_data())
            db.session.commit()
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error, FORM_ALIASES)
        else:
            flash(_("Your venture was saved. Now upload your pitch deck."), "success")
            return redirect(url_for("ventures.deck_upload", venture_id=venture.id))
    return render_template("ventures/form.html", form=form, venture=None), 422 if form.errors else 200


@bp.route("/<int:venture_id>")
def show(venture_id: int):
    """A venture's page: public once accepted, always for its owner and organizers."""
    from pitchtank.fund.offers import deals_of_venture

    venture = services.get_visible_venture(venture_id, current_user)
    return render_template("ventures/show.html", venture=venture,
                           can_edit=venture.can_edit(current_user),
                           can_view_deck=venture.can_view_deck(current_user),
                           deals=deals_of_venture(venture.id))


@bp.route("/<int:venture_id>/edit", methods=["GET", "POST"])
@roles_required(Role.ENTREPRENEUR)
def edit(venture_id: int):
    """Change a venture's profile."""
    venture = services.get_visible_venture(venture_id, current_user)
    services.ensure_can_edit(venture, current_user)
    form = VentureForm.for_venture(venture) if request.method == "GET" else VentureForm()
    if form.validate_on_submit():
        try:
            services.update_venture(venture, current_user, form.to_data())
            db.session.commit()
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error, FORM_ALIASES)
        else:
            flash(_("Your changes were saved."), "success")
            return redirect(url_for("ventures.show", venture_id=venture.id))
    return render_template("ventures/form.html", form=form, venture=venture), 422 if form.errors else 200


@bp.route("/<int:venture_id>/deck", methods=["GET", "POST"])
@roles_required(Role.ENTREPRENEUR)
def deck_upload(venture_id: int):
    """Upload or replace the pitch deck."""
    venture = services.get_visible_venture(venture_id, current_user)
    services.ensure_can_edit(venture, current_user)
    form = DeckForm()
    if form.validate_on_submit():
        try:
            services.store_deck(venture, current_user, form.deck.data.read())
            db.session.commit()
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            flash(_("Your pitch deck was uploaded."), "success")
            return redirect(url_for("ventures.show", venture_id=venture.id))
    return render_template("ventures/deck.html", form=form, venture=venture), 422 if form.errors else 200


@bp.route("/<int:venture_id>/deck.pdf")
def deck_file(venture_id: int):
    """The deck itself, only for people allowed to read it."""
    venture = services.get_visible_venture(venture_id, current_user)
    services.ensure_can_view_deck(venture, current_user)
    return deck_response(venture)


def deck_response(venture):
    """Serve the deck inline, never cached by shared caches, sandboxed from our origin."""
    path = storage.deck_path(venture.deck_file) if venture.deck_file else None
    if path is None or not path.exists():
        raise NotFound(_("This venture has not uploaded a deck yet."))
    response = send_file(path, mimetype="application/pdf", download_name=f"deck-{venture.id}.pdf",
                         max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'; object-src 'self'"
    return response
