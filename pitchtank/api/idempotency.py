"""``Idempotency-Key``: a repeated request returns the first answer and changes nothing."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime
from functools import wraps

from flask import current_app, g, make_response, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from pitchtank.core.errors import Conflict, ValidationFailed
from pitchtank.core.types import UTCDateTime, utcnow
from pitchtank.extensions import db

KEY_MAX = 255
WAIT_FOR_FIRST_SECONDS = 5.0


class IdempotencyRecord(db.Model):
    """The first answer to a keyed request, replayed for every repeat."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(KEY_MAX))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def _request_hash() -> str:
    digest = hashlib.sha256()
    for part in (request.method, request.path):
        digest.update(part.encode() + b"\0")
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _find(key: str) -> IdempotencyRecord | None:
    return db.session.scalar(
        select(IdempotencyRecord)
        .where(IdempotencyRecord.user_id == current_user.id, IdempotencyRecord.key == key)
        .execution_options(populate_existing=True)
    )


def _replay(record: IdempotencyRecord, request_hash: str):
    if record.request_hash != request_hash:
        message = _("This key was already used for a different request.")
        raise ValidationFailed({"Idempotency-Key": [message]}, message)
    replay = current_app.response_class(record.response_body, status=record.status_code,
                                        mimetype="application/json")
    replay.headers["Idempotent-Replayed"] = "true"
    return replay


def _claim(key: str, request_hash: str):
    """The stored answer to replay, or None once this request owns the key."""
    deadline = time.monotonic() + WAIT_FOR_FIRST_SECONDS
    while True:
        existing = _find(key)
        if existing is not None:
            if existing.status_code is not None:
                return existing
            if existing.request_hash != request_hash:
                return existing  # _replay refuses it as a different request
            if time.monotonic() > deadline:
                raise Conflict(_("A request with this Idempotency-Key is still being processed; retry shortly."))
            db.session.rollback()
            time.sleep(0.05)  # the first request with this key is still running
            continue
        # The claim joins the handler's transaction: if the handler fails, the claim goes too.
        db.session.add(IdempotencyRecord(user_id=current_user.id, key=key, request_hash=request_hash))
        try:
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
            continue
        return None


def idempotent(view):
    """Honour ``Idempotency-Key`` on an authenticated unsafe endpoint."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None or not current_user.is_authenticated:
            return view(*args, **kwargs)
        if not 1 <= len(key) <= KEY_MAX:
            message = _("Use between 1 and 255 characters.")
            raise ValidationFailed({"Idempotency-Key": [message]}, message)
        request_hash = _request_hash()
        existing = _claim(key, request_hash)
        if existing is not None:
            return _replay(existing, request_hash)
        g.defer_commit = True  # the answer is stored in the same transaction as the effect
        try:
            response = make_response(view(*args, **kwargs))
        finally:
            g.defer_commit = False
        record = _find(key)
        record.status_code = response.status_code
        record.response_body = response.get_data()
        db.session.commit()
        return response

    wrapped.idempotent = True
    return wrapped
