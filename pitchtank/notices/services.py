"""Queue an email in the caller's transaction; deliver it once that transaction commits.

``queue_email`` writes an outbox row (with its rendered subject, plain text, HTML and any
attachments) in the same transaction as the fact it reports. Its ``dedupe_key`` is unique, so
the same fact queued twice is mailed once. After the commit the row is delivered — at once in
tests (``MAIL_DELIVER_AFTER_COMMIT_SYNC``), in a background thread (a greenlet under gevent)
otherwise, so a response never waits for the mail server. A failed send is retried with
back-off by ``flask notices send`` (run it every minute from cron or a systemd timer) and
opportunistically after later commits. A worker claims a row with a conditional UPDATE before
sending it, so two workers never send the same row, and marks it sent exactly once.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, has_request_context, render_template
from flask_babel import force_locale
from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from pitchtank.core.transaction import on_commit, on_rollback
from pitchtank.core.types import utcnow
from pitchtank.extensions import db
from pitchtank.notices import mail
from pitchtank.notices.kinds import KINDS
from pitchtank.notices.models import SUBJECT_MAX, EmailStatus, OutboxAttachment, OutboxEmail

log = logging.getLogger(__name__)

_PENDING_KEY = "pitchtank_outbox_pending"
CLAIM_LEASE = timedelta(minutes=5)  # far longer than MAIL_TIMEOUT; a crashed worker's row comes back after it
_emails = OutboxEmail.__table__
_attachments = OutboxAttachment.__table__


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


AttachmentsArg = Iterable[Attachment] | Callable[[], Iterable[Attachment]]


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute link for an email, always on ``PUBLIC_URL``: never built from the request's
    Host header, which a caller controls (a reset link must not point elsewhere)."""
    base = urlsplit(current_app.config["PUBLIC_URL"])
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "https")
    return adapter.build(endpoint, values, force_external=True)


def recipient_language(recipient) -> str:
    language = getattr(recipient, "language", None)
    return language if language in current_app.config["LANGUAGES"] else current_app.config["BABEL_DEFAULT_LOCALE"]


def queue_email(recipient, kind: str, *, dedupe_key: str, context: dict[str, Any],
                attachments: AttachmentsArg = ()) -> None:
    """Add the email to the outbox in the caller's transaction; it is delivered after the commit.

    ``recipient`` is a User (its email and language are used). A second call with the same
    ``dedupe_key`` does nothing. ``attachments`` may be a callable, called in the recipient's
    language (a PDF in the reader's language)."""
    if kind not in KINDS:
        raise ValueError(f"unknown email kind {kind!r}; add it to pitchtank/notices/kinds.py")
    if not dedupe_key or len(dedupe_key) > OutboxEmail.dedupe_key.type.length:
        raise ValueError("dedupe_key must name the fact in at most 200 characters")
    if not getattr(recipient, "email", None):
        return
    if db.session.scalar(select(OutboxEmail.id).where(OutboxEmail.dedupe_key == dedupe_key)) is not None:
        return  # this fact was already mailed (or is on its way)
    language = recipient_language(recipient)
    with force_locale(language):
        values = {"recipient": recipient, "external_url": external_url, **context}
        subject = " ".join(render_template(f"email/{kind}.subject.txt", **values).split())[:SUBJECT_MAX]
        body_text = render_template(f"email/{kind}.txt", **values)
        body_html = render_template(f"email/{kind}.html", **values)
        files = list(attachments() if callable(attachments) else attachments)
    now = utcnow()
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(_emails).values(
        dedupe_key=dedupe_key, kind=kind, recipient_id=getattr(recipient, "id", None),
        to_address=recipient.email, language=language, subject=subject, body_text=body_text,
        body_html=body_html, status=EmailStatus.PENDING, attempts=0, next_attempt_at=now,
        last_error="", created_at=now,
    ).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(_emails.c.id)
    # A concurrent transaction queued the same fact first: ON CONFLICT keeps ours a no-op
    # without aborting the caller's transaction.
    email_id = db.session.execute(statement).scalar()
    if email_id is None:
        return
    for file in files:
        db.session.add(OutboxAttachment(email_id=email_id, filename=file.filename,
                                        content_type=file.content_type, content=file.data))
    _deliver_after_commit(email_id)


def _deliver_after_commit(email_id: int) -> None:
    session = db.session()
    pending = session.info.get(_PENDING_KEY)
    if pending is None:
        pending = session.info[_PENDING_KEY] = []
        on_commit(session, partial(_after_commit, session))
        on_rollback(session, lambda: session.info.pop(_PENDING_KEY, None))
    pending.append(email_id)


def _after_commit(session) -> None:
    ids = session.info.pop(_PENDING_KEY, [])
    if not ids:
        return
    app = current_app._get_current_object()
    # Only a response must not wait: a command (`flask fund notify-overdue`) sends before it
    # exits, where a background thread would die with the process.
    if app.config.get("MAIL_DELIVER_AFTER_COMMIT_SYNC") or not has_request_context():
        _deliver_batch(ids)
    else:
        threading.Thread(target=_deliver_in_background, args=(app, ids), name="pitchtank-mail",
                         daemon=True).start()


def _deliver_in_background(app: Flask, ids: list[int]) -> None:
    with app.app_context():
        try:
            _deliver_batch(ids)
        finally:
            db.session.remove()


def _deliver_batch(ids: list[int]) -> None:
    for email_id in ids:
        deliver(email_id)
    # Opportunistic retry: a few rows whose back-off has passed ride along.
    extra = current_app.config.get("MAIL_OPPORTUNISTIC_RETRIES", 0)
    if extra:
        deliver_due(limit=extra)


def retry_delay(attempts: int) -> timedelta:
    """Back-off after the ``attempts``-th failure: 1, 2, 4, 8 ... minutes, at most the maximum."""
    config = current_app.config
    seconds = config["MAIL_RETRY_BASE_SECONDS"] * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, config["MAIL_RETRY_MAX_SECONDS"]))


def _claimable(now: datetime):
    return (
        (_emails.c.status == EmailStatus.PENDING)
        & (_emails.c.next_attempt_at <= now)
        & or_(_emails.c.claimed_until.is_(None), _emails.c.claimed_until < now)
    )


def deliver(email_id: int, *, now: datetime | None = None) -> str:
    """Try to send one due row. Returns ``sent``, ``retry``, ``failed`` (given up) or ``skipped``
    (not due, already sent, or claimed by another worker).

    Uses its own connections, never the caller's session: it runs after a commit too."""
    now = now or utcnow()
    token = secrets.token_hex(16)
    with db.engine.begin() as connection:
        claimed = connection.execute(
            update(_emails).where(_emails.c.id == email_id, _claimable(now)).values(
                claim_token=token, claimed_until=now + CLAIM_LEASE, attempts=_emails.c.attempts + 1)
        ).rowcount
        if claimed != 1:
            return "skipped"
        row = connection.execute(select(_emails).where(_emails.c.id == email_id)).mappings().one()
        files = connection.execute(select(_attachments).where(_attachments.c.email_id == email_id)
                                   .order_by(_attachments.c.id)).mappings().all()
    config = current_app.config
    permanent = False
    try:
        message = mail.build_message(row, files, sender=config["MAIL_DEFAULT_SENDER"])
        mail.send(message, config)
    except mail.PermanentFailure as error:
        permanent, failure = True, str(error)
    except Exception as error:  # unreachable server, 4xx, timeout: try again later
        failure = f"{type(error).__name__}: {error}"
    else:
        with db.engine.begin() as connection:
            connection.execute(update(_emails).where(_emails.c.id == email_id, _emails.c.claim_token == token)
                               .values(status=EmailStatus.SENT, sent_at=utcnow(), claimed_until=None,
                                       claim_token=None, last_error=""))
        log.info("email %s (%s) sent to %s", email_id, row["kind"], row["to_address"])
        return "sent"
    give_up = permanent or row["attempts"] >= config["MAIL_MAX_ATTEMPTS"]
    with db.engine.begin() as connection:
        connection.execute(update(_emails).where(_emails.c.id == email_id, _emails.c.claim_token == token).values(
            status=EmailStatus.FAILED if give_up else EmailStatus.PENDING,
            next_attempt_at=now + retry_delay(row["attempts"]), claimed_until=None, claim_token=None,
            last_error=failure[:2000]))
    log.warning("email %s (%s) to %s not sent (attempt %s%s): %s", email_id, row["kind"], row["to_address"],
                row["attempts"], ", giving up" if give_up else "", failure)
    return "failed" if give_up else "retry"


def deliver_due(*, limit: int = 100, now: datetime | None = None) -> dict[str, int]:
    """Send up to ``limit`` rows whose time has come; counts by outcome."""
    now = now or utcnow()
    with db.engine.connect() as connection:
        ids = connection.scalars(select(_emails.c.id).where(_claimable(now))
                                 .order_by(_emails.c.next_attempt_at, _emails.c.id).limit(limit)).all()
    outcomes = {"sent": 0, "retry": 0, "failed": 0, "skipped": 0}
    for email_id in ids:
        outcomes[deliver(email_id, now=now)] += 1
    return outcomes


def revive_failed() -> int:
    """Give rows that ran out of attempts a fresh start (after fixing the mail settings)."""
    with db.engine.begin() as connection:
        return connection.execute(update(_emails).where(_emails.c.status == EmailStatus.FAILED).values(
            status=EmailStatus.PENDING, attempts=0, next_attempt_at=utcnow())).rowcount

