"""Turn domain errors and HTTP errors into problem+json for the API and pages for people."""

from __future__ import annotations

import logging

from flask import Flask, current_app, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException

from pitchtank.core.errors import DomainError, NotAuthenticated
from pitchtank.core.problem import problem_response, status_title
from pitchtank.extensions import db, login_manager

log = logging.getLogger(__name__)


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # the connection itself may be gone; the pool recovers it later
        log.warning("rollback failed", exc_info=True)


def _page(status: int, detail: str = ""):
    """One error template serves every status; it shows the translated title and detail."""
    body = render_template("errors/error.html", status=status, title=status_title(status),
                           detail=detail)
    return make_response(body, status)


def handle_domain_error(error: DomainError):
    _rollback()
    if is_api_request():
        return problem_response(error.status, error.message, getattr(error, "errors", None))
    if isinstance(error, NotAuthenticated):
        return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
    return _page(error.status, error.message)


def handle_csrf_error(error: CSRFError):
    _rollback()
    detail = _("The form expired or was sent from elsewhere. Reload the page and try again.")
    if is_api_request():
        return problem_response(400, detail)
    return _page(400, detail)


def handle_http_error(error: HTTPException):
    _rollback()
    status = error.code or 500
    detail = {
        404: _("We could not find that page."),
        405: _("That method is not allowed here."),
        413: _("The upload is too large."),
        429: _("Too many attempts. Wait a moment and try again."),
    }.get(status, "")
    response = problem_response(status, detail) if is_api_request() else _page(status, detail)
    allow = dict(error.get_headers()).get("Allow")
    if allow:
        response.headers["Allow"] = allow
    return response


def is_connection_failure(error: DBAPIError) -> bool:
    """The database could not be reached or dropped the connection (as opposed to a bug such
    as a violated constraint): ``connection_invalidated``, or an OperationalError, which
    is what drivers raise when a connection cannot be made, is lost or times out."""
    return bool(error.connection_invalidated) or isinstance(error, OperationalError)


def handle_database_error(error: DBAPIError):
    if is_connection_failure(error):
        return handle_database_unavailable(error)
    return handle_unexpected(error)


def handle_database_unavailable(error: Exception):
    """503 with Retry-After, after rolling back: nothing of the request is kept. The pool
    checks connections before use (pool_pre_ping), so requests succeed again by themselves
    once the database is back."""
    # The driver's message only: SQLAlchemy's own would include the statement's parameters.
    log.error("database unavailable (%s): %s", type(error).__name__, getattr(error, "orig", None) or error)
    _rollback()
    detail = _("The service is briefly unavailable. Nothing was saved; please try again.")
    if is_api_request():
        response = problem_response(503, detail)
    else:
        # Rendered as for a visitor: Flask-Login's template context would otherwise ask the
        # database who is logged in (or refresh the rolled-back user) and fail again.
        g._login_user = login_manager.anonymous_user()
        response = _page(503, detail)
    response.headers["Retry-After"] = str(current_app.config["DATABASE_RETRY_AFTER"])
    return response


def handle_unexpected(error: Exception):
    log.exception("unhandled error")
    _rollback()
    if is_api_request():
        return problem_response(500, _("Something went wrong on our side."))
    return _page(500, _("Something went wrong on our side."))


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(DBAPIError, handle_database_error)
    app.register_error_handler(PoolTimeoutError, handle_database_unavailable)
    app.register_error_handler(Exception, handle_unexpected)
