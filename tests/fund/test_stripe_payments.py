"""Stripe flows against a real local fake Stripe (localstripe), and signed webhook events.

What localstripe does not implement (Checkout, disputes, most event types) is exercised by
signing events with the webhook secret here and posting them to the app, as Stripe would.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from flask_babel import gettext
from sqlalchemy import func, select
from stripe.checkout._session_service import SessionService

from pitchtank.accounts.models import Role
from pitchtank.audit.models import AuditEntry
from pitchtank.core.errors import Conflict, PermissionDenied
from pitchtank.extensions import db
from pitchtank.fund import (
    ledger,
    webhooks,  # noqa: F401 (registers the route even before the app imports it)
)
from pitchtank.fund import stripe_gateway as gateway
from pitchtank.fund.models import (
    LedgerKind,
    LedgerTransaction,
    Payment,
    PaymentMethod,
    PaymentStatus,
    StripeCustomer,
    StripeEvent,
)
from tests.stripe_fake import (  # noqa: F401 (fixtures)
    FAKE_WEBHOOK_SECRET,
    called_line,
    make_event,
    post_event,
    save_card,
    sign_payload,
    stripe_fake_fixture,
    stripe_on_fixture,
)


@pytest.fixture
def checkout(monkeypatch):
    """Stripe Checkout, which localstripe lacks: the Session requests are captured."""
    requests = []

    def create(self, params=None, options=None):
        requests.append(SimpleNamespace(params=params, options=options or {}))
        number = len(requests)
        return SimpleNamespace(id=f"cs_test_{number}", url=f"https://checkout.stripe.test/c/cs_test_{number}")

    monkeypatch.setattr(SessionService, "create", create)
    return requests


def payment_bookings(payment_id: int) -> list[LedgerTransaction]:
    return list(db.session.scalars(select(LedgerTransaction).where(
        LedgerTransaction.payment_id == payment_id, LedgerTransaction.kind == LedgerKind.PAYMENT)))


def stored_events() -> int:
    return db.session.scalar(select(func.count(StripeEvent.id)))


def audit_actions() -> list[str]:
    return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def charged(fake, client, make, payment_method="pm_card_visa"):
    """A company with a saved card whose call line was charged off-session."""
    world = called_line(make)
    save_card(fake, client, world.organization, world.investor, payment_method)
    world.payment = gateway.charge_call_line(world.line, world.investor)
    return world


# --------------------------------------------------------------------------
# Customers and cards
# --------------------------------------------------------------------------


def test_one_stripe_customer_per_company(stripe_on, make, checkout):
    world = called_line(make)
    first = gateway.create_setup_intent(world.organization, world.investor)
    second = gateway.create_setup_intent(world.organization, world.investor)
    url = gateway.start_card_setup(world.organization, world.investor, return_url="https://pitchtank.test/fund?x=1")

    rows = db.session.scalars(select(StripeCustomer)).all()
    assert len(rows) == 1 and rows[0].organization_id == world.organization.id
    assert first["customer"] == second["customer"] == rows[0].customer_id
    in_stripe = [c for c in stripe_on.customers()
                 if c["metadata"].get("organization_id") == str(world.organization.id)]
    assert [c["id"] for c in in_stripe] == [rows[0].customer_id]
    assert url == "https://checkout.stripe.test/c/cs_test_1"
    setup = checkout[0].params
    assert setup["mode"] == "setup" and setup["customer"] == rows[0].customer_id
    assert setup["allowed_payment_method_types"] == ["card"]
    assert setup["setup_intent_data"]["metadata"]["organization_id"] == str(world.organization.id)
    assert setup["success_url"].startswith("https://pitchtank.test/fund?x=1&")
    assert "{CHECKOUT_SESSION_ID}" in setup["success_url"]
    # A SetupIntent for off-session use, no hold and no charge.
    intent = stripe_on.setup_intent(first["id"])
    assert intent["usage"] == "off_session" and intent["customer"] == rows[0].customer_id


def test_only_the_company_investors_save_its_card(stripe_on, make):
    world = called_line(make)
    for outsider in (make.user(Role.INVESTOR), world.organizer, make.user(Role.ENTREPRENEUR)):
        with pytest.raises(PermissionDenied):
            gateway.create_setup_intent(world.organization, outsider)
    assert db.session.scalar(select(func.count(StripeCustomer.id))) == 0


def test_card_is_saved_when_stripe_reports_the_setup_intent(stripe_on, client, make):
    world = called_line(make)
    card = save_card(stripe_on, client, world.organization, world.investor)
    assert card.setup_status == "succeeded"
    assert card.card_summary == "Visa •••• 4242"
    assert card.payment_method_id and card.payment_method_id.startswith("pm_")
    assert "stripe.card_saved" in audit_actions()


def test_a_declined_card_is_not_saved_4000000000000002(stripe_on, client, make):
    import stripe

    world = called_line(make)
    intent = gateway.create_setup_intent(world.organization, world.investor)
    with pytest.raises(stripe.CardError):  # the browser shows Stripe's decline at once
        stripe_on.confirm_setup(intent["id"], "pm_card_visa_chargeDeclined")  # 4000 0000 0000 0002
    response = post_event(client, make_event("setup_intent.setup_failed", stripe_on.setup_intent(intent["id"])))
    assert response.status_code == 200
    db.session.expire_all()
    card = gateway.card_on_file(world.organization)
    assert card.setup_status == "failed" and card.payment_method_id is None
    with pytest.raises(Conflict):
        gateway.charge_call_line(world.line, world.investor)


# --------------------------------------------------------------------------
# Off-session charges and their webhooks
# --------------------------------------------------------------------------


def test_off_session_charge_succeeds_and_is_booked_once(stripe_on, client, make):
    world = charged(stripe_on, client, make)
    payment = world.payment
    assert payment.status == PaymentStatus.SUCCEEDED and payment.method == PaymentMethod.CARD
    assert payment.attempt == 1 and payment.amount_cents == world.line.amount_cents == 100_000_00
    assert stripe_on.idempotency_keys()[-1] == f"call-line-{world.line.id}-attempt-1"
    intent = stripe_on.payment_intent(payment.stripe_payment_intent_id)
    assert intent["status"] == "succeeded" and intent["amount"] == 100_000_00 and intent["currency"] == "mxn"
    assert intent["capture_method"] != "manual"  # no authorisation hold
    assert intent["metadata"] == {"call_line_id": str(world.line.id), "payment_id": str(payment.id),
                                  "fund_id": str(world.fund.id), "organization_id": str(world.organization.id),
                                  "reference": world.line.reference}
    assert ledger.line_outstanding(world.line.id) == 0

    succeeded = make_event("payment_intent.succeeded", intent)
    assert post_event(client, succeeded).get_json() == {"event_id": succeeded["id"], "outcome": "applied"}
    assert post_event(client, succeeded).get_json() == {"event_id": succeeded["id"], "outcome": "duplicate"}
    again = make_event("payment_intent.succeeded", intent)  # another event id, same PaymentIntent
    assert post_event(client, again).status_code == 200

    db.session.expire_all()
    assert len(payment_bookings(payment.id)) == 1
    assert stored_events() == 3  # the setup event and two distinct payment events
    assert db.session.get(Payment, payment.id).status == PaymentStatus.SUCCEEDED
    figures = ledger.fund_figures(world.fund.id)
    assert figures.paid_in_cents == 100_000_00 and figures.outstanding_cents == 0
    assert ledger.ledger_sum(world.fund.id) == 0


def test_the_webhook_books_a_charge_whose_answer_was_lost(stripe_on, client, make):
    world = called_line(make)
    card = save_card(stripe_on, client, world.organization, world.investor)
    # The app recorded the attempt, Stripe charged, and the answer never came back.
    payment = Payment(call_line_id=world.line.id, method=PaymentMethod.CARD, status=PaymentStatus.PENDING,
                      amount_cents=world.line.amount_cents, reference=world.line.reference, attempt=1)
    db.session.add(payment)
    db.session.commit()
    intent = stripe_on.create_payment_intent(
        amount=world.line.amount_cents, currency="mxn", customer=card.customer_id,
        payment_method=card.payment_method_id, off_session=True, confirm=True,
        metadata={"call_line_id": str(world.line.id), "payment_id": str(payment.id),
                  "fund_id": str(world.fund.id), "organization_id": str(world.organization.id)})
    processing_copy = {**intent, "status": "processing"}

    assert post_event(client, make_event("payment_intent.succeeded", intent)).status_code == 200
    # A late copy of an earlier state, created before the success, delivered after it.
    late = make_event("payment_intent.processing", processing_copy, created=int(time.time()) - 3600)
    assert post_event(client, late).status_code == 200

    db.session.expire_all()
    payment = db.session.get(Payment, payment.id)
    assert payment.stripe_payment_intent_id == intent["id"] and payment.status == PaymentStatus.SUCCEEDED
    assert len(payment_bookings(payment.id)) == 1
    assert ledger.line_outstanding(world.line.id) == 0


def test_events_out_of_order_never_undo_a_success(stripe_on, client, make):
    """With Stripe unable to show the PaymentIntent, each event's own copy is all there is."""
    world = called_line(make)
    payment = Payment(call_line_id=world.line.id, method=PaymentMethod.CARD, status=PaymentStatus.PROCESSING,
                      amount_cents=world.line.amount_cents, reference=world.line.reference,
                      stripe_payment_intent_id="pi_test_not_in_the_fake")
    db.session.add(payment)
    db.session.commit()
    base = {"id": "pi_test_not_in_the_fake", "object": "payment_intent", "amount": world.line.amount_cents,
            "currency": "mxn", "metadata": {"call_line_id": str(world.line.id)}, "last_payment_error": None}
    for kind, status in [("payment_intent.succeeded", "succeeded"), ("payment_intent.processing", "processing"),
                         ("payment_intent.payment_failed", "requires_payment_method"),
                         ("payment_intent.succeeded", "succeeded")]:
        error = {"code": "card_declined"} if status == "requires_payment_method" else None
        response = post_event(client, make_event(kind, {**base, "status": status, "last_payment_error": error}))
        assert response.status_code == 200

    db.session.expire_all()
    assert db.session.get(Payment, payment.id).status == PaymentStatus.SUCCEEDED
    assert len(payment_bookings(payment.id)) == 1
    assert ledger.ledger_sum(world.fund.id) == 0


def test_a_refused_signature_stores_nothing(stripe_on, client, make, app, monkeypatch):
    world = charged(stripe_on, client, make)
    intent = stripe_on.payment_intent(world.payment.stripe_payment_intent_id)
    event = make_event("payment_intent.succeeded", intent)
    before = (stored_events(), len(payment_bookings(world.payment.id)), len(audit_actions()))
    import json

    payload = json.dumps(event)
    url = "/api/v1/webhooks/stripe"
    refused = [
        client.post(url, data=payload, headers={"Stripe-Signature": sign_payload(payload, "whsec_wrong")}),
        client.post(url, data=payload),
        client.post(url, data=payload, headers={"Stripe-Signature": sign_payload(payload + " ")}),
        client.post(url, data=payload, headers={"Stripe-Signature": sign_payload(payload,
                                                                               timestamp=int(time.time()) - 600)}),
        client.post(url, data=b"\xff\xfe", headers={"Stripe-Signature": "t=1,v1=00"}),
    ]
    for response in refused:
        assert response.status_code == 400
        assert response.mimetype == "application/problem+json"
    not_an_event = "[1, 2]"
    response = client.post(url, data=not_an_event, headers={"Stripe-Signature": sign_payload(not_an_event)})
    assert response.status_code == 422
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", None)
    assert post_event(client, event).status_code == 400  # nothing to verify with

    db.session.expire_all()
    assert (stored_events(), len(payment_bookings(world.payment.id)), len(audit_actions())) == before
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", FAKE_WEBHOOK_SECRET)
    assert post_event(client, event).status_code == 200


def test_events_of_other_kinds_or_objects_are_acknowledged_and_ignored(stripe_on, client, make):
    called_line(make)
    for event in (make_event("customer.created", {"id": "cus_x", "object": "customer"}),
                  make_event("payment_intent.succeeded", {"id": "pi_test_elsewhere", "object": "payment_intent",
                                                          "status": "succeeded", "amount": 100, "currency": "mxn",
                                                          "metadata": {}})):
        assert post_event(client, event).get_json()["outcome"] == "ignored"
    assert db.session.scalar(select(func.count(LedgerTransaction.id)).where(
        LedgerTransaction.kind == LedgerKind.PAYMENT)) == 0


# --------------------------------------------------------------------------
# Declines, authentication, Stripe down
# --------------------------------------------------------------------------


def test_a_declined_charge_is_shown_with_a_way_to_fix_it(stripe_on, client, make, checkout):
    world = charged(stripe_on, client, make, payment_method="pm_card_chargeCustomerFail")  # 4000 0000 0000 0341
    payment = world.payment
    assert payment.status == PaymentStatus.FAILED
    assert payment.failure_message == gettext("The card was declined. Update the card and try again.")
    assert payment.stripe_payment_intent_id  # the declined PaymentIntent is on record
    assert "payment.failed" in audit_actions()
    assert gateway.payments_needing_attention(world.fund.id) == [payment]  # what the organizer sees
    assert ledger.line_outstanding(world.line.id) == world.line.amount_cents

    # Pay it another way on Stripe's page; the declined attempt is closed first.
    url = gateway.on_session_payment_url(payment, return_url="https://pitchtank.test/pledges")
    assert url.startswith("https://checkout.stripe.test/")
    assert stripe_on.payment_intent(payment.stripe_payment_intent_id)["status"] == "canceled"
    request = checkout[-1].params
    assert request["mode"] == "payment" and request["customer"] == gateway.card_on_file(world.organization).customer_id
    assert request["line_items"][0]["price_data"]["unit_amount"] == world.line.amount_cents
    assert request["payment_method_options"]["customer_balance"] == {
        "funding_type": "bank_transfer", "bank_transfer": {"type": "mx_bank_transfer"}}
    assert "oxxo" not in request["allowed_payment_method_types"]  # 100,000 MXN is above OXXO's limit
    assert request["payment_intent_data"]["metadata"]["replaces_payment_id"] == str(payment.id)

    # Or update the card and charge again: a new attempt with its own idempotency key.
    save_card(stripe_on, client, world.organization, world.investor, "pm_card_visa")
    retried = gateway.charge_call_line(world.line, world.investor)
    assert retried.id != payment.id and retried.attempt == 2 and retried.status == PaymentStatus.SUCCEEDED
    assert stripe_on.idempotency_keys()[-1] == f"call-line-{world.line.id}-attempt-2"
    assert gateway.payments_needing_attention(world.fund.id) == []
    assert ledger.line_outstanding(world.line.id) == 0


def test_a_card_needing_the_holder_leads_to_an_on_session_payment(stripe_on, client, make, checkout):
    world = called_line(make)
    card = save_card(stripe_on, client, world.organization, world.investor)
    card.payment_method_id = stripe_on.card("4000002500003155")  # 3-D Secure required
    db.session.commit()
    payment = gateway.charge_call_line(world.line, world.investor)
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    assert payment.failure_message == gettext(
        "Your bank needs the card holder to confirm this payment. Open the payment page to complete it.")
    with pytest.raises(Conflict):  # no second off-session try while this one waits
        gateway.charge_call_line(world.line, world.investor)

    gateway.on_session_payment_url(payment, return_url="https://pitchtank.test/pledges")
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).status == PaymentStatus.CANCELED
    metadata = checkout[-1].params["payment_intent_data"]["metadata"]
    # The holder pays on Checkout; Stripe reports the session and its PaymentIntent.
    intent = stripe_on.create_payment_intent(amount=world.line.amount_cents, currency="mxn",
                                             customer=card.customer_id, payment_method="pm_card_visa",
                                             confirm=True, metadata=metadata)
    session = {"id": "cs_test_1", "object": "checkout.session", "mode": "payment", "status": "complete",
               "payment_status": "paid", "payment_intent": intent["id"], "metadata": metadata}
    assert post_event(client, make_event("checkout.session.completed", session)).get_json()["outcome"] == "applied"
    assert post_event(client, make_event("payment_intent.succeeded", intent)).status_code == 200

    db.session.expire_all()
    new = db.session.scalar(select(Payment).where(Payment.stripe_payment_intent_id == intent["id"]))
    assert new.status == PaymentStatus.SUCCEEDED and new.attempt == 2 and new.method == PaymentMethod.CARD
    assert len(payment_bookings(new.id)) == 1 and payment_bookings(payment.id) == []
    assert ledger.line_outstanding(world.line.id) == 0


def test_small_calls_can_also_be_paid_at_oxxo(stripe_on, client, make, checkout):
    world = called_line(make, pledge_cents=100_000_00, percent="5")  # 5,000.00 MXN
    url = gateway.checkout_url_for_line(world.line, world.investor, return_url="https://pitchtank.test/p")
    assert url
    request = checkout[-1].params
    assert request["allowed_payment_method_types"] == ["card", "customer_balance", "oxxo"]
    assert request["payment_method_options"]["oxxo"] == {"expires_after_days": 3}


def test_stripe_unreachable_keeps_the_payment_pending_and_the_retry_reuses_its_key(stripe_on, client, make, app,
                                                                                   monkeypatch):
    world = called_line(make)
    save_card(stripe_on, client, world.organization, world.investor)
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", "http://127.0.0.1:9")  # nothing listens there
    payment = gateway.charge_call_line(world.line, world.investor)
    assert payment.status == PaymentStatus.PENDING and payment.stripe_payment_intent_id is None
    assert payment.failure_message == gettext(
        "We could not reach the payment processor. The payment is pending; try again in a few minutes.")
    assert gateway.payments_needing_attention(world.fund.id) == [payment]
    again = gateway.charge_call_line(world.line, world.investor)
    assert again.id == payment.id and again.attempt == 1

    monkeypatch.setitem(app.config, "STRIPE_API_BASE", stripe_on.base_url)
    done = gateway.charge_call_line(world.line, world.investor)
    assert done.id == payment.id and done.attempt == 1 and done.status == PaymentStatus.SUCCEEDED
    assert done.failure_message == ""
    assert stripe_on.idempotency_keys().count(f"call-line-{world.line.id}-attempt-1") == 1
    assert db.session.scalar(select(func.count(Payment.id))) == 1
    assert ledger.line_outstanding(world.line.id) == 0


def test_a_charge_in_flight_is_not_started_twice(stripe_on, client, make):
    world = called_line(make)
    save_card(stripe_on, client, world.organization, world.investor)
    db.session.add(Payment(call_line_id=world.line.id, method=PaymentMethod.CARD, status=PaymentStatus.PENDING,
                           amount_cents=world.line.amount_cents, reference=world.line.reference, attempt=1))
    db.session.commit()
    with pytest.raises(Conflict):
        gateway.charge_call_line(world.line, world.investor)
    assert not [key for key in stripe_on.idempotency_keys() if key.startswith("call-line-")]


def test_nothing_is_charged_when_nothing_is_owed(stripe_on, client, make):
    world = charged(stripe_on, client, make)
    with pytest.raises(Conflict):
        gateway.charge_call_line(world.line, world.investor)
    assert db.session.scalar(select(func.count(Payment.id))) == 1


# --------------------------------------------------------------------------
# Money going back
# --------------------------------------------------------------------------


def test_a_refund_is_booked_once_and_the_line_is_owed_again(stripe_on, client, make):
    world = charged(stripe_on, client, make)
    pi_id = world.payment.stripe_payment_intent_id
    refund = stripe_on.refund(pi_id, 30_000_00)
    charge = stripe_on.charge(refund["charge"])
    refunded = make_event("charge.refunded", charge)
    assert post_event(client, refunded).get_json()["outcome"] == "applied"
    assert post_event(client, refunded).get_json()["outcome"] == "duplicate"
    assert post_event(client, make_event("charge.refunded", charge)).status_code == 200

    db.session.expire_all()
    payment = db.session.get(Payment, world.payment.id)
    assert payment.refunded_cents == 30_000_00 and payment.status == PaymentStatus.SUCCEEDED
    assert ledger.line_outstanding(world.line.id) == 30_000_00
    refunds = db.session.scalars(select(LedgerTransaction).where(LedgerTransaction.kind == LedgerKind.REFUND)).all()
    assert [t.external_key for t in refunds] == [f"refund:{refund['id']}"]

    rest = stripe_on.refund(pi_id, 70_000_00)
    assert post_event(client, make_event("charge.refunded", stripe_on.charge(rest["charge"]))).status_code == 200
    db.session.expire_all()
    payment = db.session.get(Payment, world.payment.id)
    assert payment.refunded_cents == 100_000_00 and payment.status == PaymentStatus.REFUNDED
    assert ledger.line_outstanding(world.line.id) == world.line.amount_cents
    assert ledger.fund_figures(world.fund.id).paid_in_cents == 0
    assert ledger.ledger_sum(world.fund.id) == 0
    # A late success event does not turn the refunded payment back into a success.
    post_event(client, make_event("payment_intent.succeeded", stripe_on.payment_intent(pi_id)))
    db.session.expire_all()
    assert db.session.get(Payment, world.payment.id).status == PaymentStatus.REFUNDED
    assert len(payment_bookings(world.payment.id)) == 1


def test_a_refund_reported_before_the_success_books_both_once(stripe_on, client, make):
    world = called_line(make)
    card = save_card(stripe_on, client, world.organization, world.investor)
    payment = Payment(call_line_id=world.line.id, method=PaymentMethod.CARD, status=PaymentStatus.PENDING,
                      amount_cents=world.line.amount_cents, reference=world.line.reference, attempt=1)
    db.session.add(payment)
    db.session.commit()
    intent = stripe_on.create_payment_intent(
        amount=world.line.amount_cents, currency="mxn", customer=card.customer_id,
        payment_method=card.payment_method_id, off_session=True, confirm=True,
        metadata={"call_line_id": str(world.line.id), "payment_id": str(payment.id),
                  "organization_id": str(world.organization.id)})
    refund = stripe_on.refund(intent["id"], 10_000_00)
    assert post_event(client, make_event("charge.refunded", stripe_on.charge(refund["charge"]))).status_code == 200
    assert post_event(client, make_event("payment_intent.succeeded", intent)).status_code == 200
    db.session.expire_all()
    assert len(payment_bookings(payment.id)) == 1
    assert db.session.get(Payment, payment.id).refunded_cents == 10_000_00
    assert ledger.line_outstanding(world.line.id) == 10_000_00


def test_a_dispute_takes_the_money_once_and_a_won_dispute_returns_it(stripe_on, client, make):
    world = charged(stripe_on, client, make)
    intent = stripe_on.payment_intent(world.payment.stripe_payment_intent_id)
    dispute = {"id": "dp_test_1", "object": "dispute", "amount": world.payment.amount_cents, "currency": "mxn",
               "charge": intent["latest_charge"]["id"], "payment_intent": intent["id"],
               "status": "needs_response", "reason": "fraudulent"}
    created = make_event("charge.dispute.created", dispute)
    assert post_event(client, created).get_json()["outcome"] == "applied"
    assert post_event(client, created).get_json()["outcome"] == "duplicate"
    assert post_event(client, make_event("charge.dispute.updated", {**dispute, "status": "under_review"})
                      ).status_code == 200
    db.session.expire_all()
    payment = db.session.get(Payment, world.payment.id)
    assert payment.status == PaymentStatus.DISPUTED
    assert ledger.line_outstanding(world.line.id) == world.line.amount_cents
    assert gateway.payments_needing_attention(world.fund.id) == [payment]

    won = make_event("charge.dispute.closed", {**dispute, "status": "won"})
    assert post_event(client, won).status_code == 200
    assert post_event(client, make_event("charge.dispute.closed", {**dispute, "status": "won"})).status_code == 200
    db.session.expire_all()
    assert db.session.get(Payment, world.payment.id).status == PaymentStatus.SUCCEEDED
    assert ledger.line_outstanding(world.line.id) == 0
    assert ledger.ledger_sum(world.fund.id) == 0


def test_a_payment_of_another_amount_is_not_booked(stripe_on, client, make):
    world = called_line(make)
    payment = Payment(call_line_id=world.line.id, method=PaymentMethod.CARD, status=PaymentStatus.PROCESSING,
                      amount_cents=world.line.amount_cents, reference=world.line.reference,
                      stripe_payment_intent_id="pi_test_other_amount")
    db.session.add(payment)
    db.session.commit()
    intent = {"id": "pi_test_other_amount", "object": "payment_intent", "status": "succeeded",
              "amount": world.line.amount_cents - 1, "currency": "mxn",
              "metadata": {"call_line_id": str(world.line.id)}}
    assert post_event(client, make_event("payment_intent.succeeded", intent)).status_code == 200
    db.session.expire_all()
    assert payment_bookings(payment.id) == []
    assert db.session.get(Payment, payment.id).status == PaymentStatus.PROCESSING
    assert "payment.stripe_mismatch" in audit_actions()


def test_stripe_fees_are_booked_once(stripe_on, client, make):
    world = called_line(make)
    payment = Payment(call_line_id=world.line.id, method=PaymentMethod.CARD, status=PaymentStatus.PROCESSING,
                      amount_cents=world.line.amount_cents, reference=world.line.reference,
                      stripe_payment_intent_id="pi_test_with_fee")
    db.session.add(payment)
    db.session.commit()
    intent = {"id": "pi_test_with_fee", "object": "payment_intent", "status": "succeeded",
              "amount": world.line.amount_cents, "currency": "mxn", "metadata": {"call_line_id": str(world.line.id)},
              "latest_charge": {"id": "ch_test_fee", "object": "charge", "balance_transaction": {
                  "id": "txn_test_fee", "object": "balance_transaction", "amount": world.line.amount_cents,
                  "currency": "mxn", "fee": 3_603_00}}}
    for _ in range(2):
        assert post_event(client, make_event("payment_intent.succeeded", intent)).status_code == 200
    figures = ledger.fund_figures(world.fund.id)
    assert figures.fees_cents == 3_603_00
    assert figures.available_cents == world.line.amount_cents - 3_603_00
    assert ledger.ledger_sum(world.fund.id) == 0


def test_checkout_in_setup_mode_saves_the_card_when_the_session_completes(stripe_on, client, make):
    world = called_line(make)
    customer = gateway.ensure_customer(world.organization)
    db.session.commit()
    # What Checkout does on Stripe's page: its own SetupIntent, confirmed by the card holder.
    intent = stripe_on.client.v1.setup_intents.create(params={
        "customer": customer.customer_id, "usage": "off_session",
        "metadata": {"organization_id": str(world.organization.id)}})
    stripe_on.confirm_setup(intent.id, "pm_card_visa")
    session = {"id": "cs_test_setup", "object": "checkout.session", "mode": "setup", "status": "complete",
               "customer": customer.customer_id, "setup_intent": intent.id}
    assert post_event(client, make_event("checkout.session.completed", session)).get_json()["outcome"] == "applied"
    db.session.expire_all()
    card = gateway.card_on_file(world.organization)
    assert (card.setup_status, card.card_summary, card.setup_intent_id) == ("succeeded", "Visa •••• 4242", intent.id)
    # A later attempt that fails leaves the working card in place.
    failed = stripe_on.client.v1.setup_intents.create(params={"customer": customer.customer_id})
    stripe_on.client.v1.setup_intents.cancel(failed.id)
    post_event(client, make_event("setup_intent.setup_failed", stripe_on.setup_intent(failed.id)))
    db.session.expire_all()
    assert gateway.card_on_file(world.organization).setup_status == "succeeded"


def test_the_webhook_needs_no_csrf_token(stripe_on, client, make, app, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    response = post_event(client, make_event("customer.created", {"id": "cus_x", "object": "customer"}))
    assert response.status_code == 200


@pytest.mark.parametrize(("intent", "status"), [
    ({"status": "succeeded"}, PaymentStatus.SUCCEEDED),
    ({"status": "processing"}, PaymentStatus.PROCESSING),
    ({"status": "requires_action"}, PaymentStatus.REQUIRES_ACTION),
    ({"status": "canceled"}, PaymentStatus.CANCELED),
    ({"status": "requires_payment_method", "last_payment_error": None}, PaymentStatus.PENDING),
    ({"status": "requires_payment_method", "last_payment_error": {"code": "card_declined",
                                                                  "decline_code": "insufficient_funds"}},
     PaymentStatus.FAILED),
    # Stripe's answer to an off-session charge the bank wants the holder to confirm
    ({"status": "requires_payment_method", "last_payment_error": {"code": "authentication_required"}},
     PaymentStatus.REQUIRES_ACTION),
])
def test_payment_intent_states_map_to_payment_states(intent, status, app):
    assert gateway.status_of_intent(intent) == status


def test_decline_reasons_become_messages_the_company_can_act_on(app):
    with app.app_context():
        insufficient = gateway._message_for({"last_payment_error": {"code": "card_declined",
                                                                     "decline_code": "insufficient_funds"}},
                                            PaymentStatus.FAILED, PaymentMethod.CARD, "")
        assert insufficient == gettext("The card has insufficient funds. Use another card or try again later.")
        assert gateway._message_for({}, PaymentStatus.REQUIRES_ACTION, PaymentMethod.OXXO, "") == gettext(
            "Waiting for the cash payment at OXXO.")
