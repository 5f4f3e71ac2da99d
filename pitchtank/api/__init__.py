"""The public JSON API, version 1, under ``/api/v1``."""

from __future__ import annotations

from flask import Blueprint, jsonify, url_for
from pydantic import BaseModel

from pitchtank.api.openapi import Response, build_document, operation

bp = Blueprint("api", __name__, url_prefix="/api/v1")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    errors: dict[str, list[str]] | None = None


@operation(
    bp,
    "/openapi.json",
    "GET",
    summary="This OpenAPI 3.1 document",
    who="anyone",
    public=True,
    responses={200: Response("The OpenAPI document", schema={"type": "object"})},
    tag="meta",
)
def openapi_document():
    """Describe every endpoint of the API."""
    base = url_for("api.openapi_document").rsplit("/", 1)[0]
    return jsonify(build_document(base, Problem))


# Each feature registers its operations on ``bp``; importing them wires the routes.
from pitchtank.accounts import api as _accounts_api  # noqa: E402,F401
from pitchtank.events import api as _events_api  # noqa: E402,F401
from pitchtank.fund import api as _fund_api  # noqa: E402,F401
from pitchtank.fund import webhooks as _fund_webhooks  # noqa: E402,F401
from pitchtank.judging import api as _judging_api  # noqa: E402,F401
from pitchtank.ventures import api as _ventures_api  # noqa: E402,F401
