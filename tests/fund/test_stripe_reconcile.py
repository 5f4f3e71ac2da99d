"""``flask fund reconcile [--fix]`` against the fake Stripe: report every difference, repair by appending."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from pitchtank.audit.models import AuditEntry
from pitchtank.extensions import db
from pitchtank.fund import (
    ledger,
    services,
    webhooks,  # noqa: F401 (registers the route even before the app imports it)
)
from pitchtank.fund import stripe_gateway as gateway
from pitchtank.fund.cli import fund_cli
from pitchtank.fund.models import (
    LedgerKind,
    LedgerTransaction,
    Payment,
    PaymentMethod,
    PaymentStatus,
)
from pitchtank.fund.reconcile import reconcile
from tests.stripe_fake import (  # noqa: F401 (fixtures)
    called_line,
    save_card,
    stripe_fake_fixture,
    stripe_on_fixture,
)


@pytest.fixture
def world(stripe_on, client, make):
    world = called_line(make)
    world.card = save_card(stripe_on, client, world.organization, world.investor)
    world.fake = stripe_on
    return world


def charge_outside_the_app(world, payment_method=None, **metadata) -> dict:
    return world.fake.create_payment_intent(
        amount=world.line.amount_cents, currency="mxn", customer=world.card.customer_id,
        payment_method=payment_method or world.card.payment_method_id, off_session=True, confirm=True,
        metadata={"call_line_id": str(world.line.id), "fund_id": str(world.fund.id),
                  "organization_id": str(world.organization.id), **metadata})


def recorded_payment(world, **fields) -> Payment:
    values = dict(call_line_id=world.line.id, method=PaymentMethod.CARD, status=PaymentStatus.PROCESSING,
                  amount_cents=world.line.amount_cents, reference=world.line.reference, attempt=1)
    payment = Payment(**{**values, **fields})
    db.session.add(payment)
    db.session.commit()
    return payment


def successes(payment_id: int) -> int:
    return db.session.scalar(select(func.count(LedgerTransaction.id)).where(
        LedgerTransaction.payment_id == payment_id, LedgerTransaction.kind == LedgerKind.PAYMENT))


def test_a_success_stripe_has_and_the_ledger_lacks_is_reported_then_booked(world, app):
    intent = charge_outside_the_app(world)
    payment = recorded_payment(world, stripe_payment_intent_id=intent["id"])  # the webhook never came
    runner = app.test_cli_runner()

    report = runner.invoke(fund_cli, ["reconcile"])
    assert report.exit_code == 1, report.output
    assert "unbooked_success" in report.output and intent["id"] in report.output
    assert "Run with --fix" in report.output
    db.session.expire_all()
    assert successes(payment.id) == 0  # a report changes nothing

    fixed = runner.invoke(fund_cli, ["reconcile", "--fix"])
    assert fixed.exit_code == 0, fixed.output
    assert "fixed: booked 10000000 MXN" in fixed.output
    db.session.expire_all()
    assert successes(payment.id) == 1
    assert db.session.get(Payment, payment.id).status == PaymentStatus.SUCCEEDED
    assert ledger.line_outstanding(world.line.id) == 0
    assert db.session.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.action == "payment.reconciled")) == 1

    again = runner.invoke(fund_cli, ["reconcile"])
    assert again.exit_code == 0 and "agree" in again.output


def test_an_attempt_whose_answer_was_lost_is_linked_and_booked(world):
    payment = recorded_payment(world, status=PaymentStatus.PENDING, failure_message="unreachable")
    intent = charge_outside_the_app(world, payment_id=str(payment.id))

    [difference] = reconcile()
    assert (difference.problem, difference.payment_id, difference.payment_intent_id) == (
        "not_sent", payment.id, intent["id"])
    [difference] = reconcile(fix=True)
    assert difference.fixed
    db.session.expire_all()
    payment = db.session.get(Payment, payment.id)
    assert payment.stripe_payment_intent_id == intent["id"] and payment.status == PaymentStatus.SUCCEEDED
    assert successes(payment.id) == 1
    assert reconcile() == []


def test_a_booking_stripe_does_not_back_is_reversed(world):
    # A PaymentIntent that never went through (created, never confirmed).
    intent = world.fake.create_payment_intent(amount=world.line.amount_cents, currency="mxn",
                                              customer=world.card.customer_id,
                                              metadata={"call_line_id": str(world.line.id)})
    assert intent["status"] == "requires_payment_method"
    payment = recorded_payment(world, status=PaymentStatus.SUCCEEDED, stripe_payment_intent_id=intent["id"])
    services.apply_payment(payment, external_key=gateway.success_key(intent["id"]))  # a wrong booking
    db.session.commit()
    assert ledger.line_outstanding(world.line.id) == 0

    [difference] = reconcile(fix=True)
    assert difference.problem == "booked_without_success" and difference.fixed
    db.session.expire_all()
    assert ledger.line_outstanding(world.line.id) == world.line.amount_cents
    reversal = db.session.scalar(select(LedgerTransaction).where(LedgerTransaction.kind == LedgerKind.REVERSAL))
    assert reversal is not None and reversal.payment_id == payment.id  # appended, nothing edited
    assert db.session.get(Payment, payment.id).status == PaymentStatus.PENDING
    assert ledger.ledger_sum(world.fund.id) == 0
    assert reconcile() == []


def test_a_refund_the_webhook_missed_is_booked(world):
    payment = gateway.charge_call_line(world.line, world.investor)
    refund = world.fake.refund(payment.stripe_payment_intent_id, 25_000_00)

    [difference] = reconcile(fix=True)
    assert difference.problem == "refunds" and difference.fixed
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).refunded_cents == 25_000_00
    assert db.session.scalar(select(LedgerTransaction.external_key).where(
        LedgerTransaction.kind == LedgerKind.REFUND)) == f"refund:{refund['id']}"
    assert ledger.line_outstanding(world.line.id) == 25_000_00
    assert reconcile() == []


def test_a_payment_made_for_a_call_line_outside_the_app_is_recorded(world):
    intent = charge_outside_the_app(world)  # e.g. from the Dashboard, with the line in its metadata

    [difference] = reconcile()
    assert difference.problem == "unknown_intent" and not difference.fixed
    reconcile(fix=True)
    db.session.expire_all()
    payment = db.session.scalar(select(Payment).where(Payment.stripe_payment_intent_id == intent["id"]))
    assert payment.status == PaymentStatus.SUCCEEDED and successes(payment.id) == 1
    assert reconcile() == []


def test_reconcile_needs_stripe(app, db, monkeypatch):
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", None)
    result = app.test_cli_runner().invoke(fund_cli, ["reconcile"])
    assert result.exit_code == 2 and "STRIPE_SECRET_KEY" in result.output
