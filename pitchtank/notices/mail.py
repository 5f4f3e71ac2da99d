"""Turn an outbox row into a MIME message and hand it to the configured backend.

``MAIL_BACKEND=console`` prints the message (development); ``smtp`` sends it through
``MAIL_SERVER`` (production, and the tests, against a real SMTP server on 127.0.0.1).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import sys
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from pitchtank.core.types import utcnow

log = logging.getLogger(__name__)

BACKENDS = ("console", "smtp")


class PermanentFailure(Exception):
    """The server refused the message for good (a 5xx answer): retrying cannot help."""


def build_message(row: Mapping, attachments: Sequence[Mapping], *, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = row["subject"]
    message["From"] = sender
    message["To"] = row["to_address"]
    message["Date"] = format_datetime(utcnow())
    domain = parseaddr(sender)[1].rpartition("@")[2] or "pitchtank.invalid"
    message["Message-ID"] = make_msgid(idstring=f"outbox-{row['id']}", domain=domain)
    message["X-PitchTank-Kind"] = row["kind"]
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(row["body_text"])
    message.add_alternative(row["body_html"], subtype="html")
    for attachment in attachments:
        maintype, _, subtype = attachment["content_type"].partition("/")
        message.add_attachment(bytes(attachment["content"]), maintype=maintype, subtype=subtype or "octet-stream",
                               filename=attachment["filename"])
    # After the body: set_content() and add_alternative() move Content-* headers into the parts.
    message["Content-Language"] = "en" if row["language"] == "en" else "es-MX"
    return message


def send(message: EmailMessage, config: Mapping) -> None:
    """Deliver one message; raises ``PermanentFailure`` for a refusal and anything else for a
    failure worth retrying (the server unreachable, a 4xx answer, a timeout)."""
    backend = config.get("MAIL_BACKEND", "console")
    if backend == "console":
        _print(message)
    elif backend == "smtp":
        _send_smtp(message, config)
    else:
        raise PermanentFailure(f"MAIL_BACKEND={backend!r} is not one of {', '.join(BACKENDS)}")


def _print(message: EmailMessage) -> None:
    """Development: the headers, the plain text and the attachments' names, on stdout."""
    lines = [f"{name}: {value}" for name, value in message.items()]
    text = message.get_body(preferencelist=("plain",))
    lines += ["", text.get_content() if text is not None else ""]
    lines += [f"[attachment: {part.get_filename()} ({part.get_content_type()}, "
              f"{len(part.get_payload(decode=True) or b'')} bytes)]" for part in message.iter_attachments()]
    print("\n".join(["----- email -----", *lines, "----- end of email -----"]), file=sys.stdout, flush=True)
    log.info("email printed to the console: %s to %s", message["Subject"], message["To"])


def _send_smtp(message: EmailMessage, config: Mapping) -> None:
    host = config.get("MAIL_SERVER")
    if not host:
        raise RuntimeError("MAIL_SERVER is not set")
    port = int(config.get("MAIL_PORT") or 587)
    timeout = float(config.get("MAIL_TIMEOUT") or 20)
    use_ssl = bool(config.get("MAIL_USE_SSL"))
    try:
        if use_ssl:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout,
                                                  context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
        with smtp:
            if config.get("MAIL_USE_TLS") and not use_ssl:
                smtp.starttls(context=ssl.create_default_context())
            if config.get("MAIL_USERNAME"):
                smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        if codes and all(code >= 500 for code in codes):
            raise PermanentFailure(f"recipient refused: {error.recipients}") from error
        raise
    except smtplib.SMTPResponseException as error:
        if error.smtp_code >= 500 and not isinstance(error, smtplib.SMTPAuthenticationError):
            raise PermanentFailure(f"{error.smtp_code} {error.smtp_error!r}") from error
        raise
