"""Who hears of what: one function per fact, called by the service that makes the fact.

Each runs inside the service's transaction: the emails exist exactly when the fact does and
are delivered after the commit. Dedupe keys name the fact (and the recipient), so repeating a
fact — a webhook delivered twice, a command run twice — never mails anyone twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import select

from pitchtank.accounts.models import Role, User, UserRole
from pitchtank.extensions import db
from pitchtank.notices.services import Attachment, external_url, queue_email


def _stamp(value) -> str:
    return value.strftime("%Y%m%dT%H%M%S%f") if value is not None else "0"


def company_investors(organization_id: int) -> list[User]:
    """The people who act for a member company in the fund: its active investors."""
    return list(db.session.scalars(
        select(User).join(UserRole, UserRole.user_id == User.id)
        .where(User.organization_id == organization_id, UserRole.role == Role.INVESTOR,
               User.is_active_account.is_(True))
        .order_by(User.id)))


def _unique(users: Iterable[User | None]) -> list[User]:
    seen: dict[int, User] = {}
    for user in users:
        if user is not None and user.id not in seen and user.is_active:
            seen[user.id] = user
    return list(seen.values())


# --- Events --------------------------------------------------------------------------------

def application_decided(submission) -> None:
    """The entrepreneur hears that their application was accepted or rejected."""
    from pitchtank.events.models import SubmissionStatus

    accepted = submission.status == SubmissionStatus.ACCEPTED
    owner = submission.venture.owner
    event = submission.event
    queue_email(
        owner, "application_accepted" if accepted else "application_rejected",
        dedupe_key=f"application-decided:{submission.id}:{submission.status.value}:{_stamp(submission.decided_at)}",
        context={"venture_name": submission.venture.name, "event_name": event.name, "venue": event.venue,
                 "starts_at": event.starts_at, "note": submission.decision_note,
                 "event_url": external_url("events.show", event_id=event.id),
                 "events_url": external_url("events.index")})


def results_published(session) -> None:
    """Every entrepreneur with a pitch in the session, and its judges, hear that results are out."""
    event = session.event
    owners = _unique(pitch.venture.owner for pitch in session.pitches)
    judges = _unique(assignment.user for assignment in session.judge_assignments)
    results_url = external_url("judging_screens.results", session_id=session.id)
    for user, as_judge in [(u, False) for u in owners] + [(u, True) for u in judges if u not in owners]:
        ventures = [p.venture.name for p in session.pitches if p.venture.owner_id == user.id]
        queue_email(user, "results_published", dedupe_key=f"results-published:{session.id}:to:{user.id}", context={
            "session_title": session.title, "event_name": event.name, "as_judge": as_judge,
            "ventures": ventures, "results_url": results_url,
            "feedback_urls": [(p.venture.name, external_url("judging_screens.feedback", pitch_id=p.id))
                              for p in session.pitches if p.venture.owner_id == user.id],
        })


# --- Fund ----------------------------------------------------------------------------------

def _line_context(line) -> dict:
    call = line.call
    fund = call.fund
    return {"fund_name": fund.name, "call_number": call.number, "amount_cents": line.amount_cents,
            "currency": fund.currency, "due_date": call.due_date, "clabe": fund.clabe,
            "reference": line.reference, "company": line.organization.name,
            "dashboard_url": external_url("fund.dashboard")}


def capital_call_issued(call) -> None:
    """Each company's investors get their line: amount, due date, CLABE and reference."""
    for line in call.lines:
        context = _line_context(line)
        for investor in company_investors(line.organization_id):
            queue_email(investor, "capital_call_issued", dedupe_key=f"call-issued:{line.id}:to:{investor.id}",
                        context=context)


def capital_call_overdue(line, outstanding_cents: int) -> int:
    """A line past its due date with money still owed; once per line and person."""
    context = {**_line_context(line), "outstanding_cents": outstanding_cents}
    investors = company_investors(line.organization_id)
    for investor in investors:
        queue_email(investor, "capital_call_overdue", dedupe_key=f"call-overdue:{line.id}:to:{investor.id}",
                    context=context)
    return len(investors)


def queue_overdue_notices(today: date) -> int:
    """Queue the overdue notice of every line past due with a balance; returns lines found."""
    from pitchtank.fund import ledger
    from pitchtank.fund.models import CallLine, CapitalCall

    lines = db.session.scalars(select(CallLine).join(CapitalCall, CapitalCall.id == CallLine.call_id)
                               .where(CapitalCall.due_date < today).order_by(CallLine.id)).all()
    found = 0
    for line in lines:
        outstanding = ledger.line_outstanding(line.id)
        if outstanding > 0:
            capital_call_overdue(line, outstanding)
            found += 1
    return found


def payment_received(payment) -> None:
    """The company's investors get the receipt (a PDF in their language) attached."""
    from pitchtank.fund import pdf

    line = payment.call_line
    context = {**_line_context(line), "paid_cents": payment.amount_cents, "paid_currency": payment.currency,
               "method": payment.method, "payment_reference": payment.reference, "receipt_number": payment.id}

    def receipt() -> list[Attachment]:
        return [Attachment(f"receipt-{payment.id}.pdf", "application/pdf", pdf.payment_receipt(payment))]

    for investor in company_investors(line.organization_id):
        queue_email(investor, "payment_received", dedupe_key=f"payment-received:{payment.id}:to:{investor.id}",
                    context=context, attachments=receipt)


def payment_failed(payment, *, attempt_key: str) -> None:
    """A card or bank payment that did not go through: what happened and how to pay."""
    line = payment.call_line
    context = {**_line_context(line), "paid_cents": payment.amount_cents, "paid_currency": payment.currency,
               "method": payment.method, "failure_message": payment.failure_message}
    for investor in company_investors(line.organization_id):
        queue_email(investor, "payment_failed",
                    dedupe_key=f"payment-failed:{payment.id}:{attempt_key}:to:{investor.id}", context=context)


def offer_made(offer) -> None:
    owner = offer.venture.owner
    queue_email(owner, "offer_made", dedupe_key=f"offer-made:{offer.id}", context={
        "venture_name": offer.venture.name, "company": offer.organization.name,
        "amount_cents": offer.amount_cents, "currency": offer.currency, "equity_bp": offer.equity_bp,
        "terms": offer.terms, "offers_url": external_url("fund.entrepreneur_offers")})


def offer_decided(offer) -> None:
    from pitchtank.fund.models import OfferStatus

    accepted = offer.status == OfferStatus.ACCEPTED
    queue_email(offer.investor, "offer_accepted" if accepted else "offer_declined",
                dedupe_key=f"offer-decided:{offer.id}", context={
                    "venture_name": offer.venture.name, "company": offer.organization.name,
                    "amount_cents": offer.amount_cents, "currency": offer.currency, "equity_bp": offer.equity_bp,
                    "dashboard_url": external_url("fund.dashboard")})
