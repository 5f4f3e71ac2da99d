"""Stripe for capital calls: a Customer per company, a card saved off-session, charges per call line.

Interface agreed between the fund pages and the Stripe integration (the implementation is
being written now; signatures are the contract):

- ``stripe_enabled() -> bool``: True when ``STRIPE_SECRET_KEY`` is configured.
- ``start_card_setup(organization, actor, *, return_url: str) -> str``: the URL to send the
  investor to so they save a card for off-session use (Stripe Checkout in setup mode).
- ``card_on_file(organization) -> StripeCustomer | None``: the company's Stripe customer
  with ``card_summary`` (e.g. "Visa •••• 4242") and ``setup_status``.
- ``charge_call_line(line, actor) -> Payment``: charge the line's outstanding amount to the
  saved card off-session (one PaymentIntent per line and attempt, ``idempotency_key``
  ``call-line-<id>-attempt-<n>``); returns the Payment with status succeeded, processing,
  requires_action or failed (``failure_message`` says why in the user's language).
- ``on_session_payment_url(payment, *, return_url: str) -> str``: where the card holder
  completes a payment that needs them present (Stripe Checkout in payment mode).

Implementation notes
--------------------
- No authorisation holds: a pledge only saves the card (a SetupIntent with off-session usage);
  money moves when a capital call line is charged, captured at once.
- ``charge_call_line`` and the Checkout helpers commit: the Payment row (the intent to pay)
  is committed before Stripe is called, so neither a crash nor an early webhook loses it, and
  the outcome is committed as soon as Stripe answered. If Stripe cannot be reached the
  Payment stays ``pending`` with a message; charging the line again retries the same attempt
  with the same idempotency key, so at most one charge can come of it.
- ``apply_payment_intent``, ``apply_setup_intent``, ``apply_refunds`` and ``apply_dispute``
  bring local records in line with a Stripe object's state; the webhook endpoint
  (``pitchtank.fund.webhooks``) and ``flask fund reconcile`` use them. Each money movement has
  a unique ``external_key`` (``pi:<id>:succeeded``, ``refund:<id>``, ``dispute:<id>``,
  ``fee:<balance transaction id>``), so it is booked once however often it is reported.
- Besides the contract: ``create_setup_intent`` (the same card set-up for a page with
  Stripe.js Elements), ``checkout_url_for_line`` (pay a line on Stripe's page by card, SPEI
  bank transfer or OXXO) and ``payments_needing_attention`` (what the organizer should see).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import stripe
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from pitchtank.accounts.models import Role
from pitchtank.audit.services import record
from pitchtank.core.errors import Conflict, DomainError, PermissionDenied
from pitchtank.core.types import utcnow
from pitchtank.extensions import db
from pitchtank.fund import ledger, services
from pitchtank.fund.ledger import Leg
from pitchtank.fund.models import (
    CallLine,
    CapitalCall,
    Fund,
    LedgerKind,
    LedgerTransaction,
    Payment,
    PaymentMethod,
    PaymentStatus,
    StripeCustomer,
)
from pitchtank.notices import facts
from pitchtank.organizations.models import Organization

log = logging.getLogger(__name__)

# The API version this code is written for; pinned so that upgrading the library never
# changes what Stripe answers. The webhook endpoint in the Dashboard should use it too.
STRIPE_API_VERSION = "2026-10-28.endive"
DEFAULT_TIMEOUT_SECONDS = 20
DEFAULT_NETWORK_RETRIES = 2
# A pending charge younger than this may still be waiting for Stripe's answer.
IN_FLIGHT = timedelta(seconds=120)
OXXO_MIN_CENTS = 10_00  # Stripe: an OXXO voucher is for 10.00 to 10,000.00 MXN
OXXO_MAX_CENTS = 10_000_00
OXXO_EXPIRES_AFTER_DAYS = 3
MEXICO_CITY = ZoneInfo("America/Mexico_City")

SETTLED = {PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED, PaymentStatus.DISPUTED}
STRIPE_METHODS = (PaymentMethod.CARD, PaymentMethod.OXXO, PaymentMethod.SPEI)
CANCELABLE_INTENT = {"requires_payment_method", "requires_confirmation", "requires_action"}
REFUND_OUTGOING = {"pending", "requires_action", "succeeded"}  # money committed to leave
REFUND_UNDONE = {"failed", "canceled"}
DISPUTE_INQUIRY = {"warning_needs_response", "warning_under_review", "warning_closed"}


class PaymentProviderUnavailable(DomainError):
    """Stripe could not be reached or refused the request; nothing was changed."""

    status = 503


class NotReadyYet(Exception):  # noqa: N818 (a signal, not an error of the caller)
    """A Stripe fact cannot be applied until Stripe can be asked about it; try again later."""


# --------------------------------------------------------------------------
# Configuration and the client
# --------------------------------------------------------------------------


def stripe_enabled() -> bool:
    return bool(current_app.config.get("STRIPE_SECRET_KEY"))


def _require_stripe() -> None:
    if not stripe_enabled():
        raise PaymentProviderUnavailable(_("Card payments are not enabled."))


def client() -> stripe.StripeClient:
    """A Stripe client for the configured key and API base (``STRIPE_API_BASE`` in tests)."""
    key = current_app.config.get("STRIPE_SECRET_KEY")
    if not key:
        raise PaymentProviderUnavailable(_("Card payments are not enabled."))
    base = current_app.config.get("STRIPE_API_BASE") or None
    timeout = current_app.config.get("STRIPE_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS)
    retries = current_app.config.get("STRIPE_MAX_NETWORK_RETRIES", DEFAULT_NETWORK_RETRIES)
    clients = current_app.extensions.setdefault("pitchtank_stripe_clients", {})
    cache_key = (key, base, timeout, retries)
    if cache_key not in clients:
        clients[cache_key] = stripe.StripeClient(
            key, stripe_version=STRIPE_API_VERSION, base_addresses={"api": base} if base else None,
            max_network_retries=retries, http_client=stripe.RequestsClient(timeout=timeout),
        )
    return clients[cache_key]


def as_dict(obj: Any) -> dict:
    """Stripe objects as plain dicts, the same shape as an event's ``data.object``."""
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    return obj.to_dict()


def object_id(value: Any) -> str | None:
    """The id of a reference that may be an id or an expanded object."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return value.get("id")
    return None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _unreachable() -> PaymentProviderUnavailable:
    return PaymentProviderUnavailable(_("We could not reach the payment processor. Nothing changed; try again in a few minutes."))


def _with_query(url: str, query: str) -> str:
    parts = urlsplit(url)
    joined = f"{parts.query}&{query}" if parts.query else query
    return urlunsplit((parts.scheme, parts.netloc, parts.path, joined, parts.fragment))


# --------------------------------------------------------------------------
# Reading Stripe's current state
# --------------------------------------------------------------------------


def retrieve_payment_intent(payment_intent_id: str) -> dict:
    """The PaymentIntent now, with its latest charge and that charge's balance transaction."""
    return as_dict(client().v1.payment_intents.retrieve(
        payment_intent_id, params={"expand": ["latest_charge.balance_transaction"]}))


def retrieve_setup_intent(setup_intent_id: str) -> dict:
    return as_dict(client().v1.setup_intents.retrieve(setup_intent_id))


def card_summary_of(payment_method_id: str | None) -> str | None:
    """``Visa •••• 4242`` for a saved card, or None when Stripe cannot tell now."""
    if not payment_method_id:
        return None
    try:
        method = as_dict(client().v1.payment_methods.retrieve(payment_method_id))
    except stripe.StripeError:
        log.warning("could not read payment method %s", payment_method_id, exc_info=True)
        return None
    card = method.get("card") or {}
    if not card.get("last4"):
        return None
    brand = str(card.get("brand") or "card").replace("_", " ").title()
    return f"{brand} •••• {card['last4']}"


def refunds_of_charge(charge_id: str) -> list[dict]:
    refunds = client().v1.refunds.list(params={"charge": charge_id, "limit": 100})
    return [as_dict(refund) for refund in refunds.auto_paging_iter()]


# --------------------------------------------------------------------------
# Customers and saved cards
# --------------------------------------------------------------------------


def card_on_file(organization: Organization) -> StripeCustomer | None:
    return _customer_of(organization.id)


def _customer_of(organization_id: int) -> StripeCustomer | None:
    return db.session.scalar(select(StripeCustomer).where(StripeCustomer.organization_id == organization_id))


def _ensure_can_manage_card(organization: Organization, actor) -> None:
    if not (actor.has_role(Role.INVESTOR) and actor.organization_id == organization.id):
        raise PermissionDenied(_("Only the company's investors can save its card."))


def ensure_customer(organization: Organization) -> StripeCustomer:
    """The company's one Stripe Customer, created on first use."""
    existing = _customer_of(organization.id)
    if existing is not None:
        return existing
    # Serialise the creation per company; the idempotency key covers a retried request.
    db.session.scalar(select(Organization.id).where(Organization.id == organization.id).with_for_update())
    existing = _customer_of(organization.id)
    if existing is not None:
        return existing
    try:
        created = client().v1.customers.create(
            params={"name": organization.name, "metadata": {"organization_id": str(organization.id)}},
            options={"idempotency_key": f"customer-organization-{organization.id}"},
        )
    except stripe.StripeError as error:
        log.warning("Stripe customer for organization %s not created: %s", organization.id, error)
        raise _unreachable() from error
    row = StripeCustomer(organization_id=organization.id, customer_id=created.id)
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:  # created concurrently (SQLite has no row locks)
        row = _customer_of(organization.id)
    record("stripe.customer_created", actor=None, subject_type="organization", subject_id=organization.id,
           customer_id=row.customer_id)
    return row


def _setup_metadata(organization: Organization) -> dict[str, str]:
    return {"organization_id": str(organization.id), "purpose": "capital_calls"}


def start_card_setup(organization: Organization, actor, *, return_url: str) -> str:
    """Stripe Checkout in setup mode: the card is saved for off-session capital call charges.

    The card becomes the company's when ``setup_intent.succeeded`` (or
    ``checkout.session.completed``) arrives. Commits."""
    _require_stripe()
    _ensure_can_manage_card(organization, actor)
    customer = ensure_customer(organization)
    metadata = _setup_metadata(organization)
    try:
        session = client().v1.checkout.sessions.create(params={
            "mode": "setup",
            "customer": customer.customer_id,
            "currency": "mxn",
            "allowed_payment_method_types": ["card"],
            "setup_intent_data": {"metadata": metadata,
                                  "description": f"PitchTank capital calls: {organization.name}"[:200]},
            "metadata": metadata,
            "success_url": _with_query(return_url, "card_setup=done&session_id={CHECKOUT_SESSION_ID}"),
            "cancel_url": _with_query(return_url, "card_setup=cancelled"),
        })
    except stripe.StripeError as error:
        log.warning("Checkout (setup) for organization %s failed: %s", organization.id, error)
        raise _unreachable() from error
    if customer.setup_status != "succeeded":
        customer.setup_status = "pending"
    record("stripe.card_setup_started", actor=actor, subject_type="organization", subject_id=organization.id)
    db.session.commit()
    return session.url


def create_setup_intent(organization: Organization, actor) -> dict:
    """A SetupIntent for off-session use, for a page that confirms it with Stripe.js. Commits."""
    _require_stripe()
    _ensure_can_manage_card(organization, actor)
    customer = ensure_customer(organization)
    try:
        intent = as_dict(client().v1.setup_intents.create(params={
            "customer": customer.customer_id,
            "usage": "off_session",
            "allowed_payment_method_types": ["card"],
            "metadata": _setup_metadata(organization),
            "description": f"PitchTank capital calls: {organization.name}"[:200],
        }))
    except stripe.StripeError as error:
        log.warning("SetupIntent for organization %s failed: %s", organization.id, error)
        raise _unreachable() from error
    customer.setup_intent_id = intent["id"]
    if customer.setup_status != "succeeded":
        customer.setup_status = "pending"
    record("stripe.card_setup_started", actor=actor, subject_type="organization", subject_id=organization.id,
           setup_intent_id=intent["id"])
    db.session.commit()
    return {"id": intent["id"], "client_secret": intent.get("client_secret"), "customer": customer.customer_id}


def apply_setup_intent(intent: dict, *, card_summary: str | None = None) -> StripeCustomer | None:
    """Save the card of a succeeded SetupIntent as the company's; note a failed one. Flushes."""
    customer_id = object_id(intent.get("customer"))
    row = None
    if customer_id:
        row = db.session.scalar(select(StripeCustomer).where(StripeCustomer.customer_id == customer_id)
                                .with_for_update().execution_options(populate_existing=True))
    organization_id = _int_or_none((intent.get("metadata") or {}).get("organization_id"))
    if (row is None and customer_id and organization_id and db.session.get(Organization, organization_id)
            and _customer_of(organization_id) is None):
        row = StripeCustomer(organization_id=organization_id, customer_id=customer_id)
        db.session.add(row)
        db.session.flush()
    if row is None:
        log.info("SetupIntent %s is not for a PitchTank company; ignored", intent.get("id"))
        return None
    status = intent.get("status")
    payment_method_id = object_id(intent.get("payment_method"))
    if status == "succeeded" and payment_method_id:
        changed = row.payment_method_id != payment_method_id
        if changed:
            record("stripe.card_saved", actor=None, subject_type="organization", subject_id=row.organization_id,
                   setup_intent_id=intent.get("id"))
        row.payment_method_id = payment_method_id
        row.setup_intent_id = intent.get("id")
        row.setup_status = "succeeded"
        row.card_summary = card_summary or ("••••" if changed or not row.card_summary else row.card_summary)
    elif row.setup_status == "succeeded" and row.setup_intent_id != intent.get("id"):
        # An attempt to replace a card that works did not finish: the working card stays.
        # (Checkout showed the holder why, while they were there.)
        log.info("SetupIntent %s is %s; organization %s keeps its card", intent.get("id"), status,
                 row.organization_id)
    elif row.setup_status != "succeeded":
        failed = status == "canceled" or (status == "requires_payment_method" and intent.get("last_setup_error"))
        if failed and row.setup_status != "failed":
            record("stripe.card_setup_failed", actor=None, subject_type="organization",
                   subject_id=row.organization_id, setup_intent_id=intent.get("id"),
                   code=(intent.get("last_setup_error") or {}).get("code") or "")
        row.setup_status = "failed" if failed else ("requires_action" if status == "requires_action" else "pending")
        row.setup_intent_id = intent.get("id") or row.setup_intent_id
    db.session.flush()
    return row


# --------------------------------------------------------------------------
# Charging a call line
# --------------------------------------------------------------------------


def _lock_line(line_id: int) -> CallLine | None:
    return db.session.scalar(select(CallLine).where(CallLine.id == line_id).with_for_update()
                             .execution_options(populate_existing=True))


def _lock_payment(payment_id: int) -> Payment | None:
    return db.session.scalar(select(Payment).where(Payment.id == payment_id).with_for_update()
                             .execution_options(populate_existing=True))


def _next_attempt(line_id: int) -> int:
    return (db.session.scalar(select(func.max(Payment.attempt)).where(Payment.call_line_id == line_id)) or 0) + 1


def _metadata(line: CallLine, payment: Payment | None = None) -> dict[str, str]:
    metadata = {"call_line_id": str(line.id), "fund_id": str(line.call.fund_id),
                "organization_id": str(line.organization_id), "reference": line.reference}
    if payment is not None:
        metadata["payment_id"] = str(payment.id)
    return metadata


def _description(line: CallLine) -> str:
    return f"PitchTank capital call {line.call.number} · {line.reference}"


def _unreachable_message() -> str:
    return _("We could not reach the payment processor. The payment is pending; try again in a few minutes.")


def charge_call_line(line: CallLine, actor) -> Payment:
    """Charge what the line still owes to the company's saved card, off-session. Commits.

    Raises ``Conflict`` when there is no saved card, nothing is owed, or a charge for the
    line is already under way; never raises for a decline or an unreachable Stripe: the
    returned Payment says what happened."""
    _require_stripe()
    line = services.get_call_line(line.id, actor, for_update=True)
    customer = _customer_of(line.organization_id)
    if customer is None or not customer.payment_method_id:
        raise Conflict(_("Save a card for your company before paying with it."))
    open_payments = list(db.session.scalars(select(Payment).where(
        Payment.call_line_id == line.id, Payment.method.in_(STRIPE_METHODS),
        Payment.status.in_([PaymentStatus.PENDING, PaymentStatus.PROCESSING, PaymentStatus.REQUIRES_ACTION]))
        .order_by(Payment.id)))
    retry = next((p for p in open_payments if p.status == PaymentStatus.PENDING and p.stripe_payment_intent_id is None
                  and p.method == PaymentMethod.CARD), None)
    if retry is not None and not retry.failure_message and retry.updated_at > utcnow() - IN_FLIGHT:
        raise Conflict(_("A payment for this call line is already in progress."))
    if any(p is not retry for p in open_payments):
        raise Conflict(_("A payment for this call line is already in progress."))
    owed = ledger.line_outstanding(line.id)
    if owed <= 0:
        if retry is not None:  # an attempt Stripe never answered; reconcile links it if it did charge
            retry.status = PaymentStatus.CANCELED
            retry.failure_message = _("This payment was canceled.")
            db.session.commit()
        raise Conflict(_("Nothing is owed on this call line."))
    if retry is not None:
        payment = retry  # the same attempt, so the same idempotency key: Stripe charges at most once
    else:
        fund = db.session.get(Fund, line.call.fund_id)
        payment = Payment(call_line_id=line.id, method=PaymentMethod.CARD, status=PaymentStatus.PENDING,
                          amount_cents=owed, currency=fund.currency, reference=line.reference,
                          attempt=_next_attempt(line.id), recorded_by_id=actor.id)
        db.session.add(payment)
    payment.failure_message = ""
    payment.updated_at = utcnow()
    db.session.flush()
    record("payment.card_charge_started", actor=actor, subject_type="call_line", subject_id=line.id,
           payment_id=payment.id, attempt=payment.attempt, amount_cents=payment.amount_cents)
    params = {
        "amount": payment.amount_cents,
        "currency": payment.currency.lower(),
        "customer": customer.customer_id,
        "payment_method": customer.payment_method_id,
        "off_session": True,
        "confirm": True,
        # Off-session there is nobody to redirect: only methods that need no redirect.
        "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        "metadata": _metadata(line, payment),
        "description": _description(line),
    }
    idempotency_key = f"call-line-{line.id}-attempt-{payment.attempt}"
    payment_id = payment.id
    db.session.commit()  # the intent to pay is on record before Stripe hears of it

    try:
        intent = as_dict(client().v1.payment_intents.create(params=params,
                                                            options={"idempotency_key": idempotency_key}))
    except stripe.CardError as error:
        intent = _intent_of_card_error(error)
        if intent is None:
            return _record_failure(payment_id, actor, _card_error_message(error.code, _error_body(error)),
                                   code=error.code)
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError, stripe.IdempotencyError,
            stripe.AuthenticationError, stripe.PermissionError) as error:
        # Nothing the company can fix: keep the attempt pending, to be retried with the same key.
        log.error("Stripe unavailable charging call line %s: %s", line.id, error)
        return _record_pending(payment_id, actor)
    except stripe.StripeError as error:
        log.error("Stripe refused to charge call line %s: %s", line.id, error)
        body = _error_body(error)
        message = (_("The saved card can no longer be used. Update the card and try again.")
                   if body.get("param") == "payment_method" or body.get("code") == "resource_missing"
                   else _("The payment did not go through. Update the card or choose another way to pay."))
        return _record_failure(payment_id, actor, message, code=getattr(error, "code", None))
    payment = apply_payment_intent(intent, actor=actor)
    db.session.commit()
    if payment is None or payment.id != payment_id:  # cannot happen: the metadata names the payment
        log.error("PaymentIntent %s did not match payment %s", intent.get("id"), payment_id)
        return db.session.get(Payment, payment_id)
    return payment


def _error_body(error: stripe.StripeError) -> dict:
    body = error.json_body if isinstance(getattr(error, "json_body", None), dict) else {}
    return dict(body.get("error") or {})


def _intent_of_card_error(error: stripe.CardError) -> dict | None:
    """The PaymentIntent a decline left behind: Stripe sends it with the error; some fakes
    only name the charge."""
    body = _error_body(error)
    intent = body.get("payment_intent")
    if isinstance(intent, dict) and intent.get("id"):
        try:
            return retrieve_payment_intent(intent["id"])
        except stripe.StripeError:
            return as_dict(intent)
    charge_id = object_id(body.get("charge"))
    if charge_id:
        try:
            charge = as_dict(client().v1.charges.retrieve(charge_id))
            if charge.get("payment_intent"):
                return retrieve_payment_intent(object_id(charge["payment_intent"]))
        except stripe.StripeError:
            log.warning("could not read the declined charge %s", charge_id, exc_info=True)
    return None


def _record_failure(payment_id: int, actor, message: str, *, code: str | None) -> Payment:
    payment = _lock_payment(payment_id)
    if payment.status not in SETTLED:
        payment.status = PaymentStatus.FAILED
        payment.failure_message = message
        record("payment.failed", actor=actor, subject_type="call_line", subject_id=payment.call_line_id,
               payment_id=payment.id, code=code or "")
        facts.payment_failed(payment, attempt_key=f"charge-{payment.attempt}")
    db.session.commit()
    return payment


def _record_pending(payment_id: int, actor) -> Payment:
    payment = _lock_payment(payment_id)
    if payment.status == PaymentStatus.PENDING:
        payment.failure_message = _unreachable_message()
        record("payment.stripe_unreachable", actor=actor, subject_type="call_line",
               subject_id=payment.call_line_id, payment_id=payment.id)
    db.session.commit()
    return payment


def checkout_url_for_line(line: CallLine, actor, *, return_url: str) -> str:
    """Stripe Checkout in payment mode for what the line still owes: card, SPEI bank transfer
    (``customer_balance`` with ``mx_bank_transfer``) or OXXO (10 to 10,000 MXN). The Payment is
    recorded when Stripe reports the PaymentIntent. Commits."""
    _require_stripe()
    line = services.get_call_line(line.id, actor, for_update=True)
    return _checkout_url(line, actor, return_url=return_url)


def _checkout_url(line: CallLine, actor, *, return_url: str, replaces: Payment | None = None) -> str:
    owed = ledger.line_outstanding(line.id)
    if owed <= 0:
        raise Conflict(_("Nothing is owed on this call line."))
    customer = ensure_customer(db.session.get(Organization, line.organization_id))
    metadata = _metadata(line)
    if replaces is not None:
        metadata["replaces_payment_id"] = str(replaces.id)
    methods = ["card", "customer_balance"]
    options: dict[str, Any] = {
        "customer_balance": {"funding_type": "bank_transfer", "bank_transfer": {"type": "mx_bank_transfer"}},
    }
    if OXXO_MIN_CENTS <= owed <= OXXO_MAX_CENTS:
        methods.append("oxxo")
        options["oxxo"] = {"expires_after_days": OXXO_EXPIRES_AFTER_DAYS}
    fund = db.session.get(Fund, line.call.fund_id)
    try:
        session = client().v1.checkout.sessions.create(params={
            "mode": "payment",
            "customer": customer.customer_id,
            "line_items": [{"quantity": 1, "price_data": {
                "currency": fund.currency.lower(), "unit_amount": owed,
                "product_data": {"name": _("Capital call %(number)s, reference %(reference)s",
                                           number=line.call.number, reference=line.reference)},
            }}],
            "allowed_payment_method_types": methods,
            "payment_method_options": options,
            "payment_intent_data": {"metadata": metadata, "description": _description(line)},
            "metadata": metadata,
            "success_url": _with_query(return_url, "payment=done&session_id={CHECKOUT_SESSION_ID}"),
            "cancel_url": _with_query(return_url, "payment=cancelled"),
        }, options={"idempotency_key": f"checkout-call-line-{line.id}-{owed}-{_next_attempt(line.id)}"})
    except stripe.StripeError as error:
        log.warning("Checkout (payment) for call line %s failed: %s", line.id, error)
        raise _unreachable() from error
    record("payment.checkout_started", actor=actor, subject_type="call_line", subject_id=line.id,
           amount_cents=owed, methods=methods)
    db.session.commit()
    return session.url


def on_session_payment_url(payment: Payment, *, return_url: str) -> str:
    """Where the card holder completes a card payment that needs them present (or pays a
    declined one another way). The unfinished PaymentIntent is cancelled first, so that it can
    never succeed alongside the new one. The caller checks that the viewer may pay the line.
    Commits."""
    _require_stripe()
    line = _lock_line(payment.call_line_id)
    payment = _lock_payment(payment.id)
    if payment.method != PaymentMethod.CARD or payment.status not in (PaymentStatus.REQUIRES_ACTION,
                                                                      PaymentStatus.FAILED):
        raise Conflict(_("This payment does not need to be completed on the payment page."))
    if payment.stripe_payment_intent_id:
        try:
            intent = retrieve_payment_intent(payment.stripe_payment_intent_id)
            if intent.get("status") in CANCELABLE_INTENT:
                intent = as_dict(client().v1.payment_intents.cancel(payment.stripe_payment_intent_id))
        except stripe.StripeError as error:
            log.warning("could not settle PaymentIntent %s: %s", payment.stripe_payment_intent_id, error)
            raise _unreachable() from error
        apply_payment_intent(intent)
        db.session.commit()
        if intent.get("status") == "succeeded":
            raise Conflict(_("This payment already went through."))
        line = _lock_line(line.id)
    return _checkout_url(line, None, return_url=return_url, replaces=payment)


# --------------------------------------------------------------------------
# Applying a PaymentIntent's state
# --------------------------------------------------------------------------


def _method_of(intent: dict) -> PaymentMethod:
    charge = intent.get("latest_charge") if isinstance(intent.get("latest_charge"), dict) else {}
    kind = ((charge or {}).get("payment_method_details") or {}).get("type")
    types = intent.get("payment_method_types") or []
    if kind is None and len(types) == 1:
        kind = types[0]
    return {"oxxo": PaymentMethod.OXXO, "customer_balance": PaymentMethod.SPEI}.get(kind or "", PaymentMethod.CARD)


def status_of_intent(intent: dict) -> PaymentStatus:
    status = intent.get("status")
    if status == "succeeded":
        return PaymentStatus.SUCCEEDED
    if status in ("processing", "requires_capture"):
        return PaymentStatus.PROCESSING
    if status == "canceled":
        return PaymentStatus.CANCELED
    if status == "requires_action":
        return PaymentStatus.REQUIRES_ACTION
    if status == "requires_payment_method":
        error = intent.get("last_payment_error")
        if not error:
            return PaymentStatus.PENDING
        if "authentication_required" in (error.get("code"), error.get("decline_code")):
            return PaymentStatus.REQUIRES_ACTION  # off-session the bank wants the holder present
        return PaymentStatus.FAILED
    return PaymentStatus.PENDING


def _card_error_message(code: str | None, error: dict | None = None) -> str:
    error = error or {}
    reasons = {code, error.get("code"), error.get("decline_code")}
    if reasons & {"authentication_required"}:
        return _("Your bank needs the card holder to confirm this payment. Open the payment page to complete it.")
    if reasons & {"insufficient_funds"}:
        return _("The card has insufficient funds. Use another card or try again later.")
    if reasons & {"expired_card"}:
        return _("The card has expired. Update the card and try again.")
    if reasons & {"incorrect_cvc", "invalid_cvc", "incorrect_number", "invalid_number", "invalid_expiry_month",
                  "invalid_expiry_year"}:
        return _("The card details are not valid. Update the card and try again.")
    if reasons & {"processing_error"}:
        return _("The payment could not be processed. Try again in a few minutes.")
    if reasons & {"card_declined", "generic_decline", "do_not_honor", "lost_card", "stolen_card",
                  "fraudulent", "card_not_supported", "transaction_not_allowed"}:
        return _("The card was declined. Update the card and try again.")
    return _("The payment did not go through. Update the card or choose another way to pay.")


def _message_for(intent: dict, status: PaymentStatus, method: PaymentMethod, previous: str) -> str:
    if status == PaymentStatus.FAILED:
        error = intent.get("last_payment_error") or {}
        return _card_error_message(error.get("code"), error)
    if status == PaymentStatus.REQUIRES_ACTION:
        if method == PaymentMethod.OXXO:
            return _("Waiting for the cash payment at OXXO.")
        if method == PaymentMethod.SPEI:
            return _("Waiting for the bank transfer (SPEI).")
        return _("Your bank needs the card holder to confirm this payment. Open the payment page to complete it.")
    if status == PaymentStatus.CANCELED:
        return previous or _("This payment was canceled.")
    return ""


def find_payment_for_intent(intent: dict) -> Payment | None:
    return db.session.scalar(select(Payment).where(Payment.stripe_payment_intent_id == intent.get("id")))


def _payment_for_intent_locked(intent: dict, actor) -> Payment | None:
    """The intent's Payment, locked after its call line; linked through ``metadata.payment_id``
    or recorded for a PaymentIntent made for the line elsewhere (Checkout, the Dashboard)."""
    metadata = intent.get("metadata") or {}
    known = find_payment_for_intent(intent)
    line_id = known.call_line_id if known is not None else _int_or_none(metadata.get("call_line_id"))
    if line_id is None:
        return None
    line = _lock_line(line_id)
    if line is None:
        return None
    payment = db.session.scalar(select(Payment).where(Payment.stripe_payment_intent_id == intent["id"])
                                .with_for_update().execution_options(populate_existing=True))
    if payment is not None:
        return payment
    if metadata.get("organization_id") != str(line.organization_id):
        log.warning("PaymentIntent %s names call line %s of another company; ignored", intent.get("id"), line.id)
        return None
    payment_id = _int_or_none(metadata.get("payment_id"))
    if payment_id is not None:
        candidate = _lock_payment(payment_id)
        if (candidate is not None and candidate.call_line_id == line.id
                and candidate.stripe_payment_intent_id is None and candidate.amount_cents == intent.get("amount")):
            candidate.stripe_payment_intent_id = intent["id"]
            db.session.flush()
            return candidate
    payment = Payment(call_line_id=line.id, method=_method_of(intent), status=PaymentStatus.PENDING,
                      amount_cents=int(intent.get("amount") or 0), currency=str(intent.get("currency") or "").upper(),
                      reference=line.reference, stripe_payment_intent_id=intent["id"],
                      attempt=_next_attempt(line.id), recorded_by_id=getattr(actor, "id", None))
    if payment.amount_cents <= 0:
        return None
    db.session.add(payment)
    db.session.flush()
    record("payment.stripe_recorded", actor=actor, subject_type="call_line", subject_id=line.id,
           payment_id=payment.id, payment_intent_id=intent["id"], amount_cents=payment.amount_cents)
    return payment


def success_key(payment_intent_id: str) -> str:
    return f"pi:{payment_intent_id}:succeeded"


def active_success_booking(payment: Payment) -> LedgerTransaction | None:
    """The payment's booking of its PaymentIntent's success, unless it was reversed."""
    reversed_ids = select(LedgerTransaction.reverses_id).where(LedgerTransaction.reverses_id.is_not(None))
    return db.session.scalar(select(LedgerTransaction).where(
        LedgerTransaction.payment_id == payment.id, LedgerTransaction.kind == LedgerKind.PAYMENT,
        LedgerTransaction.external_key.like(f"{success_key(payment.stripe_payment_intent_id)}%"),
        LedgerTransaction.id.not_in(reversed_ids)))


def _book_success(payment: Payment, intent: dict, actor) -> LedgerTransaction:
    active = active_success_booking(payment)
    if active is not None:
        return active
    key = success_key(intent["id"])
    earlier = db.session.scalar(select(func.count(LedgerTransaction.id))
                                .where(LedgerTransaction.external_key.like(f"{key}%"))) or 0
    if earlier:  # booked, reversed (by reconcile), and now Stripe says it succeeded after all
        key = f"{key}:rebooked:{earlier}"
    transaction = services.apply_payment(payment, actor=actor, external_key=key)
    record("payment.stripe_booked", actor=actor, subject_type="call_line", subject_id=payment.call_line_id,
           payment_id=payment.id, payment_intent_id=intent["id"], amount_cents=payment.amount_cents)
    facts.payment_received(payment)
    return transaction


def _book_fee(payment: Payment, intent: dict) -> None:
    """Stripe's fee, once per balance transaction, when Stripe showed it."""
    charge = intent.get("latest_charge")
    balance = charge.get("balance_transaction") if isinstance(charge, dict) else None
    if not isinstance(balance, dict) or not balance.get("id"):
        return
    fee = balance.get("fee")
    if not isinstance(fee, int) or isinstance(fee, bool) or fee <= 0:
        return
    if str(balance.get("currency", "")).lower() != payment.currency.lower():
        log.warning("fee of %s is in %s; not booked", balance["id"], balance.get("currency"))
        return
    key = f"fee:{balance['id']}"
    if db.session.scalar(select(LedgerTransaction.id).where(LedgerTransaction.external_key == key)):
        return
    line = payment.call_line
    fund = db.session.get(Fund, line.call.fund_id)
    ledger.post(fund, LedgerKind.FEE, [Leg(ledger.FEES, fee), Leg(ledger.CASH, -fee)],
                memo=f"Stripe fee {intent['id']}", call_line_id=line.id, payment_id=payment.id, external_key=key)


def _today_in_mexico() -> date:
    return datetime.now(MEXICO_CITY).date()


def apply_payment_intent(intent: dict, *, actor=None) -> Payment | None:
    """Bring the local Payment in line with the PaymentIntent; book its success exactly once.

    A success is final: a stale or reordered copy of an earlier state never undoes it. The
    amount and currency must match the Payment, or nothing is booked. Flushes; the caller
    commits."""
    if not intent.get("id"):
        return None
    payment = _payment_for_intent_locked(intent, actor)
    if payment is None:
        log.info("PaymentIntent %s is not for a PitchTank call line; ignored", intent.get("id"))
        return None
    amount, currency = intent.get("amount"), str(intent.get("currency") or "").lower()
    if amount != payment.amount_cents or currency != payment.currency.lower():
        log.error("PaymentIntent %s is for %s %s, payment %s for %s %s: not applied", intent["id"], amount,
                  currency, payment.id, payment.amount_cents, payment.currency)
        record("payment.stripe_mismatch", actor=actor, subject_type="call_line", subject_id=payment.call_line_id,
               payment_id=payment.id, payment_intent_id=intent["id"], stripe_amount=amount,
               stripe_currency=currency)
        return payment
    new = status_of_intent(intent)
    old = payment.status
    if new == PaymentStatus.SUCCEEDED:
        if old not in (PaymentStatus.REFUNDED, PaymentStatus.DISPUTED):
            payment.status = PaymentStatus.SUCCEEDED
        payment.failure_message = ""
        payment.paid_on = payment.paid_on or _today_in_mexico()
        _book_success(payment, intent, actor)
        _book_fee(payment, intent)
    elif old in SETTLED or old == PaymentStatus.CANCELED:
        if old != new:
            log.info("PaymentIntent %s reported %s; payment %s stays %s", intent["id"], intent.get("status"),
                     payment.id, old)
    elif new != old or (new == PaymentStatus.FAILED and not payment.failure_message):
        payment.status = new
        payment.failure_message = _message_for(intent, new, payment.method, payment.failure_message)
        if new in (PaymentStatus.FAILED, PaymentStatus.REQUIRES_ACTION):
            error = intent.get("last_payment_error") or {}
            record(f"payment.{new.value}", actor=actor, subject_type="call_line", subject_id=payment.call_line_id,
                   payment_id=payment.id, payment_intent_id=intent["id"],
                   code=error.get("decline_code") or error.get("code") or "")
        if new == PaymentStatus.FAILED:
            facts.payment_failed(payment, attempt_key=intent["id"])
    db.session.flush()
    return payment


# --------------------------------------------------------------------------
# Money going back: refunds and disputes
# --------------------------------------------------------------------------


def _money_back_legs(fund_id: int, organization_id: int, amount: int) -> list[Leg]:
    """Money returned to a company first clears what the fund owed it (overpaid), then
    reopens what it owes (receivable)."""
    credit = max(ledger.company_figures(fund_id, organization_id).overpaid_cents, 0)
    from_credit = min(amount, credit)
    return [Leg(ledger.CASH, -amount), Leg(ledger.OVERPAID, from_credit, organization_id),
            Leg(ledger.RECEIVABLE, amount - from_credit, organization_id)]


def _reversed(transaction: LedgerTransaction) -> bool:
    return db.session.scalar(select(LedgerTransaction.id).where(LedgerTransaction.reverses_id == transaction.id)) \
        is not None


def _money_back(payment: Payment, amount: int, key: str, memo: str) -> LedgerTransaction | None:
    if db.session.scalar(select(LedgerTransaction.id).where(LedgerTransaction.external_key == key)):
        return None
    line = payment.call_line
    fund = db.session.get(Fund, line.call.fund_id)
    return ledger.post(fund, LedgerKind.REFUND, _money_back_legs(fund.id, line.organization_id, amount),
                       memo=memo, call_line_id=line.id, payment_id=payment.id, external_key=key)


def _locked_payment_of_intent(payment_intent_id: str | None) -> Payment | None:
    if not payment_intent_id:
        return None
    payment = db.session.scalar(select(Payment).where(Payment.stripe_payment_intent_id == payment_intent_id))
    if payment is None:
        return None
    _lock_line(payment.call_line_id)
    return _lock_payment(payment.id)


def _settle_refund_status(payment: Payment) -> None:
    if payment.status == PaymentStatus.DISPUTED:
        return
    if payment.refunded_cents >= payment.amount_cents:
        payment.status = PaymentStatus.REFUNDED
    elif payment.status == PaymentStatus.REFUNDED:
        payment.status = PaymentStatus.SUCCEEDED


def _payment_with_booked_success(payment_intent_id: str | None, intent: dict | None, actor) -> Payment | None:
    """The locked Payment, once its success is booked: the PaymentIntent's current state is
    applied first, so a refund or dispute reported before the success still finds it booked."""
    if intent:
        apply_payment_intent(intent, actor=actor)
    payment = _locked_payment_of_intent(payment_intent_id)
    if payment is None and intent is None and payment_intent_id:
        raise NotReadyYet(f"PaymentIntent {payment_intent_id} unknown here and Stripe not asked")
    if payment is not None and active_success_booking(payment) is None:
        if intent is None:
            raise NotReadyYet(f"payment {payment.id}: success not booked yet")
        log.error("money back on payment %s whose success is not booked; reconcile will report it", payment.id)
        record("payment.stripe_unbooked_money_back", actor=actor, subject_type="call_line",
               subject_id=payment.call_line_id, payment_id=payment.id)
        return None
    return payment


def apply_refunds(charge: dict, refunds: list[dict], *, intent: dict | None = None, actor=None) -> Payment | None:
    """Book each refund of the charge once (by refund id); undo one that failed. ``intent`` is
    the charge's PaymentIntent as Stripe shows it now, when known. Flushes."""
    payment = _payment_with_booked_success(object_id(charge.get("payment_intent")), intent, actor)
    if payment is None:
        log.info("charge %s: no booked PitchTank payment; refunds not applied", charge.get("id"))
        return None
    for refund in sorted(refunds, key=lambda r: (r.get("created") or 0, r.get("id") or "")):
        amount, status = refund.get("amount"), refund.get("status")
        if not isinstance(amount, int) or amount <= 0 or not refund.get("id"):
            continue
        if str(refund.get("currency", payment.currency)).lower() != payment.currency.lower():
            log.error("refund %s is in %s; not booked", refund["id"], refund.get("currency"))
            continue
        key = f"refund:{refund['id']}"
        booked = db.session.scalar(select(LedgerTransaction).where(LedgerTransaction.external_key == key))
        if status in REFUND_OUTGOING and booked is None:
            _money_back(payment, amount, key, f"Refund {refund['id']} of {payment.stripe_payment_intent_id}")
            payment.refunded_cents += amount
            record("payment.refunded", actor=actor, subject_type="call_line", subject_id=payment.call_line_id,
                   payment_id=payment.id, refund_id=refund["id"], amount_cents=amount)
        elif status in REFUND_UNDONE and booked is not None and not _reversed(booked):
            ledger.reverse(booked, memo=f"Refund {refund['id']} {status}", actor=actor)
            payment.refunded_cents -= amount
            record("payment.refund_undone", actor=actor, subject_type="call_line", subject_id=payment.call_line_id,
                   payment_id=payment.id, refund_id=refund["id"], status=status)
    _settle_refund_status(payment)
    db.session.flush()
    return payment


def apply_dispute(dispute: dict, *, intent: dict | None = None, actor=None) -> Payment | None:
    """A chargeback: the disputed amount leaves the fund once; a won dispute brings it back.
    ``intent`` is the disputed PaymentIntent as Stripe shows it now, when known. Flushes."""
    payment_intent_id = object_id(dispute.get("payment_intent")) or object_id(intent)
    payment = _payment_with_booked_success(payment_intent_id, intent, actor)
    if payment is None or not dispute.get("id"):
        log.info("dispute %s: no booked PitchTank payment; not applied", dispute.get("id"))
        return None
    amount, status = dispute.get("amount"), dispute.get("status")
    if str(dispute.get("currency", payment.currency)).lower() != payment.currency.lower() \
            or not isinstance(amount, int) or amount <= 0:
        log.error("dispute %s: %s %s not booked", dispute["id"], amount, dispute.get("currency"))
        return payment
    key = f"dispute:{dispute['id']}"
    booked = db.session.scalar(select(LedgerTransaction).where(LedgerTransaction.external_key == key))
    if status == "won":
        if booked is not None and not _reversed(booked):
            ledger.reverse(booked, memo=f"Dispute {dispute['id']} won", actor=actor)
            record("payment.dispute_won", actor=actor, subject_type="call_line", subject_id=payment.call_line_id,
                   payment_id=payment.id, dispute_id=dispute["id"])
        if payment.status == PaymentStatus.DISPUTED:
            payment.status = PaymentStatus.SUCCEEDED
            _settle_refund_status(payment)
    elif status in DISPUTE_INQUIRY:  # an inquiry: no money was taken
        if status != "warning_closed" and payment.status in SETTLED:
            payment.status = PaymentStatus.DISPUTED
    else:  # needs_response, under_review, lost: the funds were withdrawn
        if booked is None:
            _money_back(payment, amount, key, f"Dispute {dispute['id']} of {payment.stripe_payment_intent_id}")
            record("payment.disputed", actor=actor, subject_type="call_line", subject_id=payment.call_line_id,
                   payment_id=payment.id, dispute_id=dispute["id"], amount_cents=amount,
                   reason=dispute.get("reason") or "")
        if payment.status in SETTLED:
            payment.status = PaymentStatus.DISPUTED
    db.session.flush()
    return payment


# --------------------------------------------------------------------------
# What the organizer should look at
# --------------------------------------------------------------------------


def payments_needing_attention(fund_id: int) -> list[Payment]:
    """Declined, unconfirmed, unreachable or disputed Stripe payments of a fund, newest first,
    at most one per call line (its latest attempt)."""
    candidates = db.session.scalars(
        select(Payment).join(CallLine).join(CapitalCall)
        .where(CapitalCall.fund_id == fund_id, Payment.method.in_(STRIPE_METHODS))
        .order_by(Payment.call_line_id, Payment.attempt.desc(), Payment.id.desc()))
    latest: dict[int, Payment] = {}
    for payment in candidates:
        latest.setdefault(payment.call_line_id, payment)
    flagged = [p for p in latest.values()
               if p.status in (PaymentStatus.FAILED, PaymentStatus.REQUIRES_ACTION, PaymentStatus.DISPUTED)
               or (p.status == PaymentStatus.PENDING and p.failure_message)]
    return sorted(flagged, key=lambda p: (p.updated_at, p.id), reverse=True)
