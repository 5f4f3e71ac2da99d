"""``POST /api/v1/webhooks/stripe``: Stripe's events, verified, each applied exactly once.

1. The raw body is verified against ``Stripe-Signature`` with ``STRIPE_WEBHOOK_SECRET``
   (400 when missing, wrong or older than the tolerance; nothing is stored).
2. An event id already stored is answered 200 ``duplicate`` at once.
3. The object's *current* state is read from Stripe (the event's copy is only a fallback when
   Stripe cannot be asked), so copies arriving twice, late or out of order all lead to the
   same result.
4. In one database transaction: the event id is inserted (unique) and its effect applied;
   a concurrent delivery of the same event fails on that unique key and changes nothing.
   Each money movement also has its own unique key, so two *different* events about the same
   payment still book it once.

Stripe retries any non-2xx answer for days: a 503 here means "ask again later" and is used
when the effect cannot be decided now (Stripe unreachable and the event alone not enough).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import stripe
from flask import current_app, jsonify, request
from flask_babel import gettext as _
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from pitchtank.api import bp
from pitchtank.api.openapi import Response, operation
from pitchtank.api.schemas import Out
from pitchtank.core.problem import problem_response
from pitchtank.extensions import db
from pitchtank.fund import stripe_gateway as gateway
from pitchtank.fund.models import StripeEvent

log = logging.getLogger(__name__)

SIGNATURE_TOLERANCE_SECONDS = 300
APPLY_ATTEMPTS = 3

PAYMENT_INTENT_EVENTS = {
    "payment_intent.created", "payment_intent.succeeded", "payment_intent.payment_failed",
    "payment_intent.processing", "payment_intent.canceled", "payment_intent.requires_action",
    "payment_intent.partially_funded", "payment_intent.amount_capturable_updated",
}
SETUP_INTENT_EVENTS = {
    "setup_intent.succeeded", "setup_intent.setup_failed", "setup_intent.requires_action",
    "setup_intent.canceled",
}
REFUND_EVENTS = {"charge.refunded", "charge.refund.updated", "refund.created", "refund.updated", "refund.failed"}
DISPUTE_EVENTS = {
    "charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed",
    "charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated",
}
CHECKOUT_EVENTS = {
    "checkout.session.completed", "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
}
HANDLED_EVENTS = PAYMENT_INTENT_EVENTS | SETUP_INTENT_EVENTS | REFUND_EVENTS | DISPUTE_EVENTS | CHECKOUT_EVENTS
# Errors after which asking Stripe again later may work; anything else means Stripe does not
# know the object (another account or mode) and the event's own copy is all there is.
TRANSIENT = (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError, stripe.AuthenticationError,
             stripe.PermissionError)


class WebhookOut(Out):
    event_id: str
    outcome: str = Field(description="applied, duplicate (applied before) or ignored (not relevant)")


@dataclass
class Fact:
    """What an event means, as read from Stripe before the database is touched."""

    kind: str
    intent: dict | None = None
    setup_intent: dict | None = None
    card_summary: str | None = None
    charge: dict = field(default_factory=dict)
    refunds: list[dict] = field(default_factory=list)
    dispute: dict = field(default_factory=dict)


# --------------------------------------------------------------------------
# The endpoint
# --------------------------------------------------------------------------


@operation(
    bp, "/webhooks/stripe", "POST",
    summary="Receive a Stripe event (signed with the endpoint secret)",
    who="Stripe; the Stripe-Signature header authenticates the request",
    body_content_type="application/json", public=True,
    responses={
        200: Response("Applied now, applied before (duplicate), or not relevant (ignored)", WebhookOut),
        400: Response("Stripe-Signature missing, wrong or too old, or no endpoint secret configured; "
                      "nothing was stored"),
        422: Response("Correctly signed, but not a Stripe event"),
        503: Response("The event cannot be applied yet (Stripe must be asked first); Stripe retries"),
    },
    tag="fund",
)
def stripe_webhook():
    """Apply one Stripe event exactly once."""
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:  # nothing can be verified; Stripe keeps retrying until this is configured
        log.error("a Stripe webhook arrived but STRIPE_WEBHOOK_SECRET is not set")
        return problem_response(400, _("Stripe webhooks are not configured."))
    raw = request.get_data(cache=False)
    try:
        payload = raw.decode("utf-8")
        stripe.WebhookSignature.verify_header(payload, request.headers.get("Stripe-Signature"), secret,
                                              SIGNATURE_TOLERANCE_SECONDS)
    except (ValueError, stripe.SignatureVerificationError) as error:
        log.warning("Stripe webhook refused: %s", error)
        return problem_response(400, _("The Stripe signature is missing or does not match."))
    event = _parse(payload)
    if event is None:
        return problem_response(422, _("The body is not a Stripe event."))
    try:
        outcome = process_event(event)
    except gateway.NotReadyYet as error:
        log.warning("Stripe event %s (%s) postponed: %s", event["id"], event["type"], error)
        return problem_response(503, _("The event cannot be applied yet; Stripe will send it again."))
    log.info("Stripe event %s (%s): %s", event["id"], event["type"], outcome)
    return jsonify(WebhookOut(event_id=event["id"], outcome=outcome).model_dump())


def _parse(payload: str) -> dict | None:
    try:
        event = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    data = event.get("data")
    if (not isinstance(event.get("id"), str) or not event["id"] or len(event["id"]) > 255
            or not isinstance(event.get("type"), str) or not isinstance(data, dict)
            or not isinstance(data.get("object"), dict)):
        return None
    return event


def _already_processed(event_id: str) -> bool:
    return db.session.scalar(select(StripeEvent.id).where(StripeEvent.event_id == event_id)) is not None


def process_event(event: dict) -> str:
    """Apply a verified event once: ``applied``, ``duplicate`` or ``ignored``."""
    if _already_processed(event["id"]):
        return "duplicate"
    db.session.rollback()  # no transaction stays open while Stripe is asked
    fact = read_fact(event)
    for attempt in range(1, APPLY_ATTEMPTS + 1):
        try:
            db.session.add(StripeEvent(event_id=event["id"], type=event["type"][:80]))
            db.session.flush()
            outcome = apply_fact(fact)
            db.session.commit()
            return outcome
        except IntegrityError:
            # Another delivery stored this event id first, or won the race to a unique money
            # key; in both cases start again from what is now committed.
            db.session.rollback()
            if _already_processed(event["id"]):
                return "duplicate"
            if attempt == APPLY_ATTEMPTS:
                raise
        except Exception:
            db.session.rollback()
            raise
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------
# Reading the current state from Stripe
# --------------------------------------------------------------------------


def _intent_now(payment_intent_id: str | None, fallback: dict | None = None) -> dict | None:
    """The PaymentIntent as Stripe shows it now; ``fallback`` (the event's copy) when Stripe
    cannot be asked; ``{}`` when Stripe does not know it; None when unknown and unreachable."""
    if not payment_intent_id:
        return fallback
    try:
        return gateway.retrieve_payment_intent(payment_intent_id)
    except TRANSIENT as error:
        log.warning("PaymentIntent %s not read from Stripe (%s); using the event's copy", payment_intent_id, error)
        return fallback
    except stripe.StripeError as error:
        log.warning("Stripe does not show PaymentIntent %s (%s)", payment_intent_id, error)
        return fallback if fallback is not None else {}


def read_fact(event: dict) -> Fact:
    kind, obj = event["type"], event["data"]["object"]
    if kind in PAYMENT_INTENT_EVENTS:
        return Fact("payment_intent", intent=_intent_now(obj.get("id"), obj))
    if kind in SETUP_INTENT_EVENTS:
        return _setup_fact(obj.get("id"), obj)
    if kind in REFUND_EVENTS:
        return _refund_fact(kind, obj)
    if kind in DISPUTE_EVENTS:
        return _dispute_fact(obj)
    if kind in CHECKOUT_EVENTS:
        return _checkout_fact(obj)
    return Fact("ignored")


def _setup_fact(setup_intent_id: str | None, fallback: dict | None) -> Fact:
    intent = fallback
    if setup_intent_id:
        try:
            intent = gateway.retrieve_setup_intent(setup_intent_id)
        except stripe.StripeError as error:
            if fallback is None:
                raise gateway.NotReadyYet(f"SetupIntent {setup_intent_id}: {error}") from error
            log.warning("SetupIntent %s not read from Stripe (%s); using the event's copy", setup_intent_id, error)
    if not intent:
        return Fact("ignored")
    summary = None
    if intent.get("status") == "succeeded":
        summary = gateway.card_summary_of(gateway.object_id(intent.get("payment_method")))
    return Fact("setup_intent", setup_intent=intent, card_summary=summary)


def _refund_fact(kind: str, obj: dict) -> Fact:
    is_charge = obj.get("object") == "charge" or kind == "charge.refunded"
    charge_id = obj.get("id") if is_charge else gateway.object_id(obj.get("charge"))
    if not charge_id:
        return Fact("ignored")
    try:
        charge = gateway.as_dict(gateway.client().v1.charges.retrieve(charge_id))
        refunds = gateway.refunds_of_charge(charge_id)
    except stripe.StripeError as error:
        log.warning("refunds of charge %s not read from Stripe (%s); using the event's copy", charge_id, error)
        if is_charge:
            charge = obj
            listed = (obj.get("refunds") or {}).get("data")
            if listed is None:  # charges no longer carry their refunds: only Stripe can say
                raise gateway.NotReadyYet(f"refunds of charge {charge_id}: {error}") from error
            refunds = listed
        else:
            charge = {"id": charge_id, "payment_intent": obj.get("payment_intent")}
            refunds = [obj]
    payment_intent_id = gateway.object_id(charge.get("payment_intent"))
    return Fact("refunds", charge=charge, refunds=refunds, intent=_intent_now(payment_intent_id))


def _dispute_fact(obj: dict) -> Fact:
    dispute = obj
    if obj.get("id"):
        try:
            dispute = gateway.as_dict(gateway.client().v1.disputes.retrieve(obj["id"]))
        except stripe.StripeError as error:
            log.warning("dispute %s not read from Stripe (%s); using the event's copy", obj["id"], error)
    payment_intent_id = gateway.object_id(dispute.get("payment_intent"))
    if not payment_intent_id and dispute.get("charge"):
        try:
            charge = gateway.as_dict(gateway.client().v1.charges.retrieve(gateway.object_id(dispute["charge"])))
            payment_intent_id = gateway.object_id(charge.get("payment_intent"))
        except stripe.StripeError as error:
            raise gateway.NotReadyYet(f"charge of dispute {dispute.get('id')}: {error}") from error
        dispute = {**dispute, "payment_intent": payment_intent_id}
    return Fact("dispute", dispute=dispute, intent=_intent_now(payment_intent_id))


def _checkout_fact(obj: dict) -> Fact:
    session = obj
    if obj.get("id"):
        try:
            session = gateway.as_dict(gateway.client().v1.checkout.sessions.retrieve(obj["id"]))
        except stripe.StripeError as error:
            log.info("Checkout Session %s not read from Stripe (%s); using the event's copy", obj["id"], error)
    if session.get("mode") == "setup" and session.get("setup_intent"):
        setup = session["setup_intent"]
        return _setup_fact(gateway.object_id(setup), setup if isinstance(setup, dict) else None)
    if session.get("mode") == "payment" and session.get("payment_intent"):
        payment_intent_id = gateway.object_id(session["payment_intent"])
        intent = _intent_now(payment_intent_id, session["payment_intent"]
                             if isinstance(session["payment_intent"], dict) else None)
        if intent is None:
            raise gateway.NotReadyYet(f"PaymentIntent {payment_intent_id} of Checkout Session {obj.get('id')}")
        return Fact("payment_intent", intent=intent)
    return Fact("ignored")


# --------------------------------------------------------------------------
# Applying it (inside the event's transaction)
# --------------------------------------------------------------------------


def apply_fact(fact: Fact) -> str:
    if fact.kind == "payment_intent":
        applied = gateway.apply_payment_intent(fact.intent) if fact.intent else None
    elif fact.kind == "setup_intent":
        applied = gateway.apply_setup_intent(fact.setup_intent, card_summary=fact.card_summary)
    elif fact.kind == "refunds":
        applied = gateway.apply_refunds(fact.charge, fact.refunds, intent=fact.intent)
    elif fact.kind == "dispute":
        applied = gateway.apply_dispute(fact.dispute, intent=fact.intent)
    else:
        applied = None
    return "applied" if applied is not None else "ignored"
