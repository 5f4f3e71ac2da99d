"""A real local fake Stripe for the tests: localstripe, served on 127.0.0.1 in a subprocess.

localstripe (PyPI, GPL) is used by the tests only, and only as a separate process: this file
imports it solely when run as a script (``python tests/stripe_fake.py --port N``); neither
the app nor the test process ever imports it.

As a script it serves localstripe's aiohttp app on 127.0.0.1 only (localstripe's own entry
point binds every interface), never writes its store to disk (it would otherwise pickle
everything to a shared file under /tmp on each request), and adapts three gaps between
localstripe and the Stripe API the app is written for:

- parameters of the current API that localstripe does not model and refuses
  (``automatic_payment_methods``, ``allowed_payment_method_types``, ``description`` ...) are
  dropped before localstripe sees them; they change nothing it simulates;
- ``Idempotency-Key`` is honoured like Stripe does: a repeat with the same key and the same
  parameters returns the first answer (also a card decline) and creates nothing, the same key
  with other parameters is an ``idempotency_error``; every key received is listed at
  ``GET /_config/pitchtank/idempotency-keys``;
- ``DELETE /_config/pitchtank/reset`` empties the store and the idempotency cache, so each
  test starts from a clean fake (database ids restart between tests; Stripe's never do).

In pytest, the session-scoped ``stripe_fake`` fixture starts it once on a free port, waits
until it answers, yields its base URL and stops the process at the end. It fails the run,
never skips, when the fake cannot start. ``stripe_on`` points the app at it for one test
(emptied first). Use them with ``pytest_plugins = ["tests.stripe_fake"]`` in the top
conftest, or ``from tests.stripe_fake import stripe_fake_fixture, stripe_on_fixture``. ``sign_payload`` and ``signed_headers`` produce a
``Stripe-Signature`` header exactly as Stripe computes it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import stripe

FAKE_SECRET_KEY = "sk_test_pitchtank_fake"
FAKE_WEBHOOK_SECRET = "whsec_test_pitchtank_fake"
START_TIMEOUT_SECONDS = 30

# Parameters of the current Stripe API that localstripe refuses as "Unexpected"; they only
# steer what Stripe offers or shows, never what localstripe simulates.
IGNORED_PARAMETERS = {
    "PaymentIntent": {"automatic_payment_methods", "allowed_payment_method_types", "description",
                      "return_url", "statement_descriptor", "statement_descriptor_suffix",
                      "receipt_email", "setup_future_usage"},
    "SetupIntent": {"automatic_payment_methods", "allowed_payment_method_types", "description"},
    "Customer": {"preferred_locales_hint"},
}


# --------------------------------------------------------------------------
# Signing events like Stripe
# --------------------------------------------------------------------------


def sign_payload(payload: str | bytes, secret: str = FAKE_WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` value for ``payload``: ``t=<ts>,v1=<HMAC-SHA256 of "<ts>.<payload>">``."""
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8")
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = hmac.new(secret.encode("utf-8"), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signature}"


def signed_headers(payload: str | bytes, secret: str = FAKE_WEBHOOK_SECRET, timestamp: int | None = None) -> dict:
    return {"Stripe-Signature": sign_payload(payload, secret, timestamp), "Content-Type": "application/json"}


def make_event(event_type: str, obj: dict, *, event_id: str | None = None, created: int | None = None) -> dict:
    """An event as Stripe sends it: the object's snapshot under ``data.object``."""
    return {
        "id": event_id or f"evt_test_{os.urandom(8).hex()}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()) if created is None else created,
        "livemode": False,
        "pending_webhooks": 1,
        "type": event_type,
        "data": {"object": obj},
    }


# --------------------------------------------------------------------------
# The pytest fixture
# --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(base_url: str) -> bool:
    request = urllib.request.Request(f"{base_url}/v1/customers?limit=1",  # noqa: S310 (loopback)
                                     headers={"Authorization": f"Bearer {FAKE_SECRET_KEY}"})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 (our own loopback URL)
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _start(log_path: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(log_path.parent),
        )
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if _answers(base_url):
            return process, base_url
        time.sleep(0.1)
    _stop(process)
    raise RuntimeError(f"localstripe did not answer on {base_url}:\n{log_path.read_text(errors='replace')[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


# One fake per test process, however many modules import the fixture: each import is its own
# fixture definition, and each of them takes a reference; the last one to finish stops it.
_running: dict[str, object] = {"process": None, "url": None, "users": 0, "workdir": None}


def _acquire() -> str:
    if _running["process"] is None:
        workdir = tempfile.TemporaryDirectory(prefix="pitchtank-stripe-fake-")
        log_path = Path(workdir.name) / "localstripe.log"
        errors = []
        for _ in range(3):  # a free port can be taken between probing it and binding it
            try:
                _running["process"], _running["url"] = _start(log_path)
                break
            except RuntimeError as error:
                errors.append(str(error))
        if _running["process"] is None:
            workdir.cleanup()
            pytest.fail("localstripe (the fake Stripe of the tests) could not start:\n" + "\n".join(errors),
                        pytrace=False)
        _running["workdir"] = workdir
    _running["users"] += 1
    return _running["url"]


def _release() -> None:
    _running["users"] -= 1
    if _running["users"] == 0 and _running["process"] is not None:
        _stop(_running["process"])
        _running["workdir"].cleanup()
        _running.update(process=None, url=None, workdir=None)


@pytest.fixture(scope="session", name="stripe_fake")
def stripe_fake_fixture():
    """The base URL of a running localstripe on 127.0.0.1, for the whole test session."""
    url = _acquire()
    try:
        yield url
    finally:
        _release()


def reset_fake(base_url: str) -> None:
    """Empty the fake's objects and idempotency cache."""
    request = urllib.request.Request(f"{base_url}/_config/pitchtank/reset", method="DELETE")  # noqa: S310
    with urllib.request.urlopen(request, timeout=5):  # noqa: S310 (our own loopback URL)
        pass


def idempotency_keys(base_url: str) -> list[str]:
    """Every ``Idempotency-Key`` the fake received since the last reset, in order."""
    with urllib.request.urlopen(f"{base_url}/_config/pitchtank/idempotency-keys", timeout=5) as response:  # noqa: S310
        return json.loads(response.read())


class FakeStripe:
    """The fake as the tests see it: a Stripe client to it, and what a browser, the Dashboard
    or Stripe itself would do there."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.client = stripe.StripeClient(FAKE_SECRET_KEY, base_addresses={"api": base_url}, max_network_retries=0)

    def payment_intent(self, payment_intent_id: str) -> dict:
        return self.client.v1.payment_intents.retrieve(payment_intent_id).to_dict()

    def setup_intent(self, setup_intent_id: str) -> dict:
        return self.client.v1.setup_intents.retrieve(setup_intent_id).to_dict()

    def charge(self, charge_id: str) -> dict:
        return self.client.v1.charges.retrieve(charge_id).to_dict()

    def confirm_setup(self, setup_intent_id: str, payment_method: str = "pm_card_visa") -> dict:
        """What Stripe.js does in the card holder's browser."""
        return self.client.v1.setup_intents.confirm(setup_intent_id, params={"payment_method": payment_method}).to_dict()

    def card(self, number: str) -> str:
        """A card PaymentMethod for one of Stripe's test numbers."""
        method = self.client.v1.payment_methods.create(params={
            "type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
        return method.id

    def create_payment_intent(self, **params) -> dict:
        """A PaymentIntent made outside the app (Checkout, the Dashboard, a lost answer)."""
        return self.client.v1.payment_intents.create(params=params).to_dict()

    def refund(self, payment_intent_id: str, amount: int | None = None) -> dict:
        params = {"payment_intent": payment_intent_id}
        if amount is not None:
            params["amount"] = amount
        return self.client.v1.refunds.create(params=params).to_dict()

    def customers(self) -> list[dict]:
        return [c.to_dict() for c in self.client.v1.customers.list(params={"limit": 100}).auto_paging_iter()]

    def idempotency_keys(self) -> list[str]:
        return idempotency_keys(self.base_url)


@pytest.fixture(name="stripe_on")
def stripe_on_fixture(app, db, stripe_fake, monkeypatch) -> FakeStripe:
    """The app configured for the fake (emptied first) for one test."""
    reset_fake(stripe_fake)
    for key, value in {"STRIPE_SECRET_KEY": FAKE_SECRET_KEY, "STRIPE_WEBHOOK_SECRET": FAKE_WEBHOOK_SECRET,
                       "STRIPE_API_BASE": stripe_fake, "STRIPE_MAX_NETWORK_RETRIES": 0,
                       "STRIPE_TIMEOUT_SECONDS": 10}.items():
        monkeypatch.setitem(app.config, key, value)
    return FakeStripe(stripe_fake)


def post_event(client, event: dict, *, secret: str = FAKE_WEBHOOK_SECRET, timestamp: int | None = None,
               headers: dict | None = None):
    """Deliver ``event`` to the app's webhook endpoint, signed like Stripe signs it."""
    payload = json.dumps(event)
    return client.post("/api/v1/webhooks/stripe", data=payload,
                       headers={**signed_headers(payload, secret, timestamp), **(headers or {})})


# --------------------------------------------------------------------------
# Fund data for the payment tests
# --------------------------------------------------------------------------

VALID_CLABE = "012225000123456786"


def called_line(make, *, pledge_cents: int = 1_000_000_00, percent: str = "10"):
    """A fund, one company's pledge and a capital call: ``.line`` owes ``percent`` of it."""
    from datetime import timedelta
    from decimal import Decimal
    from types import SimpleNamespace

    from pitchtank.accounts.models import Role
    from pitchtank.core.types import utcnow
    from pitchtank.extensions import db
    from pitchtank.fund import services

    organizer = make.user(Role.ORGANIZER)
    investor = make.user(Role.INVESTOR)
    today = utcnow().date()
    fund = services.create_fund(organizer, services.FundData(
        name="Fondo Clúster Bajío", target_cents=50_000_000_00, min_pledge_cents=100_000_00,
        commitment_deadline=today + timedelta(days=90), clabe=VALID_CLABE))
    services.pledge(fund.id, investor, pledge_cents)
    call = services.issue_capital_call(fund.id, organizer, percent=Decimal(percent),
                                       due_date=today + timedelta(days=30))
    db.session.commit()
    return SimpleNamespace(fund=fund, call=call, line=call.lines[0], investor=investor, organizer=organizer,
                           organization=investor.organization)


def save_card(fake: FakeStripe, client, organization, investor, payment_method: str = "pm_card_visa"):
    """The whole card set-up: a SetupIntent, confirmed as the browser would, and Stripe's
    ``setup_intent.succeeded`` delivered to the app. Returns the company's StripeCustomer."""
    from pitchtank.extensions import db
    from pitchtank.fund import stripe_gateway

    intent = stripe_gateway.create_setup_intent(organization, investor)
    confirmed = fake.confirm_setup(intent["id"], payment_method)
    response = post_event(client, make_event("setup_intent.succeeded", confirmed))
    assert response.status_code == 200, response.get_data(as_text=True)
    db.session.expire_all()
    return stripe_gateway.card_on_file(organization)


# --------------------------------------------------------------------------
# The server process
# --------------------------------------------------------------------------


def _serve(port: int) -> None:
    from aiohttp import web
    from localstripe import resources, server

    # Never pickle the store to /tmp/localstripe.pickle (shared by every run on the machine).
    resources.Store.dump_to_disk = lambda self: None

    for class_name, ignored in IGNORED_PARAMETERS.items():
        cls = getattr(resources, class_name)
        original_init = cls.__init__

        def init(self, *args, _original=original_init, _ignored=frozenset(ignored), **kwargs):
            for name in _ignored:
                kwargs.pop(name, None)
            _original(self, *args, **kwargs)

        cls.__init__ = init

    replies: dict[str, tuple[str, str, bytes, int, str]] = {}
    keys_seen: list[str] = []

    @web.middleware
    async def idempotency(request, handler):
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key or request.path.startswith("/_config/"):
            return await handler(request)
        keys_seen.append(key)
        body = await request.read()
        if key in replies:
            path, _method, first_body, status, text = replies[key]
            if (path, first_body) != (request.path, body):
                return server.json_response({"error": {
                    "type": "idempotency_error",
                    "message": "Keys for idempotent requests can only be used with the same parameters "
                               "they were first used with.",
                }}, status=400)
            return web.Response(status=status, text=text, content_type="application/json",
                                headers={"Idempotent-Replayed": "true"})
        try:
            response = await handler(request)
        except server.UserError as error:
            response = error.to_response()
        if response.status < 400 or response.status == 402:  # Stripe keeps what ran, also declines
            replies[key] = (request.path, request.method, body, response.status, response.text)
        return response

    async def list_keys(request):
        return server.json_response(keys_seen)

    async def reset(request):
        resources.store.clear()
        replies.clear()
        keys_seen.clear()
        return web.Response()

    server.app.middlewares.append(idempotency)
    server.app.router.add_get("/_config/pitchtank/idempotency-keys", list_keys)
    server.app.router.add_delete("/_config/pitchtank/reset", reset)
    web.run_app(server.app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    _serve(parser.parse_args().port)
