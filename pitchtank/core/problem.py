"""RFC 9457 problem details, in the request's language."""

from __future__ import annotations

from flask import jsonify
from flask_babel import gettext as _


def status_title(status: int) -> str:
    titles = {
        400: _("Bad request"),
        401: _("Authentication required"),
        403: _("Not allowed"),
        404: _("Not found"),
        405: _("Method not allowed"),
        409: _("Conflict"),
        413: _("Too large"),
        415: _("Unsupported media type"),
        422: _("Invalid data"),
        429: _("Too many requests"),
        503: _("Service unavailable"),
    }
    return titles.get(status, _("Server error") if status >= 500 else _("Error"))


def problem_response(status: int, detail: str = "", errors: dict | None = None):
    body: dict = {
        "type": "about:blank",
        "title": status_title(status),
        "status": status,
        "detail": detail or status_title(status),
    }
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="pitchtank"'
    return response
