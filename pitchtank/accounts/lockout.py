"""Account lock-out: repeated failed logins pause an email address, with a growing back-off.

Counted per normalised email address in the database, so that every worker and host agrees,
and counted the same way whether or not an account has that address: the answers and the
work done never tell an attacker which addresses exist.
"""

from __future__ import annotations

import hashlib
import math
from datetime import timedelta

from flask import current_app
from flask_babel import ngettext
from sqlalchemy import case, delete, select, update
from sqlalchemy.exc import IntegrityError

from pitchtank.accounts.models import EMAIL_MAX, LoginThrottle, User, normalize_email
from pitchtank.audit.services import record
from pitchtank.core.types import utcnow
from pitchtank.extensions import db


def email_key(email: str) -> str:
    return hashlib.sha256(normalize_email(email)[:EMAIL_MAX].encode()).hexdigest()


def _throttle(key: str) -> LoginThrottle | None:
    return db.session.scalar(
        select(LoginThrottle).where(LoginThrottle.email_key == key).execution_options(populate_existing=True)
    )


def seconds_locked(email: str) -> int:
    """How many seconds logins with ``email`` stay refused; 0 when they are allowed."""
    throttle = _throttle(email_key(email))
    if throttle is None or throttle.locked_until is None:
        return 0
    remaining = (throttle.locked_until - utcnow()).total_seconds()
    return math.ceil(remaining) if remaining > 0 else 0


def lock_duration(lock_count: int) -> int:
    """Seconds of the ``lock_count``-th lock in a row: the base, doubling, up to the cap."""
    config = current_app.config
    base, cap = config["LOGIN_LOCKOUT_SECONDS"], config["LOGIN_LOCKOUT_MAX_SECONDS"]
    return min(base * 2 ** min(max(lock_count - 1, 0), 30), cap)


def record_failure(email: str, user: User | None = None) -> int:
    """Count a failed login for ``email``; lock it once the failures reach the threshold.

    Returns the seconds of the lock this failure started (0 if none). The caller commits.
    """
    config = current_app.config
    key = email_key(email)
    now = utcnow()
    if _throttle(key) is None:
        try:
            with db.session.begin_nested():
                db.session.add(LoginThrottle(email_key=key, failures=0, lock_count=0))
        except IntegrityError:
            pass  # another request created it first: count on its row
    # One UPDATE counts the failure and takes the row's write lock until commit, so that
    # concurrent failures on several workers are neither lost nor lock twice.
    forgotten = LoginThrottle.last_failure_at < now - timedelta(seconds=config["LOGIN_LOCKOUT_FORGET_SECONDS"])
    db.session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.email_key == key)
        .values(
            failures=case((forgotten, 1), else_=LoginThrottle.failures + 1),
            lock_count=case((forgotten, 0), else_=LoginThrottle.lock_count),
            last_failure_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    throttle = _throttle(key)
    if throttle is None or throttle.failures < config["LOGIN_LOCKOUT_THRESHOLD"]:
        return 0
    if throttle.locked_until is not None and throttle.locked_until > now:
        return 0  # already locked by a concurrent request
    throttle.lock_count += 1
    seconds = lock_duration(throttle.lock_count)
    throttle.locked_until = now + timedelta(seconds=seconds)
    throttle.failures = 0
    db.session.flush()
    record("account.locked", actor=None, subject_type="user", subject_id=user.id if user else None,
           email=normalize_email(email)[:EMAIL_MAX], seconds=seconds, lock_count=throttle.lock_count,
           known_account=user is not None)
    return seconds


def record_success(email: str) -> None:
    """A complete login: forget the address's failures and locks."""
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.email_key == email_key(email)))


def locked_message(seconds: int) -> str:
    """The same words for every address, known or not."""
    minutes = max(1, math.ceil(seconds / 60))
    return ngettext(
        "Too many failed attempts. For your safety, logging in with this email is paused: "
        "try again in %(num)s minute.",
        "Too many failed attempts. For your safety, logging in with this email is paused: "
        "try again in %(num)s minutes.",
        minutes,
    )
