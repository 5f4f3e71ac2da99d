"""Per request: an id on every log line and in ``X-Request-ID``, one access-log line, and the
latency metric by endpoint."""

from __future__ import annotations

import logging
import time

from flask import Flask, current_app, g, request
from flask.logging import default_handler
from sqlalchemy import inspect

from pitchtank.core import metrics
from pitchtank.core.logs import configure_logging, request_id_from, request_id_var

access_log = logging.getLogger("pitchtank.access")

REQUEST_ID_HEADER = "X-Request-ID"
UNMATCHED = "unmatched"  # the endpoint label of requests no route answered (404, 405)


def _begin_request() -> None:
    g.request_started = time.perf_counter()
    g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
    request_id_var.set(g.request_id)


def _user_id() -> int | None:
    """The id of the user this request already loaded; never loads one (no query, no cookie)."""
    user = g.get("_login_user")
    if user is None or getattr(user, "is_anonymous", True):
        return None
    # The identity key is known without a query, even after a commit expired the object.
    identity = inspect(user).identity
    return identity[0] if identity else None


def _finish_request(response):
    request_id = g.get("request_id") or request_id_from(None)
    response.headers[REQUEST_ID_HEADER] = request_id
    seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
    endpoint = request.url_rule.endpoint if request.url_rule is not None else UNMATCHED
    metrics.observe_request(endpoint, request.method, response.status_code, seconds)
    if current_app.config["ACCESS_LOG"]:
        duration_ms = round(seconds * 1000, 1)
        access_log.info(
            "%s %s %s %.1f ms", request.method, request.path, response.status_code, duration_ms,
            extra={"method": request.method, "path": request.path, "endpoint": endpoint,
                   "status": response.status_code, "duration_ms": duration_ms, "user_id": _user_id(),
                   "remote_addr": request.remote_addr},
        )
    return response


def _end_request(_error: BaseException | None = None) -> None:
    request_id_var.set("-")


def init_app(app: Flask) -> None:
    """Configure logging (outside tests, whose capture does it) and wrap every request.

    The hooks go first, so that the clock starts before any other hook (CSRF, login) runs and
    the access line is written after every other hook has shaped the response.
    """
    if not app.testing:
        configure_logging(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
        app.logger.removeHandler(default_handler)  # the root handler already writes its records
    metrics.init_app(app)
    app.before_request_funcs.setdefault(None, []).insert(0, _begin_request)
    app.after_request_funcs.setdefault(None, []).insert(0, _finish_request)  # run in reverse
    # Last of all (teardowns run in reverse): the session's final ROLLBACK still carries the id.
    app.teardown_appcontext_funcs.insert(0, _end_request)
