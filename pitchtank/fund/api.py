"""API: the fund, pledges, capital calls, recorded transfers, allocations and the ledger."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from flask import jsonify, url_for
from flask_login import current_user
from pydantic import Field, StrictInt

from pitchtank.accounts.models import Role
from pitchtank.api import bp
from pitchtank.api.idempotency import idempotent
from pitchtank.api.openapi import Response, operation
from pitchtank.api.schemas import Body, Id, OrganizationRef, Out
from pitchtank.api.validation import parse_json
from pitchtank.core.authz import require_login, require_role
from pitchtank.core.transaction import commit_request
from pitchtank.extensions import db
from pitchtank.fund import ledger, offers, queries, services
from pitchtank.fund.models import FUND_NAME_MAX, REFERENCE_MAX, FundStatus
from pitchtank.ventures.models import equity_bp_to_pct

Cents = Annotated[StrictInt, Field(gt=0, le=services.MAX_AMOUNT_CENTS)]


class FundIn(Body):
    name: Annotated[str, Field(min_length=1, max_length=FUND_NAME_MAX)]
    target_cents: Cents
    min_pledge_cents: Cents
    commitment_deadline: date
    clabe: Annotated[str, Field(min_length=18, max_length=18, pattern=r"^\d{18}$")]
    cooling_off_days: Annotated[StrictInt, Field(ge=0, le=90)] = 7


class FundOut(Out):
    id: int
    name: str
    currency: str
    target_cents: int
    min_pledge_cents: int
    commitment_deadline: date
    clabe: str
    cooling_off_days: int
    committed_cents: int
    called_cents: int
    paid_in_cents: int
    outstanding_cents: int
    allocated_cents: int
    fees_cents: int
    available_cents: int
    status: FundStatus


class FundList(Out):
    funds: list[FundOut]


class PledgeIn(Body):
    amount_cents: Cents


class PledgeChangeIn(Body):
    amount_cents: Annotated[StrictInt, Field(ge=0, le=services.MAX_AMOUNT_CENTS)] = Field(
        description="The new commitment; 0 cancels it (only while cooling off and nothing was called)")


class PaymentOut(Out):
    id: int
    call_line_id: int
    method: str
    status: str
    amount_cents: int
    refunded_cents: int
    currency: str
    paid_on: date | None
    reference: str
    failure_message: str
    created_at: datetime


class PledgeOut(Out):
    id: int
    fund_id: int
    organization: OrganizationRef
    status: str
    currency: str
    amount_cents: int = Field(description="Committed now")
    called_cents: int
    paid_cents: int
    outstanding_cents: int
    unfunded_cents: int
    overpaid_cents: int
    cooling_off_until: datetime
    created_at: datetime
    payments: list[PaymentOut]


class PledgeList(Out):
    pledges: list[PledgeOut]


class CapitalCallIn(Body):
    percent: Annotated[Decimal, Field(gt=0, le=100, allow_inf_nan=False, decimal_places=2)]
    due_date: date
    notice_date: date | None = None


class CallLineOut(Out):
    id: int
    organization: OrganizationRef
    amount_cents: int
    paid_cents: int
    outstanding_cents: int
    reference: str
    status: str


class CapitalCallOut(Out):
    id: int
    fund_id: int
    number: int
    percent: str
    notice_date: date
    due_date: date
    total_cents: int
    currency: str
    clabe: str
    lines: list[CallLineOut]


class CapitalCallList(Out):
    capital_calls: list[CapitalCallOut]


class TransferIn(Body):
    amount_cents: Cents
    paid_on: date
    reference: Annotated[str, Field(min_length=1, max_length=REFERENCE_MAX)]


class AllocationIn(Body):
    venture_id: Id
    amount_cents: Cents
    note: Annotated[str, Field(max_length=2000)] = ""


class AllocationOut(Out):
    id: int
    fund_id: int
    venture_id: int
    amount_cents: int
    note: str
    created_at: datetime
    reversed_at: datetime | None


class ReversalIn(Body):
    reason: Annotated[str, Field(min_length=1, max_length=255)]


class EntryOut(Out):
    account: str
    organization_id: int | None
    venture_id: int | None
    amount_cents: int
    currency: str


class TransactionOut(Out):
    id: int
    kind: str
    memo: str
    created_at: datetime
    reverses_id: int | None
    pledge_id: int | None
    call_line_id: int | None
    payment_id: int | None
    allocation_id: int | None
    entries: list[EntryOut]


class LedgerOut(Out):
    fund_id: int
    currency: str
    transactions: list[TransactionOut]


FUND_VIEW_ERRORS = {401: Response("Not logged in"), 403: Response("Not an investor or organizer")}
ORGANIZER_ERRORS = {401: Response("Not logged in"), 403: Response("Not an organizer")}


def fund_out(fund) -> dict:
    figures = ledger.fund_figures(fund.id)
    return FundOut(
        id=fund.id, name=fund.name, currency=fund.currency, target_cents=fund.target_cents,
        min_pledge_cents=fund.min_pledge_cents, commitment_deadline=fund.commitment_deadline, clabe=fund.clabe,
        cooling_off_days=fund.cooling_off_days, committed_cents=figures.committed_cents,
        called_cents=figures.called_cents, paid_in_cents=figures.paid_in_cents,
        outstanding_cents=figures.outstanding_cents, allocated_cents=figures.allocated_cents,
        fees_cents=figures.fees_cents, available_cents=figures.available_cents, status=fund.status,
    ).model_dump(mode="json")


def payment_out(payment) -> PaymentOut:
    return PaymentOut(
        id=payment.id, call_line_id=payment.call_line_id, method=payment.method.value, status=payment.status.value,
        amount_cents=payment.amount_cents, refunded_cents=payment.refunded_cents, currency=payment.currency,
        paid_on=payment.paid_on, reference=payment.reference, failure_message=payment.failure_message,
        created_at=payment.created_at,
    )


def pledge_out(pledge) -> dict:
    figures = ledger.company_figures(pledge.fund_id, pledge.organization_id)
    return PledgeOut(
        id=pledge.id, fund_id=pledge.fund_id, organization=OrganizationRef.model_validate(pledge.organization),
        status=pledge.status.value, currency=pledge.fund.currency, amount_cents=figures.committed_cents,
        called_cents=figures.called_cents, paid_cents=figures.paid_cents,
        outstanding_cents=figures.outstanding_cents, unfunded_cents=figures.unfunded_cents,
        overpaid_cents=figures.overpaid_cents, cooling_off_until=pledge.cooling_off_until,
        created_at=pledge.created_at, payments=[payment_out(p) for p in queries.payments_of_pledge(pledge)],
    ).model_dump(mode="json")


def call_out(call, viewer) -> dict:
    lines = [line for line in call.lines
             if viewer.has_role(Role.ORGANIZER) or line.organization_id == viewer.organization_id]
    return CapitalCallOut(
        id=call.id, fund_id=call.fund_id, number=call.number, percent=str(Decimal(call.percent_bp) / 100),
        notice_date=call.notice_date, due_date=call.due_date, total_cents=call.total_cents,
        currency=call.fund.currency, clabe=call.fund.clabe,
        lines=[_line_out(line) for line in lines],
    ).model_dump(mode="json")


def _line_out(line) -> CallLineOut:
    outstanding = ledger.line_outstanding(line.id)  # one ledger read per line
    owed = max(outstanding, 0)
    return CallLineOut(id=line.id, organization=OrganizationRef.model_validate(line.organization),
                       amount_cents=line.amount_cents, paid_cents=line.amount_cents - owed,
                       outstanding_cents=owed, reference=line.reference,
                       status=services.line_status(line, outstanding))


@operation(bp, "/funds", "POST", summary="Create a fund", who="organizer", body=FundIn,
           responses={201: Response("The fund", FundOut), **ORGANIZER_ERRORS, 422: Response("Invalid data")},
           tag="fund")
def create_fund():
    """Open a capital fund for commitments."""
    require_role(Role.ORGANIZER)
    data = parse_json(FundIn)
    fund = services.create_fund(current_user, services.FundData(**data.model_dump()))
    db.session.commit()
    return jsonify(fund_out(fund)), 201, {"Location": url_for("api.get_fund", fund_id=fund.id)}


@operation(bp, "/funds", "GET", summary="The funds", who="investor, organizer",
           responses={200: Response("The funds with their figures", FundList), **FUND_VIEW_ERRORS}, tag="fund")
def list_funds():
    """Every fund with its figures from the ledger."""
    require_login()
    services.ensure_can_view_fund(current_user)
    return jsonify({"funds": [fund_out(f) for f in queries.all_funds()]})


@operation(bp, "/funds/<int:fund_id>", "GET", summary="One fund with its figures", who="investor, organizer",
           responses={200: Response("The fund", FundOut), **FUND_VIEW_ERRORS, 404: Response("No such fund")},
           tag="fund")
def get_fund(fund_id: int):
    """Target, committed, called, paid in, allocated and available."""
    require_login()
    services.ensure_can_view_fund(current_user)
    return jsonify(fund_out(services.get_fund(fund_id)))


@operation(bp, "/funds/<int:fund_id>/pledges", "POST", summary="Pledge for the investor's company",
           who="investor", body=PledgeIn, idempotent_key=True,
           responses={201: Response("The pledge", PledgeOut), 401: Response("Not logged in"),
                      403: Response("Not an investor of a member company, or an account whose email "
                                    "address is not confirmed yet"), 404: Response("No such fund"),
                      409: Response("The fund is closed, or the company already pledged"),
                      422: Response("Invalid amount or key reused with another body")},
           tag="fund")
@idempotent
def create_pledge(fund_id: int):
    """Commit capital to the fund."""
    require_login()
    data = parse_json(PledgeIn)
    pledge = services.pledge(fund_id, current_user, data.amount_cents)
    commit_request()
    return jsonify(pledge_out(pledge)), 201


@operation(bp, "/pledges/<int:pledge_id>", "PATCH", summary="Raise, lower or cancel a pledge",
           who="investor of the company", body=PledgeChangeIn, idempotent_key=True,
           responses={200: Response("The pledge", PledgeOut), 401: Response("Not logged in"),
                      403: Response("Not allowed"), 404: Response("No such pledge"),
                      409: Response("Cooling-off over or fund closed"), 422: Response("Invalid amount")},
           tag="fund")
@idempotent
def change_pledge(pledge_id: int):
    """Change the company's commitment."""
    require_login()
    data = parse_json(PledgeChangeIn)
    pledge = services.change_pledge(pledge_id, current_user, data.amount_cents)
    commit_request()
    return jsonify(pledge_out(pledge))


@operation(bp, "/me/pledges", "GET", summary="My company's pledges: called, paid, outstanding and payments",
           who="investor", responses={200: Response("The pledges", PledgeList), 401: Response("Not logged in"),
                                       403: Response("Not an investor")}, tag="fund")
def my_pledges():
    """What my company pledged, was called, paid and still owes."""
    require_role(Role.INVESTOR)
    return jsonify({"pledges": [pledge_out(p) for p in queries.pledges_of_organization(current_user.organization_id)]})


@operation(bp, "/funds/<int:fund_id>/capital-calls", "POST", summary="Call a share of every open commitment",
           who="organizer", body=CapitalCallIn, idempotent_key=True,
           responses={201: Response("The call with its lines", CapitalCallOut), **ORGANIZER_ERRORS,
                      404: Response("No such fund"), 409: Response("Nothing to call, or the fund is wound down"),
                      422: Response("Invalid data")},
           tag="fund")
@idempotent
def create_capital_call(fund_id: int):
    """Issue a capital call."""
    require_role(Role.ORGANIZER)
    data = parse_json(CapitalCallIn)
    call = services.issue_capital_call(fund_id, current_user, percent=data.percent, due_date=data.due_date,
                                       notice_date=data.notice_date)
    commit_request()
    return jsonify(call_out(call, current_user)), 201


@operation(bp, "/funds/<int:fund_id>/capital-calls", "GET", summary="The fund's capital calls",
           who="organizer; an investor sees only their company's lines",
           responses={200: Response("The calls", CapitalCallList), **FUND_VIEW_ERRORS, 404: Response("No such fund")},
           tag="fund")
def list_capital_calls(fund_id: int):
    """Every call of a fund with its lines."""
    require_login()
    services.ensure_can_view_fund(current_user)
    fund = services.get_fund(fund_id)
    return jsonify({"capital_calls": [call_out(c, current_user) for c in queries.calls_of_fund(fund.id)]})


@operation(bp, "/capital-calls/<int:call_id>", "GET", summary="One capital call",
           who="organizer; an investor sees only their company's lines",
           responses={200: Response("The call", CapitalCallOut), **FUND_VIEW_ERRORS, 404: Response("No such call")},
           tag="fund")
def get_capital_call(call_id: int):
    """A call with its lines."""
    require_login()
    services.ensure_can_view_fund(current_user)
    return jsonify(call_out(queries.get_call(call_id), current_user))


@operation(bp, "/call-lines/<int:line_id>/transfers", "POST", summary="Record a bank transfer against a call line",
           who="organizer", body=TransferIn, idempotent_key=True,
           responses={201: Response("The payment", PaymentOut), **ORGANIZER_ERRORS,
                      404: Response("No such call line"), 422: Response("Invalid data")},
           tag="fund")
@idempotent
def record_transfer(line_id: int):
    """Book a SPEI transfer seen on the fund's account."""
    require_role(Role.ORGANIZER)
    data = parse_json(TransferIn)
    payment = services.record_transfer(line_id, current_user, amount_cents=data.amount_cents,
                                       paid_on=data.paid_on, reference=data.reference)
    commit_request()
    return jsonify(payment_out(payment).model_dump(mode="json")), 201


@operation(bp, "/funds/<int:fund_id>/allocations", "POST", summary="Allocate paid-in capital to a venture",
           who="organizer", body=AllocationIn, idempotent_key=True,
           responses={201: Response("The allocation", AllocationOut), **ORGANIZER_ERRORS,
                      404: Response("No such fund"), 409: Response("More than is available"),
                      422: Response("Invalid data")},
           tag="fund")
@idempotent
def create_allocation(fund_id: int):
    """Back a venture with the fund's capital."""
    require_role(Role.ORGANIZER)
    data = parse_json(AllocationIn)
    allocation = services.allocate(fund_id, current_user, venture_id=data.venture_id,
                                   amount_cents=data.amount_cents, note=data.note)
    commit_request()
    return jsonify(AllocationOut.model_validate(allocation).model_dump(mode="json")), 201


@operation(bp, "/allocations/<int:allocation_id>/reversal", "POST", summary="Reverse an allocation (never edited)",
           who="organizer", body=ReversalIn,
           responses={200: Response("The reversed allocation", AllocationOut), **ORGANIZER_ERRORS,
                      404: Response("No such allocation"), 409: Response("Already reversed"),
                      422: Response("Invalid data")},
           tag="fund")
def reverse_allocation(allocation_id: int):
    """Undo an allocation with a reversing ledger transaction."""
    require_role(Role.ORGANIZER)
    data = parse_json(ReversalIn)
    allocation = services.reverse_allocation(allocation_id, current_user, data.reason)
    db.session.commit()
    return jsonify(AllocationOut.model_validate(allocation).model_dump(mode="json"))


@operation(bp, "/funds/<int:fund_id>/ledger", "GET", summary="The ledger's transactions with their entries, oldest first",
           who="organizer",
           responses={200: Response("The ledger", LedgerOut), **ORGANIZER_ERRORS, 404: Response("No such fund")},
           tag="fund")
def get_ledger(fund_id: int):
    """Every money movement of a fund."""
    require_role(Role.ORGANIZER)
    fund = services.get_fund(fund_id)
    return jsonify(LedgerOut(
        fund_id=fund.id, currency=fund.currency,
        transactions=[TransactionOut(
            id=t.id, kind=t.kind.value, memo=t.memo, created_at=t.created_at, reverses_id=t.reverses_id,
            pledge_id=t.pledge_id, call_line_id=t.call_line_id, payment_id=t.payment_id,
            allocation_id=t.allocation_id, entries=[EntryOut.model_validate(e) for e in t.entries],
        ) for t in ledger.transactions(fund.id)],
    ).model_dump(mode="json"))


class OfferIn(Body):
    amount_cents: Cents
    equity_pct: Annotated[Decimal, Field(gt=0, le=100, allow_inf_nan=False, decimal_places=2)]
    terms: Annotated[str, Field(max_length=offers.TERMS_MAX)] = ""


class OfferOut(Out):
    id: int
    pitch_id: int
    venture_id: int
    investor_id: int
    organization: OrganizationRef
    amount_cents: int
    currency: str
    equity_pct: str
    terms: str
    status: str
    created_at: datetime
    decided_at: datetime | None


def offer_out(offer) -> dict:
    return OfferOut(
        id=offer.id, pitch_id=offer.pitch_id, venture_id=offer.venture_id, investor_id=offer.investor_id,
        organization=OrganizationRef.model_validate(offer.organization), amount_cents=offer.amount_cents,
        currency=offer.currency, equity_pct=str(equity_bp_to_pct(offer.equity_bp)), terms=offer.terms,
        status=offer.status.value, created_at=offer.created_at, decided_at=offer.decided_at,
    ).model_dump(mode="json")


@operation(bp, "/pitches/<int:pitch_id>/offers", "POST", summary="Offer money for equity to a venture that pitched",
           who="investor", body=OfferIn, idempotent_key=True,
           responses={201: Response("The offer", OfferOut), 401: Response("Not logged in"),
                      403: Response("Not an investor of a member company, or an account whose email "
                                    "address is not confirmed yet"), 404: Response("No such pitch"),
                      409: Response("The venture has not pitched yet"), 422: Response("Invalid data")},
           tag="offers")
@idempotent
def create_offer(pitch_id: int):
    """Make an offer during or after a live pitch."""
    require_login()
    data = parse_json(OfferIn)
    offer = offers.make_offer(pitch_id, current_user, amount_cents=data.amount_cents,
                              equity_pct=data.equity_pct, terms=data.terms)
    commit_request()
    return jsonify(offer_out(offer)), 201


OFFER_DECISION = {200: Response("The answered offer", OfferOut), 401: Response("Not logged in"),
                  403: Response("Not the venture's owner"), 404: Response("No such offer"),
                  409: Response("Already answered")}


@operation(bp, "/offers/<int:offer_id>/accept", "POST", summary="Accept an offer (it becomes a deal)",
           who="the venture's owner", responses=OFFER_DECISION, tag="offers")
def accept_offer(offer_id: int):
    """Accept an offer, once."""
    require_login()
    offer = offers.decide_offer(offer_id, current_user, accept=True)
    db.session.commit()
    return jsonify(offer_out(offer))


@operation(bp, "/offers/<int:offer_id>/decline", "POST", summary="Decline an offer",
           who="the venture's owner", responses=OFFER_DECISION, tag="offers")
def decline_offer(offer_id: int):
    """Decline an offer, once."""
    require_login()
    offer = offers.decide_offer(offer_id, current_user, accept=False)
    db.session.commit()
    return jsonify(offer_out(offer))
