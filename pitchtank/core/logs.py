"""Logs an operator can search: one JSON object a line (or readable text in development),
each carrying the id of the request it was written for."""

from __future__ import annotations

import logging
import re
import sys
import uuid
from contextvars import ContextVar
from typing import IO

from pythonjsonlogger.json import JsonFormatter

# The id of the request being served; "-" outside requests (commands, background threads).
request_id_var: ContextVar[str] = ContextVar("pitchtank_request_id", default="-")

# A proxy's id is kept only if it cannot break a log line or a header: nginx's $request_id,
# a UUID, or any similar token.
_WELL_FORMED_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:=+/-]{0,127}")

TEXT_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
JSON_FIELDS = ("levelname", "name", "message", "request_id")
JSON_RENAMES = {"levelname": "level", "name": "logger"}
_HANDLER_MARK = "_pitchtank_handler"


def request_id_from(header: str | None) -> str:
    """The proxy's ``X-Request-ID`` if it is well formed, otherwise a new random one."""
    if header and _WELL_FORMED_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Stamps every record passing through a handler with the current request's id."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def formatter(fmt: str) -> logging.Formatter:
    """``json``: one object a line with time, level, logger, message, request id and any
    ``extra`` fields; ``text``: one readable line."""
    if fmt == "json":
        return JsonFormatter(list(JSON_FIELDS), rename_fields=JSON_RENAMES, timestamp="time")
    return logging.Formatter(TEXT_FORMAT)


def make_handler(fmt: str, stream: IO[str] | None = None) -> logging.Handler:
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter(fmt))
    handler.addFilter(RequestIdFilter())
    return handler


def configure_logging(fmt: str, level: str) -> logging.Handler:
    """Send every logger's records (the app's, SQLAlchemy's, libraries') to stderr in ``fmt``.

    Replaces the handler installed by an earlier call (one per process, however many apps
    are built); other handlers on the root logger, such as gunicorn's, are left alone.
    """
    if fmt not in ("json", "text"):
        raise RuntimeError(f"LOG_FORMAT={fmt!r} is not 'json' or 'text'.")
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    handler = make_handler(fmt)
    setattr(handler, _HANDLER_MARK, True)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
