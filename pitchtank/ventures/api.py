"""API: ventures and their decks."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from flask import current_app, jsonify, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from pydantic import Field, StrictInt
from werkzeug.exceptions import RequestEntityTooLarge

from pitchtank.accounts.models import Role
from pitchtank.api import bp
from pitchtank.api.openapi import Response, operation
from pitchtank.api.schemas import Body, Out
from pitchtank.api.validation import parse_json
from pitchtank.core.authz import require_role
from pitchtank.core.errors import UnsupportedMediaType, ValidationFailed
from pitchtank.extensions import db
from pitchtank.ventures import services
from pitchtank.ventures.deck_check import MAX_DECK_BYTES
from pitchtank.ventures.models import (
    LONG_TEXT_MAX,
    NAME_MAX,
    TAGLINE_MAX,
    WEBSITE_MAX,
    Sector,
    Stage,
    Venture,
)
from pitchtank.ventures.routes import deck_response

Equity = Annotated[Decimal, Field(allow_inf_nan=False, description="Percentage, up to 2 decimals")]
LongText = Annotated[str, Field(max_length=LONG_TEXT_MAX)]


class VentureIn(Body):
    name: Annotated[str, Field(min_length=1, max_length=NAME_MAX)]
    tagline: Annotated[str, Field(min_length=1, max_length=TAGLINE_MAX)]
    sector: Sector
    stage: Stage
    description: Annotated[str, Field(min_length=1, max_length=LONG_TEXT_MAX)]
    ask_cents: StrictInt
    equity_offered_pct: Equity
    website: Annotated[str, Field(max_length=WEBSITE_MAX)] = ""
    team: LongText = ""
    problem: LongText = ""
    solution: LongText = ""
    market: LongText = ""
    traction: LongText = ""


class VenturePatch(Body):
    name: Annotated[str, Field(min_length=1, max_length=NAME_MAX)] | None = None
    tagline: Annotated[str, Field(min_length=1, max_length=TAGLINE_MAX)] | None = None
    sector: Sector | None = None
    stage: Stage | None = None
    description: Annotated[str, Field(min_length=1, max_length=LONG_TEXT_MAX)] | None = None
    ask_cents: StrictInt | None = None
    equity_offered_pct: Equity | None = None
    website: Annotated[str, Field(max_length=WEBSITE_MAX)] | None = None
    team: LongText | None = None
    problem: LongText | None = None
    solution: LongText | None = None
    market: LongText | None = None
    traction: LongText | None = None


class DeckOut(Out):
    size_bytes: int
    pages: int
    uploaded_at: datetime
    url: str


class VentureOut(Out):
    id: int
    owner_id: int
    name: str
    tagline: str
    sector: Sector
    stage: Stage
    description: str
    problem: str
    solution: str
    market: str
    traction: str
    team: str
    website: str
    ask_cents: int
    currency: str
    equity_offered_pct: str = Field(description="Exact decimal percentage, e.g. \"12.50\"")
    public: bool
    deck: DeckOut | None
    created_at: datetime
    updated_at: datetime


class VentureList(Out):
    ventures: list[VentureOut]


def venture_out(venture: Venture) -> dict:
    deck = None
    if venture.deck_file:
        deck = DeckOut(
            size_bytes=venture.deck_size or 0,
            pages=venture.deck_pages or 0,
            uploaded_at=venture.deck_uploaded_at,
            url=url_for("api.get_venture_deck", venture_id=venture.id),
        )
    return VentureOut(
        **{name: getattr(venture, name) for name in (
            "id", "owner_id", "name", "tagline", "sector", "stage", "description", "problem",
            "solution", "market", "traction", "team", "website", "ask_cents", "currency",
            "created_at", "updated_at",
        )},
        equity_offered_pct=str(venture.equity_offered_pct),
        public=venture.is_public,
        deck=deck,
    ).model_dump(mode="json")


@operation(
    bp, "/ventures", "GET",
    summary="Public ventures (accepted to an event); an entrepreneur also sees their own drafts",
    who="anyone", public=True,
    responses={200: Response("The ventures", VentureList)},
    tag="ventures",
)
def list_ventures():
    """Browse ventures."""
    ventures = {v.id: v for v in services.public_ventures()}
    if current_user.is_authenticated:
        ventures.update({v.id: v for v in services.ventures_of(current_user)})
    ordered = sorted(ventures.values(), key=lambda v: (v.name.lower(), v.id))
    return jsonify({"ventures": [venture_out(v) for v in ordered]})


@operation(
    bp, "/ventures", "POST",
    summary="Create a venture", who="entrepreneur", body=VentureIn,
    responses={
        201: Response("The new venture", VentureOut),
        401: Response("Not logged in"), 403: Response("Not an entrepreneur"),
        422: Response("Invalid data"),
    },
    tag="ventures",
)
def create_venture():
    """Describe a new venture."""
    require_role(Role.ENTREPRENEUR)
    data = parse_json(VentureIn)
    venture = services.create_venture(current_user, services.VentureData(**data.model_dump()))
    db.session.commit()
    response = jsonify(venture_out(venture))
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_venture", venture_id=venture.id)
    return response


@operation(
    bp, "/ventures/<int:venture_id>", "GET",
    summary="One venture", who="owner; anyone once accepted to an event; organizers", public=True,
    responses={200: Response("The venture", VentureOut), 404: Response("No such venture, or private")},
    tag="ventures",
)
def get_venture(venture_id: int):
    """Read a venture."""
    return jsonify(venture_out(services.get_visible_venture(venture_id, current_user)))


@operation(
    bp, "/ventures/<int:venture_id>", "PATCH",
    summary="Edit a venture", who="owner", body=VenturePatch,
    responses={
        200: Response("The venture", VentureOut), 401: Response("Not logged in"),
        403: Response("Not the owner"), 404: Response("No such venture"), 422: Response("Invalid data"),
    },
    tag="ventures",
)
def patch_venture(venture_id: int):
    """Change some fields of a venture."""
    require_role(Role.ENTREPRENEUR)
    venture = services.get_visible_venture(venture_id, current_user)
    services.ensure_can_edit(venture, current_user)
    changes = parse_json(VenturePatch).model_dump(exclude_none=True)
    services.update_venture(venture, current_user, replace(services.venture_data(venture), **changes))
    db.session.commit()
    return jsonify(venture_out(venture))


@operation(
    bp, "/ventures/<int:venture_id>/deck", "PUT",
    summary="Upload the pitch deck (a real PDF, at most 10 MB)", who="owner",
    body_content_type="application/pdf",
    responses={
        200: Response("The venture with its deck", VentureOut), 401: Response("Not logged in"),
        403: Response("Not the owner"), 404: Response("No such venture"),
        413: Response("A body larger than the server accepts (over 11 MB)"), 415: Response("Not sent as application/pdf"),
        422: Response("Not an acceptable PDF"),
    },
    tag="ventures",
)
def put_venture_deck(venture_id: int):
    """Replace the venture's deck."""
    require_role(Role.ENTREPRENEUR)
    venture = services.get_visible_venture(venture_id, current_user)
    services.ensure_can_edit(venture, current_user)
    if request.mimetype != "application/pdf":
        raise UnsupportedMediaType(_("Send the deck with Content-Type: application/pdf."))
    if (request.content_length or 0) > current_app.config["MAX_CONTENT_LENGTH"]:
        raise RequestEntityTooLarge()  # as for every other request body this large
    if (request.content_length or 0) > MAX_DECK_BYTES:
        raise ValidationFailed({"deck": [services.DECK_MESSAGES["too_large"]()]})
    services.store_deck(venture, current_user, request.get_data(cache=False))
    db.session.commit()
    return jsonify(venture_out(venture))


@operation(
    bp, "/ventures/<int:venture_id>/deck", "GET",
    summary="Download the pitch deck", who="owner, organizers, the venture's judges; investors once public",
    responses={
        200: Response("The PDF", content_type="application/pdf", schema={"type": "string", "contentMediaType": "application/pdf"}),
        401: Response("Not logged in"), 403: Response("Not allowed"), 404: Response("No deck"),
    },
    tag="ventures",
)
def get_venture_deck(venture_id: int):
    """Read the deck."""
    venture = services.get_visible_venture(venture_id, current_user)
    services.ensure_can_view_deck(venture, current_user)
    return deck_response(venture)
