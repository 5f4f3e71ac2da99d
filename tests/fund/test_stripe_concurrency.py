"""On PostgreSQL: concurrent webhook deliveries and capital-call payments leave the ledger balanced,
with every payment booked exactly once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from sqlalchemy import func, select

from pitchtank.core.errors import Conflict
from pitchtank.extensions import db
from pitchtank.fund import (
    ledger,
    webhooks,  # noqa: F401 (registers the route even before the app imports it)
)
from pitchtank.fund import stripe_gateway as gateway
from pitchtank.fund.models import (
    CallLine,
    LedgerKind,
    LedgerTransaction,
    Payment,
    PaymentMethod,
    PaymentStatus,
    StripeEvent,
)
from tests.conftest import DATABASE_URL
from tests.stripe_fake import (  # noqa: F401 (fixtures)
    called_line,
    make_event,
    post_event,
    save_card,
    stripe_fake_fixture,
    stripe_on_fixture,
)

pytestmark = pytest.mark.skipif(not (DATABASE_URL or "").startswith("postgres"),
                                reason="row locks and concurrent transactions need PostgreSQL")
THREADS = 8


def run_together(count: int, work):
    """Start ``count`` calls of ``work(i)`` at the same moment; their results in order."""
    barrier = threading.Barrier(count)

    def start(i):
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(start, range(count)))


def card_bookings() -> int:
    return db.session.scalar(select(func.count(LedgerTransaction.id)).where(
        LedgerTransaction.kind == LedgerKind.PAYMENT, LedgerTransaction.external_key.like("pi:%")))


@pytest.fixture
def lost_answer(stripe_on, client, make):
    """A charge Stripe made whose answer the app never got: only webhooks can book it."""
    world = called_line(make)
    card = save_card(stripe_on, client, world.organization, world.investor)
    world.payment = Payment(call_line_id=world.line.id, method=PaymentMethod.CARD, status=PaymentStatus.PENDING,
                            amount_cents=world.line.amount_cents, reference=world.line.reference, attempt=1)
    db.session.add(world.payment)
    db.session.commit()
    world.intent = stripe_on.create_payment_intent(
        amount=world.line.amount_cents, currency="mxn", customer=card.customer_id,
        payment_method=card.payment_method_id, off_session=True, confirm=True,
        metadata={"call_line_id": str(world.line.id), "payment_id": str(world.payment.id),
                  "organization_id": str(world.organization.id), "fund_id": str(world.fund.id)})
    return world


def test_the_same_event_from_eight_deliveries_is_applied_once(lost_answer, client):
    event = make_event("payment_intent.succeeded", lost_answer.intent)
    responses = run_together(THREADS, lambda i: post_event(client, event))

    assert [r.status_code for r in responses] == [200] * THREADS, [r.get_data(as_text=True) for r in responses]
    outcomes = sorted(r.get_json()["outcome"] for r in responses)
    assert outcomes == ["applied"] + ["duplicate"] * (THREADS - 1)
    db.session.expire_all()
    assert db.session.scalar(select(func.count(StripeEvent.id)).where(StripeEvent.event_id == event["id"])) == 1
    assert card_bookings() == 1
    assert db.session.get(Payment, lost_answer.payment.id).status == PaymentStatus.SUCCEEDED
    assert ledger.line_outstanding(lost_answer.line.id) == 0
    assert ledger.ledger_sum(lost_answer.fund.id) == 0


def test_different_events_and_a_bank_transfer_at_once_book_each_payment_once(lost_answer, client, api_token):
    organizer = api_token(lost_answer.organizer)
    transfer = {"amount_cents": 40_000_00, "paid_on": date.today().isoformat(), "reference": "SPEI 777"}
    kinds = ["payment_intent.succeeded", "payment_intent.processing", "charge.succeeded",
             "payment_intent.succeeded", "payment_intent.succeeded", "payment_intent.succeeded"]
    transfers_url = f"/api/v1/call-lines/{lost_answer.line.id}/transfers"

    def deliver(i):
        if i >= len(kinds):
            return client.post(transfers_url, json=transfer,
                               headers={**organizer, "Idempotency-Key": f"spei-{i}"})
        return post_event(client, make_event(kinds[i], lost_answer.intent))

    responses = run_together(THREADS, deliver)

    assert sorted(r.status_code for r in responses) == [200] * len(kinds) + [201] * (THREADS - len(kinds))
    db.session.expire_all()
    assert card_bookings() == 1
    paid = lost_answer.line.amount_cents + 2 * transfer["amount_cents"]
    figures = ledger.company_figures(lost_answer.fund.id, lost_answer.organization.id)
    assert figures.outstanding_cents == 0  # paid in full, never below zero
    assert figures.overpaid_cents == paid - lost_answer.line.amount_cents  # the excess is held, not lost
    assert ledger.fund_figures(lost_answer.fund.id).available_cents == lost_answer.line.amount_cents
    assert ledger.ledger_sum(lost_answer.fund.id) == 0


def test_eight_concurrent_charges_of_one_line_charge_the_card_once(stripe_on, client, make, app):
    world = called_line(make)
    save_card(stripe_on, client, world.organization, world.investor)
    line_id, investor_id = world.line.id, world.investor.id

    def charge(_):
        with app.app_context():
            from pitchtank.accounts.models import User

            try:
                payment = gateway.charge_call_line(db.session.get(CallLine, line_id), db.session.get(User, investor_id))
                return payment.status
            except Conflict:
                return "conflict"
            finally:
                db.session.remove()

    results = run_together(THREADS, charge)

    assert sorted(map(str, results)) == ["conflict"] * (THREADS - 1) + [PaymentStatus.SUCCEEDED.value]
    assert [k for k in stripe_on.idempotency_keys() if k.startswith("call-line-")] == [
        f"call-line-{line_id}-attempt-1"]
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Payment.id))) == 1
    assert card_bookings() == 1
    assert ledger.line_outstanding(line_id) == 0
    assert ledger.ledger_sum(world.fund.id) == 0
