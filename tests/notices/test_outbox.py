"""The outbox: written in the caller's transaction, delivered once after it commits, retried."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from pitchtank.accounts.models import Role
from pitchtank.core.types import utcnow
from pitchtank.extensions import db
from pitchtank.notices import services as notices
from pitchtank.notices.models import EmailStatus, OutboxEmail


def _queue(user, key="verify-email:test", **context):
    notices.queue_email(user, "email_verification", dedupe_key=key,
                        context={"verify_url": "http://pitchtank.test/x", "valid_days": 3, **context})


def _row(key="verify-email:test") -> OutboxEmail:
    db.session.expire_all()
    return db.session.scalar(select(OutboxEmail).where(OutboxEmail.dedupe_key == key))


def test_delivered_after_commit_in_the_recipients_language(make, smtp_server):
    user = make.user(Role.ENTREPRENEUR, language="en", name="Ana Ruiz")
    db.session.commit()
    _queue(user)
    assert smtp_server.messages == []  # nothing before the commit
    db.session.commit()
    [message] = smtp_server.messages
    assert message["To"] == user.email
    assert message["Subject"] == "Confirm your email address for PitchTank"
    assert message["Content-Language"] == "en"
    assert "Hello Ana Ruiz," in message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert 'href="http://pitchtank.test/x"' in html and '<html lang="en">' in html
    row = _row()
    assert row.status == EmailStatus.SENT and row.attempts == 1 and row.sent_at is not None


def test_spanish_by_default(make, smtp_server):
    user = make.user(Role.ENTREPRENEUR)
    _queue(user)
    db.session.commit()
    [message] = smtp_server.messages
    assert message["Subject"] == "Confirma tu correo electrónico para PitchTank"
    assert message["Content-Language"] == "es-MX"


def test_nothing_sent_when_the_transaction_rolls_back(make, smtp_server):
    user = make.user(Role.ENTREPRENEUR)
    db.session.commit()
    _queue(user)
    db.session.rollback()
    assert _row() is None
    db.session.commit()
    assert smtp_server.messages == []


def test_the_same_fact_is_mailed_once(make, smtp_server):
    user = make.user(Role.ENTREPRENEUR)
    _queue(user)
    _queue(user)  # same transaction
    db.session.commit()
    _queue(user)  # a later transaction
    db.session.commit()
    assert len(smtp_server.messages) == 1
    assert db.session.scalar(select(db.func.count(OutboxEmail.id))) == 1


def test_racing_workers_send_a_row_once(app, make, smtp_server):
    user = make.user(Role.ENTREPRENEUR)
    db.session.commit()
    # Queue without the after-commit delivery: the row waits for the workers below.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(notices, "_deliver_after_commit", lambda email_id: None)
        _queue(user)
        db.session.commit()
    email_id = _row().id
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def worker():
        with app.app_context():
            barrier.wait()
            outcomes.append(notices.deliver(email_id))
            db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["sent", "skipped", "skipped", "skipped"]
    assert len(smtp_server.messages) == 1
    assert notices.deliver_due() == {"sent": 0, "retry": 0, "failed": 0, "skipped": 0}
    assert len(smtp_server.messages) == 1


def test_a_refused_send_is_retried_with_back_off(app, make, smtp_server):
    user = make.user(Role.ENTREPRENEUR)
    smtp_server.refuse_next(2)
    _queue(user)
    db.session.commit()  # first attempt: 451
    assert smtp_server.messages == []
    row = _row()
    assert (row.status, row.attempts) == (EmailStatus.PENDING, 1)
    assert "451" in row.last_error
    first_retry = row.next_attempt_at
    assert first_retry - utcnow() > timedelta(seconds=50)
    assert notices.deliver_due() == {"sent": 0, "retry": 0, "failed": 0, "skipped": 0}  # not due yet
    assert notices.deliver_due(now=first_retry + timedelta(seconds=1))["retry"] == 1  # 451 again
    row = _row()
    assert row.attempts == 2 and row.next_attempt_at - first_retry > timedelta(seconds=110)
    assert notices.deliver_due(now=row.next_attempt_at + timedelta(seconds=1))["sent"] == 1
    assert len(smtp_server.messages) == 1
    row = _row()
    assert (row.status, row.attempts, row.last_error) == (EmailStatus.SENT, 3, "")


def test_an_unreachable_server_is_retried_by_the_cli(app, make, smtp_server):
    port = app.config["MAIL_PORT"]
    app.config["MAIL_PORT"] = 1  # nothing listens there
    try:
        _queue(make.user(Role.ENTREPRENEUR))
        db.session.commit()
    finally:
        app.config["MAIL_PORT"] = port
    row = _row()
    assert row.status == EmailStatus.PENDING and row.attempts == 1
    db.session.execute(db.update(OutboxEmail).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["notices", "send"])
    assert result.exit_code == 0, result.output
    assert "sent 1" in result.output
    assert len(smtp_server.messages) == 1


def test_gives_up_after_the_last_attempt_and_can_be_revived(app, make, smtp_server):
    app.config["MAIL_MAX_ATTEMPTS"] = 2
    try:
        smtp_server.refuse_next(5)
        _queue(make.user(Role.ENTREPRENEUR))
        db.session.commit()
        later = utcnow() + timedelta(days=1)
        assert notices.deliver_due(now=later)["failed"] == 1
        assert _row().status == EmailStatus.FAILED
        assert notices.deliver_due(now=later + timedelta(days=1))["sent"] == 0
    finally:
        app.config["MAIL_MAX_ATTEMPTS"] = 10
    smtp_server.refuse_next(0)
    result = app.test_cli_runner().invoke(args=["notices", "send", "--retry-failed"])
    assert "1 failed email(s) queued again" in result.output and "sent 1" in result.output
    assert len(smtp_server.messages) == 1


def test_a_permanent_refusal_is_not_retried(app, make, smtp_server, monkeypatch):
    import smtplib

    def refuse(self, *args, **kwargs):
        raise smtplib.SMTPDataError(554, b"5.7.1 rejected as spam")

    monkeypatch.setattr(smtplib.SMTP, "send_message", refuse)
    _queue(make.user(Role.ENTREPRENEUR))
    db.session.commit()
    row = _row()
    assert row.status == EmailStatus.FAILED and row.attempts == 1 and "554" in row.last_error


def test_attachments_travel_with_the_message(make, smtp_server):
    user = make.user(Role.ENTREPRENEUR)
    pdf = b"%PDF-1.4\n%test\n"
    notices.queue_email(
        user, "email_verification", dedupe_key="with-attachment",
        context={"verify_url": "http://pitchtank.test/x", "valid_days": 3},
        attachments=[notices.Attachment("recibo.pdf", "application/pdf", pdf)])
    db.session.commit()
    [message] = smtp_server.messages
    [part] = list(message.iter_attachments())
    assert part.get_filename() == "recibo.pdf" and part.get_content_type() == "application/pdf"
    assert part.get_payload(decode=True) == pdf


def test_unknown_kind_is_a_programming_error(make):
    with pytest.raises(ValueError, match="unknown email kind"):
        notices.queue_email(make.user(Role.ENTREPRENEUR), "no_such_kind", dedupe_key="x", context={})


def test_console_backend_prints(app, make, capsys):
    app.config["MAIL_BACKEND"] = "console"
    try:
        _queue(make.user(Role.ENTREPRENEUR, language="en"))
        db.session.commit()
    finally:
        app.config["MAIL_BACKEND"] = "smtp"
    out = capsys.readouterr().out
    assert "Subject: Confirm your email address for PitchTank" in out and "http://pitchtank.test/x" in out
    assert _row().status == EmailStatus.SENT


def test_background_delivery_does_not_hold_the_commit(app, make, smtp_server):
    app.config["MAIL_DELIVER_AFTER_COMMIT_SYNC"] = False
    try:
        _queue(make.user(Role.ENTREPRENEUR))
        with app.test_request_context():  # as in a request: the response does not wait
            db.session.commit()
    finally:
        app.config["MAIL_DELIVER_AFTER_COMMIT_SYNC"] = True
    for thread in threading.enumerate():
        if thread.name == "pitchtank-mail":
            thread.join(timeout=10)
    assert len(smtp_server.messages) == 1
    assert _row().status == EmailStatus.SENT
