"""Run side effects (files, notices, live events) only once the database agrees."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
_COMMIT_KEY = "pitchtank_on_commit"
_ROLLBACK_KEY = "pitchtank_on_rollback"


def on_commit(session: Session, callback: Callable[[], None]) -> None:
    """Call ``callback`` after the current transaction commits; forget it on rollback."""
    session.info.setdefault(_COMMIT_KEY, []).append(callback)


def on_rollback(session: Session, callback: Callable[[], None]) -> None:
    """Call ``callback`` if the current transaction rolls back (undo a file written early)."""
    session.info.setdefault(_ROLLBACK_KEY, []).append(callback)


def _run(callbacks: list[Callable[[], None]]) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:  # a side effect must never undo a committed transaction
            log.exception("post-transaction callback failed")


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    session.info.pop(_ROLLBACK_KEY, None)
    _run(session.info.pop(_COMMIT_KEY, []))


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is not None:
        return  # a savepoint rolled back; the outer transaction may still commit
    session.info.pop(_COMMIT_KEY, None)
    _run(session.info.pop(_ROLLBACK_KEY, []))


def commit_request() -> None:
    """Commit the request's work, unless an outer step (``Idempotency-Key``) commits it
    together with what it records, so that both happen or neither does."""
    from flask import g

    from pitchtank.extensions import db

    if g.get("defer_commit"):
        db.session.flush()
    else:
        db.session.commit()
