"""Test-only WSGI entry point: the production app plus a hook that stalls a request inside its
open database transaction, so that a test can kill the worker mid-request.

Never imported by the application: gunicorn loads it only in tests/multiserver
(``gunicorn -c gunicorn.conf.py tests.multiserver.stall_wsgi:app``). A request carrying
``X-Test-Stall: <name>`` flushes its writes (they now sit uncommitted in PostgreSQL), writes
the worker's pid to ``$PITCHTANK_TEST_STALL_DIR/<name>`` and sleeps instead of committing.
Every response names the worker that served it in ``X-Test-Worker``.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.orm import Session

from wsgi import app

STALL_HEADER = "X-Test-Stall"
STALL_DIR = Path(os.environ["PITCHTANK_TEST_STALL_DIR"])
STALL_SECONDS = 60


@event.listens_for(Session, "before_commit")
def _stall_before_commit(session: Session) -> None:
    if not has_request_context():
        return
    name = request.headers.get(STALL_HEADER, "")
    if not re.fullmatch(r"[a-z0-9-]{1,40}", name):
        return
    session.flush()  # the rows are written, inside a transaction that is not committed
    (STALL_DIR / name).write_text(str(os.getpid()))
    time.sleep(STALL_SECONDS)  # gevent-patched: only this request waits for its SIGKILL


@app.after_request
def _name_the_worker(response):
    response.headers["X-Test-Worker"] = str(os.getpid())
    return response
