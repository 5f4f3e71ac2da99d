"""Compare the fund's Stripe payments with Stripe, report every difference, and optionally repair.

For each local Stripe payment the PaymentIntent is read from Stripe and compared with what
the ledger booked:

=======================  ==============================================  =========================
problem                  meaning                                         ``--fix``
=======================  ==============================================  =========================
unbooked_success         succeeded in Stripe, not booked here            book it (apply_payment)
booked_without_success   booked here, not succeeded in Stripe            reversing entry
status                   local status differs from Stripe's              set it from Stripe
refunds                  refunds booked here differ from Stripe's        book / reverse per refund
amount                   Stripe's amount or currency is not the local    report only
missing_in_stripe        Stripe does not know the PaymentIntent          report only
not_sent                 an attempt Stripe never answered (no intent)    link it if Stripe has one
unknown_intent           a PaymentIntent for a call line, not recorded   record (and book) it
unreachable              Stripe could not be asked                       report only
=======================  ==============================================  =========================

Each fix runs in its own transaction and is audited; the ledger is only ever appended to.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import stripe
from sqlalchemy import select

from pitchtank.audit.services import record
from pitchtank.core.types import utcnow
from pitchtank.extensions import db
from pitchtank.fund import ledger
from pitchtank.fund import stripe_gateway as gateway
from pitchtank.fund.models import LedgerKind, LedgerTransaction, Payment, PaymentStatus

log = logging.getLogger(__name__)

TRANSIENT = (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError)


@dataclass
class Difference:
    problem: str
    payment_id: int | None
    payment_intent_id: str | None
    local: str
    stripe: str
    action: str = "reported"

    @property
    def fixed(self) -> bool:
        return self.action.startswith("fixed")


def _booked_refunds(payment: Payment) -> int:
    """Refunds booked for the payment and not reversed since."""
    reversed_ids = select(LedgerTransaction.reverses_id).where(LedgerTransaction.reverses_id.is_not(None))
    refunds = db.session.scalars(select(LedgerTransaction).where(
        LedgerTransaction.payment_id == payment.id, LedgerTransaction.kind == LedgerKind.REFUND,
        LedgerTransaction.external_key.like("refund:%"), LedgerTransaction.id.not_in(reversed_ids)))
    return sum(-entry.amount_cents for transaction in refunds for entry in transaction.entries
               if entry.account == ledger.CASH)


def _stripe_refunds(intent: dict) -> tuple[dict, list[dict]] | None:
    charge = intent.get("latest_charge")
    charge_id = gateway.object_id(charge)
    if not charge_id:
        return None
    charge = charge if isinstance(charge, dict) else {"id": charge_id, "payment_intent": intent.get("id")}
    return charge, gateway.refunds_of_charge(charge_id)


def _fix(difference: Difference, repair, *, actor=None) -> None:
    try:
        note = repair()
        record("payment.reconciled", actor=actor, subject_type="payment", subject_id=difference.payment_id,
               problem=difference.problem, payment_intent_id=difference.payment_intent_id or "", note=note)
        db.session.commit()
        difference.action = f"fixed: {note}"
    except Exception as error:  # one failed repair must not stop the others
        db.session.rollback()
        log.exception("reconcile fix failed for %s", difference)
        difference.action = f"fix failed: {error}"


def _check_payment(payment: Payment, intent: dict, *, fix: bool, actor) -> list[Difference]:
    found: list[Difference] = []
    pid, pi_id = payment.id, intent["id"]
    amount, currency = intent.get("amount"), str(intent.get("currency") or "").lower()
    if amount != payment.amount_cents or currency != payment.currency.lower():
        return [Difference("amount", pid, pi_id, f"{payment.amount_cents} {payment.currency}",
                           f"{amount} {currency.upper()}")]
    stripe_status = intent.get("status") or "?"
    succeeded = stripe_status == "succeeded"
    booking = gateway.active_success_booking(payment)
    expected = gateway.status_of_intent(intent)
    if succeeded and booking is None:
        difference = Difference("unbooked_success", pid, pi_id, f"{payment.status.value}, not booked", stripe_status)
        found.append(difference)
        if fix:
            _fix(difference, lambda: _book(intent, actor), actor=actor)
    elif not succeeded and booking is not None:
        difference = Difference("booked_without_success", pid, pi_id, f"{payment.status.value}, booked",
                                stripe_status)
        found.append(difference)
        if fix:
            _fix(difference, lambda: _unbook(pid, intent, actor), actor=actor)
    elif not (payment.status == expected or (succeeded and payment.status in gateway.SETTLED)):
        difference = Difference("status", pid, pi_id, payment.status.value, stripe_status)
        found.append(difference)
        if fix:
            _fix(difference, lambda: _set_status(pid, intent, expected), actor=actor)
    if succeeded:
        refunds = _stripe_refunds(intent)
        if refunds is not None:
            charge, listed = refunds
            in_stripe = sum(r.get("amount") or 0 for r in listed if r.get("status") in gateway.REFUND_OUTGOING)
            db.session.expire_all()
            here = _booked_refunds(db.session.get(Payment, pid))
            if in_stripe != here:
                difference = Difference("refunds", pid, pi_id, f"{here} refunded", f"{in_stripe} refunded")
                found.append(difference)
                if fix:
                    _fix(difference, lambda: _sync_refunds(charge, listed, intent, actor), actor=actor)
    return found


def _book(intent: dict, actor) -> str:
    payment = gateway.apply_payment_intent(intent, actor=actor)
    if payment is None or gateway.active_success_booking(payment) is None:
        raise RuntimeError("the success could not be booked")
    return f"booked {payment.amount_cents} {payment.currency}"


def _unbook(payment_id: int, intent: dict, actor) -> str:
    payment = gateway._lock_payment(payment_id)
    gateway._lock_line(payment.call_line_id)
    booking = gateway.active_success_booking(payment)
    if booking is None:
        return "already reversed"
    ledger.reverse(booking, memo=f"Reconcile: {intent['id']} is {intent.get('status')} in Stripe", actor=actor)
    payment.status = gateway.status_of_intent(intent)
    payment.paid_on = None
    db.session.flush()
    return f"reversed ledger transaction {booking.id}"


def _set_status(payment_id: int, intent: dict, expected: PaymentStatus) -> str:
    payment = gateway._lock_payment(payment_id)
    before = payment.status
    payment.status = expected
    payment.failure_message = gateway._message_for(intent, expected, payment.method, payment.failure_message)
    db.session.flush()
    return f"status {before.value} -> {expected.value}"


def _sync_refunds(charge: dict, refunds: list[dict], intent: dict, actor) -> str:
    payment = gateway.apply_refunds(charge, refunds, intent=intent, actor=actor)
    if payment is None:
        raise RuntimeError("the refunds could not be applied")
    return f"refunded {payment.refunded_cents} in total"


def _link(intent: dict, actor) -> str:
    payment = gateway.apply_payment_intent(intent, actor=actor)
    if payment is None:
        raise RuntimeError("no call line to record it against")
    return f"recorded as payment {payment.id} ({payment.status.value})"


def _intents_with_call_lines() -> Iterable[dict]:
    listing = gateway.client().v1.payment_intents.list(params={"limit": 100})
    for intent in listing.auto_paging_iter():
        intent = gateway.as_dict(intent)
        if (intent.get("metadata") or {}).get("call_line_id"):
            yield intent


def reconcile(*, fix: bool = False, actor=None) -> list[Difference]:
    """Every difference between the local Stripe payments and Stripe; repaired with ``fix``."""
    differences: list[Difference] = []
    payments = list(db.session.scalars(select(Payment).where(Payment.method.in_(gateway.STRIPE_METHODS))
                                       .order_by(Payment.id)))
    known = {p.stripe_payment_intent_id for p in payments if p.stripe_payment_intent_id}
    unsent = [p for p in payments if p.stripe_payment_intent_id is None and p.status == PaymentStatus.PENDING]
    for payment in payments:
        if payment.stripe_payment_intent_id is None:
            continue
        try:
            intent = gateway.retrieve_payment_intent(payment.stripe_payment_intent_id)
        except TRANSIENT as error:
            differences.append(Difference("unreachable", payment.id, payment.stripe_payment_intent_id,
                                          payment.status.value, str(error)[:60]))
            continue
        except stripe.StripeError as error:
            differences.append(Difference("missing_in_stripe", payment.id, payment.stripe_payment_intent_id,
                                          payment.status.value, str(error)[:60]))
            continue
        db.session.rollback()  # each payment is compared with what is committed now
        payment = db.session.get(Payment, payment.id)
        differences.extend(_check_payment(payment, intent, fix=fix, actor=actor))
    try:
        unrecorded = [i for i in _intents_with_call_lines() if i["id"] not in known]
    except stripe.StripeError as error:
        differences.append(Difference("unreachable", None, None, "", f"listing PaymentIntents: {error}"[:60]))
        unrecorded = []
    linked_payments: set[int] = set()
    for intent in unrecorded:
        payment_id = gateway._int_or_none((intent.get("metadata") or {}).get("payment_id"))
        waiting = next((p for p in unsent if p.id == payment_id), None)
        worth_recording = waiting is not None or intent.get("status") in ("succeeded", "processing")
        if waiting is not None:
            linked_payments.add(waiting.id)
            difference = Difference("not_sent", waiting.id, intent["id"], "pending, no PaymentIntent",
                                    intent.get("status") or "?")
        else:
            difference = Difference("unknown_intent", None, intent["id"], "not recorded", intent.get("status") or "?")
        differences.append(difference)
        if fix and worth_recording:
            _fix(difference, lambda intent=intent: _link(intent, actor), actor=actor)
    for payment in unsent:
        stale = payment.updated_at < utcnow() - gateway.IN_FLIGHT
        if payment.id not in linked_payments and (payment.failure_message or stale):
            differences.append(Difference("not_sent", payment.id, None, "pending, no PaymentIntent",
                                          "none found; the company can pay again"))
    return differences


def format_table(differences: list[Difference]) -> str:
    if not differences:
        return "Local Stripe payments and Stripe agree."
    header = ("payment", "payment intent", "problem", "here", "in Stripe", "action")
    rows = [(str(d.payment_id or "-"), d.payment_intent_id or "-", d.problem, d.local, d.stripe, d.action)
            for d in differences]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in [header, tuple("-" * w for w in widths), *rows]]
    return "\n".join(lines)
