"""Faults with Stripe, through the investor's pages: Stripe unreachable (nothing listens on its
port) or slow (a local server that answers after the client's timeout). The pledge and the call
stay as they were, the attempt is kept as pending with the reason, the investor reads what
happened in their language, and a later retry against the fake Stripe (localstripe) charges the
card exactly once."""

from __future__ import annotations

import html
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from pitchtank.audit.models import AuditEntry
from pitchtank.extensions import db
from pitchtank.fund import ledger
from pitchtank.fund import stripe_gateway as gateway
from pitchtank.fund.models import (
    LedgerKind,
    LedgerTransaction,
    Payment,
    PaymentStatus,
    Pledge,
    PledgeStatus,
    StripeCustomer,
)
from tests.audit.test_audit_log import signed_in
from tests.stripe_fake import (  # noqa: F401 (fixtures)
    called_line,
    save_card,
    stripe_fake_fixture,
    stripe_on_fixture,
)

UNREACHABLE_EN = "We could not reach the payment processor. The payment is pending; try again in a few minutes."
UNREACHABLE_ES = ("No pudimos comunicarnos con el procesador de pagos. El pago quedó pendiente; "
                  "inténtalo de nuevo en unos minutos.")
FLASH = re.compile(r'<p class="flash flash--(\w+)">([^<]*)</p>')


def closed_port() -> str:
    """A loopback URL where nothing listens: connections are refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class SlowStripe:
    """A tiny HTTP server on 127.0.0.1 in front of the fake Stripe: it passes each request on
    (so Stripe does the work) and holds the answer back ``delay`` seconds, longer than the
    client waits. ``requests`` lists (path, Idempotency-Key) of what reached it."""

    def __init__(self, upstream: str, delay: float):
        self.upstream, self.delay, self.requests = upstream, delay, []
        slow = self

        class Handler(BaseHTTPRequestHandler):
            def _relay(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                slow.requests.append((self.path, self.headers.get("Idempotency-Key")))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                request = urllib.request.Request(slow.upstream + self.path, data=body or None,  # noqa: S310
                                                 method=self.command, headers=headers)
                try:
                    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (loopback)
                        status, payload = answer.status, answer.read()
                except urllib.error.HTTPError as error:
                    status, payload = error.code, error.read()
                time.sleep(slow.delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client gave up long ago
                    pass

            do_GET = do_POST = do_DELETE = _relay

            def log_message(self, *args):  # keep the test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.server.shutdown()
        self.server.server_close()


def flashes(client) -> list[tuple[str, str]]:
    page = client.get("/fund/dashboard")
    assert page.status_code == 200
    return [(kind, html.unescape(text)) for kind, text in FLASH.findall(page.get_data(as_text=True))]


def dashboard(client) -> str:
    return html.unescape(client.get("/fund/dashboard").get_data(as_text=True))


def snapshot(world) -> tuple:
    """What the fault must leave alone: the pledge, the call line's debt and the ledger."""
    db.session.expire_all()
    pledge = db.session.scalar(select(Pledge).where(Pledge.organization_id == world.organization.id))
    return (pledge.status, ledger.company_figures(world.fund.id, world.organization.id),
            ledger.line_outstanding(world.line.id), ledger.fund_figures(world.fund.id))


def audit_actions() -> list[str]:
    return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def bookings(payment_id: int) -> int:
    return db.session.scalar(select(func.count(LedgerTransaction.id)).where(
        LedgerTransaction.payment_id == payment_id, LedgerTransaction.kind == LedgerKind.PAYMENT))


def the_payment() -> Payment:
    db.session.expire_all()
    [payment] = db.session.scalars(select(Payment)).all()
    return payment


@pytest.mark.parametrize("lang, message", [("en", UNREACHABLE_EN), ("es_MX", UNREACHABLE_ES)])
def test_paying_while_stripe_is_unreachable_keeps_everything_and_a_retry_charges_once(
        stripe_on, client, make, app, monkeypatch, lang, message):
    world = called_line(make)
    save_card(stripe_on, client, world.organization, world.investor)
    before = snapshot(world)
    browser = signed_in(app, world.investor, lang=lang)

    monkeypatch.setitem(app.config, "STRIPE_API_BASE", closed_port())
    response = browser.post(f"/fund/lines/{world.line.id}/pay", data={})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"#line-{world.line.id}")
    assert ("info", message) in flashes(browser)
    payment = the_payment()
    assert (payment.status, payment.attempt, payment.stripe_payment_intent_id) == (PaymentStatus.PENDING, 1, None)
    assert payment.failure_message == message
    assert snapshot(world) == before
    assert "payment.stripe_unreachable" in audit_actions()
    page = dashboard(browser)
    assert message in page and f'action="/fund/lines/{world.line.id}/pay"' in page  # retry is offered
    # The organizer sees it among the payments needing attention.
    assert gateway.payments_needing_attention(world.fund.id) == [payment]

    # A second try while Stripe is still away: the same attempt, still pending, still one row.
    assert browser.post(f"/fund/lines/{world.line.id}/pay", data={}).status_code == 302
    assert flashes(browser) == [("info", message)]
    assert the_payment().attempt == 1 and db.session.scalar(select(func.count(Payment.id))) == 1

    # Stripe is back: the retry reuses the attempt's idempotency key and is charged once.
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", stripe_on.base_url)
    assert browser.post(f"/fund/lines/{world.line.id}/pay", data={}).status_code == 302
    [(kind, _text)] = flashes(browser)
    assert kind == "success"
    payment = the_payment()
    assert (payment.status, payment.attempt, payment.failure_message) == (PaymentStatus.SUCCEEDED, 1, "")
    assert stripe_on.idempotency_keys().count(f"call-line-{world.line.id}-attempt-1") == 1
    assert bookings(payment.id) == 1 and ledger.line_outstanding(world.line.id) == 0
    assert db.session.scalar(select(Pledge.status)) == PledgeStatus.ACTIVE


def test_a_slow_stripe_that_charged_after_the_timeout_is_not_charged_twice(stripe_on, client, make, app,
                                                                            monkeypatch):
    world = called_line(make)
    save_card(stripe_on, client, world.organization, world.investor)
    before = snapshot(world)
    browser = signed_in(app, world.investor)
    monkeypatch.setitem(app.config, "STRIPE_TIMEOUT_SECONDS", 0.5)
    key = f"call-line-{world.line.id}-attempt-1"

    with SlowStripe(stripe_on.base_url, delay=2.0) as slow:
        monkeypatch.setitem(app.config, "STRIPE_API_BASE", slow.url)
        started = time.monotonic()
        assert browser.post(f"/fund/lines/{world.line.id}/pay", data={}).status_code == 302
        assert time.monotonic() - started < 1.9  # the investor waited for the timeout, not for Stripe
        assert [k for _path, k in slow.requests if k] == [key]
    assert ("info", UNREACHABLE_EN) in flashes(browser)
    payment = the_payment()
    assert payment.status == PaymentStatus.PENDING and payment.stripe_payment_intent_id is None
    assert snapshot(world) == before  # Stripe charged, but nothing is booked before it says so
    time.sleep(2.0)  # the slow answer has been produced by now: Stripe holds one charge

    monkeypatch.setitem(app.config, "STRIPE_API_BASE", stripe_on.base_url)
    assert browser.post(f"/fund/lines/{world.line.id}/pay", data={}).status_code == 302
    payment = the_payment()
    assert payment.status == PaymentStatus.SUCCEEDED and payment.attempt == 1
    # The retry got Stripe's first answer back (same key): one PaymentIntent, booked once.
    intent = stripe_on.payment_intent(payment.stripe_payment_intent_id)
    assert intent["metadata"]["payment_id"] == str(payment.id) and intent["status"] == "succeeded"
    assert stripe_on.idempotency_keys().count(key) == 2
    assert bookings(payment.id) == 1 and ledger.line_outstanding(world.line.id) == 0


def test_the_client_retries_a_slow_stripe_with_the_same_key(stripe_on, client, make, app, monkeypatch):
    """The configured network retries resend the request with the same idempotency key, so the
    retries of one attempt can never add up to a second charge."""
    world = called_line(make)
    save_card(stripe_on, client, world.organization, world.investor)
    monkeypatch.setitem(app.config, "STRIPE_TIMEOUT_SECONDS", 0.4)
    monkeypatch.setitem(app.config, "STRIPE_MAX_NETWORK_RETRIES", 1)
    with SlowStripe(stripe_on.base_url, delay=1.5) as slow:
        monkeypatch.setitem(app.config, "STRIPE_API_BASE", slow.url)
        payment = gateway.charge_call_line(world.line, world.investor)
        keys = [k for _path, k in slow.requests if k]
    assert payment.status == PaymentStatus.PENDING
    assert keys == [f"call-line-{world.line.id}-attempt-1"] * 2
    time.sleep(1.5)
    charges = [k for k in stripe_on.idempotency_keys() if k == keys[0]]
    assert len(charges) == 2  # both reached Stripe; the second was answered from the first


@pytest.mark.parametrize("lang, message", [
    ("en", "We could not reach the payment processor. Nothing changed; try again in a few minutes."),
    ("es_MX", "No pudimos comunicarnos con el procesador de pagos. No cambió nada; inténtalo de nuevo en unos minutos."),
])
def test_saving_a_card_while_stripe_is_unreachable_changes_nothing(stripe_on, client, make, app, monkeypatch,
                                                                    lang, message):
    world = called_line(make)
    browser = signed_in(app, world.investor, lang=lang)
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", closed_port())
    response = browser.post("/fund/card", data={})
    assert response.status_code == 302 and response.headers["Location"].endswith("#card")
    assert ("error", message) in flashes(browser)
    assert db.session.scalar(select(func.count(StripeCustomer.id))) == 0
    assert "stripe.card_setup_started" not in audit_actions()

    # Stripe back: the same button creates the company's customer and goes on to Stripe.
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", stripe_on.base_url)
    from stripe.checkout._session_service import SessionService

    monkeypatch.setattr(SessionService, "create", lambda self, params=None, options=None: type(
        "S", (), {"id": "cs_test_1", "url": "https://checkout.stripe.test/c/cs_test_1"})())
    again = browser.post("/fund/card", data={})
    assert again.status_code == 303 and again.headers["Location"] == "https://checkout.stripe.test/c/cs_test_1"
    assert db.session.scalar(select(func.count(StripeCustomer.id))) == 1


def test_a_slow_stripe_during_card_set_up_leaves_a_clear_message(stripe_on, client, make, app, monkeypatch):
    world = called_line(make)
    browser = signed_in(app, world.investor)
    monkeypatch.setitem(app.config, "STRIPE_TIMEOUT_SECONDS", 0.3)
    with SlowStripe(stripe_on.base_url, delay=1.0) as slow:
        monkeypatch.setitem(app.config, "STRIPE_API_BASE", slow.url)
        assert browser.post("/fund/card", data={}).status_code == 302
    assert ("error", "We could not reach the payment processor. Nothing changed; try again in a few minutes.") \
        in flashes(browser)
    assert db.session.scalar(select(func.count(StripeCustomer.id))) == 0
    assert snapshot(world)[0] == PledgeStatus.ACTIVE
