"""The fund's rules: pledges, capital calls, recorded transfers and allocations, all through the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import func, select

from pitchtank.accounts.models import Role, User
from pitchtank.accounts.verification import require_verified_email
from pitchtank.audit.services import record
from pitchtank.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from pitchtank.core.i18n import format_money
from pitchtank.core.timefields import local_today
from pitchtank.core.types import utcnow
from pitchtank.extensions import db
from pitchtank.fund import ledger
from pitchtank.fund.ledger import Leg
from pitchtank.fund.models import (
    FUND_NAME_MAX,
    REFERENCE_MAX,
    Allocation,
    CallLine,
    CapitalCall,
    Fund,
    FundStatus,
    LedgerKind,
    LedgerTransaction,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Pledge,
    PledgeStatus,
)
from pitchtank.notices import facts
from pitchtank.ventures.models import Venture

MAX_AMOUNT_CENTS = 10_000_000_000_00  # ten thousand million pesos


def is_valid_clabe(clabe: str) -> bool:
    """18 digits whose last is the check digit of the first 17 (weights 3, 7, 1)."""
    if len(clabe) != 18 or not clabe.isdigit():
        return False
    weights = (3, 7, 1) * 6
    total = sum((int(digit) * weight) % 10 for digit, weight in zip(clabe[:17], weights, strict=False))
    return (10 - total % 10) % 10 == int(clabe[17])


def _amount_problems(amount: int, field: str = "amount_cents") -> dict[str, list[str]]:
    if isinstance(amount, bool) or not isinstance(amount, int):
        return {field: [_("Enter an amount in centavos (a whole number).")]}
    if amount <= 0:
        return {field: [_("The amount must be more than zero.")]}
    if amount > MAX_AMOUNT_CENTS:
        return {field: [_("The amount is larger than PitchTank accepts.")]}
    return {}


@dataclass(frozen=True)
class FundData:
    name: str
    target_cents: int
    min_pledge_cents: int
    commitment_deadline: date
    clabe: str
    cooling_off_days: int = 7


def create_fund(actor: User, data: FundData) -> Fund:
    errors: dict[str, list[str]] = {}
    name = data.name.strip()
    if not name or len(name) > FUND_NAME_MAX:
        errors["name"] = [_("Enter a name of at most %(n)s characters.", n=FUND_NAME_MAX)]
    errors |= _amount_problems(data.target_cents, "target_cents")
    errors |= _amount_problems(data.min_pledge_cents, "min_pledge_cents")
    if "target_cents" not in errors and "min_pledge_cents" not in errors and data.min_pledge_cents > data.target_cents:
        errors["min_pledge_cents"] = [_("The minimum pledge cannot exceed the target.")]
    if not is_valid_clabe(data.clabe):
        errors["clabe"] = [_("The CLABE must be 18 digits with a valid check digit.")]
    if not 0 <= data.cooling_off_days <= 90:
        errors["cooling_off_days"] = [_("Between 0 and 90 days.")]
    if data.commitment_deadline < local_today():
        errors["commitment_deadline"] = [_("The deadline cannot be in the past.")]
    if errors:
        raise ValidationFailed(errors, _("Some fields are not valid."))
    fund = Fund(name=name, target_cents=data.target_cents, min_pledge_cents=data.min_pledge_cents,
                commitment_deadline=data.commitment_deadline, clabe=data.clabe,
                cooling_off_days=data.cooling_off_days, created_by_id=actor.id)
    db.session.add(fund)
    db.session.flush()
    record("fund.created", actor=actor, subject_type="fund", subject_id=fund.id)
    return fund


def get_fund(fund_id: int, *, for_update: bool = False) -> Fund:
    statement = select(Fund).where(Fund.id == fund_id)
    if for_update:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    fund = db.session.scalar(statement)
    if fund is None:
        raise NotFound(_("That fund does not exist."))
    return fund


def ensure_can_view_fund(user: User) -> None:
    if not user.has_role(Role.ORGANIZER, Role.INVESTOR):
        raise PermissionDenied(_("Only investors and organizers can see the fund."))


def _investor_organization(user: User):
    if not user.has_role(Role.INVESTOR) or user.organization is None:
        raise PermissionDenied(_("Only investors of a member company can pledge."))
    return user.organization


def pledge(fund_id: int, investor: User, amount_cents: int) -> Pledge:
    """A member company commits capital to the fund; one commitment per company, raised later."""
    organization = _investor_organization(investor)
    require_verified_email(investor)
    fund = get_fund(fund_id, for_update=True)
    if fund.status != FundStatus.OPEN or fund.commitment_deadline < local_today():
        raise Conflict(_("The fund is not taking commitments."))
    if errors := _amount_problems(amount_cents):
        raise ValidationFailed(errors, _("Some fields are not valid."))
    if amount_cents < fund.min_pledge_cents:
        raise ValidationFailed({"amount_cents": [_("The minimum pledge is %(min)s.", min=format_money(fund.min_pledge_cents))]})
    existing = db.session.scalar(select(Pledge).where(Pledge.fund_id == fund.id, Pledge.organization_id == organization.id))
    if existing is not None and existing.status == PledgeStatus.ACTIVE:
        raise Conflict(_("Your company already has a commitment to this fund; raise it instead."))
    if existing is None:
        existing = Pledge(fund_id=fund.id, organization_id=organization.id, created_by_id=investor.id,
                          cooling_off_until=utcnow() + timedelta(days=fund.cooling_off_days))
        db.session.add(existing)
    else:
        existing.status = PledgeStatus.ACTIVE  # a new commitment after a cancelled one
        existing.cooling_off_until = utcnow() + timedelta(days=fund.cooling_off_days)
    db.session.flush()
    ledger.post(fund, LedgerKind.PLEDGE, [
        Leg(ledger.UNFUNDED, amount_cents, organization.id), Leg(ledger.COMMITTED, -amount_cents, organization.id),
    ], memo=f"Pledge by {organization.name}", actor=investor, pledge_id=existing.id)
    return existing


def get_pledge(pledge_id: int, viewer: User, *, for_update: bool = False) -> Pledge:
    statement = select(Pledge).where(Pledge.id == pledge_id)
    if for_update:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    found = db.session.scalar(statement)
    if found is None or not (viewer.has_role(Role.ORGANIZER) or (
            viewer.has_role(Role.INVESTOR) and viewer.organization_id == found.organization_id)):
        raise NotFound(_("That pledge does not exist."))
    return found


def change_pledge(pledge_id: int, investor: User, new_amount_cents: int) -> Pledge:
    """Raise a commitment any time the fund is open; lower or cancel it only while cooling off,
    and never below what was already called."""
    # Lock the fund before the pledge, as pledges and capital calls do: a call holds the fund and
    # then key-share locks each pledge for its lines, so the opposite order deadlocks.
    fund_id = get_pledge(pledge_id, investor).fund_id
    fund = get_fund(fund_id, for_update=True)
    current = get_pledge(pledge_id, investor, for_update=True)
    if not investor.has_role(Role.INVESTOR) or investor.organization_id != current.organization_id:
        raise PermissionDenied(_("Only the company's investors can change its pledge."))
    if current.status != PledgeStatus.ACTIVE:
        raise Conflict(_("This pledge was cancelled."))
    if fund.status != FundStatus.OPEN:
        raise Conflict(_("The fund is not taking commitments."))
    if isinstance(new_amount_cents, bool) or not isinstance(new_amount_cents, int) or new_amount_cents < 0:
        raise ValidationFailed({"amount_cents": [_("Enter an amount in centavos (a whole number).")]})
    figures = ledger.company_figures(fund.id, current.organization_id)
    delta = new_amount_cents - figures.committed_cents
    if delta == 0:
        return current
    if delta < 0:
        if utcnow() > current.cooling_off_until:
            raise Conflict(_("The cooling-off period is over: the pledge can only be raised."))
        if new_amount_cents < figures.called_cents:
            raise ValidationFailed({"amount_cents": [_("A pledge cannot go below what was already called.")]})
        if 0 < new_amount_cents < fund.min_pledge_cents:
            raise ValidationFailed({"amount_cents": [_("The minimum pledge is %(min)s.", min=format_money(fund.min_pledge_cents))]})
    elif new_amount_cents > MAX_AMOUNT_CENTS:
        raise ValidationFailed({"amount_cents": [_("The amount is larger than PitchTank accepts.")]})
    ledger.post(fund, LedgerKind.PLEDGE_CHANGE, [
        Leg(ledger.UNFUNDED, delta, current.organization_id), Leg(ledger.COMMITTED, -delta, current.organization_id),
    ], memo="Pledge changed", actor=investor, pledge_id=current.id)
    if new_amount_cents == 0:
        current.status = PledgeStatus.CANCELLED
    db.session.flush()
    return current


def _percent_bp(percent: Decimal) -> int:
    if not isinstance(percent, Decimal) or not percent.is_finite() or percent <= 0 or percent > 100:
        raise ValidationFailed({"percent": [_("Between 0 and 100 percent.")]})
    if percent.as_tuple().exponent < -2:
        raise ValidationFailed({"percent": [_("Use at most two decimals.")]})
    return int(percent * 100)


def split_pro_rata(amounts: dict[int, int], percent_bp: int, caps: dict[int, int]) -> dict[int, int]:
    """Each commitment's share of a call, to the centavo; the rounding residue goes to the
    largest commitment, so the lines add up exactly to the call."""
    total_committed = sum(amounts.values())
    call_total = total_committed * percent_bp // 10_000
    shares = {org: amount * percent_bp // 10_000 for org, amount in amounts.items()}
    residue = call_total - sum(shares.values())
    if residue and shares:
        largest = max(amounts, key=lambda org: (amounts[org], -org))
        shares[largest] += residue
    return {org: min(share, caps.get(org, share)) for org, share in shares.items() if min(share, caps.get(org, share)) > 0}


def issue_capital_call(fund_id: int, actor: User, *, percent: Decimal, due_date: date,
                       notice_date: date | None = None) -> CapitalCall:
    """Call a share of every open commitment, split pro rata, each line with its own reference."""
    fund = get_fund(fund_id, for_update=True)
    if fund.status == FundStatus.WOUND_DOWN:
        raise Conflict(_("The fund was wound down."))
    percent_bp = _percent_bp(percent)
    notice_date = notice_date or local_today()
    if due_date < notice_date:
        raise ValidationFailed({"due_date": [_("The due date cannot be before the notice date.")]})
    figures = ledger.all_company_figures(fund.id)
    active = {p.organization_id: p for p in db.session.scalars(
        select(Pledge).where(Pledge.fund_id == fund.id, Pledge.status == PledgeStatus.ACTIVE))}
    commitments = {org: figures[org].committed_cents for org in active if org in figures and figures[org].committed_cents > 0}
    caps = {org: figures[org].unfunded_cents for org in commitments}
    shares = split_pro_rata(commitments, percent_bp, caps)
    if not shares:
        raise Conflict(_("There is no uncalled commitment to call."))
    number = (db.session.scalar(select(func.max(CapitalCall.number)).where(CapitalCall.fund_id == fund.id)) or 0) + 1
    call = CapitalCall(fund_id=fund.id, number=number, percent_bp=percent_bp, notice_date=notice_date,
                       due_date=due_date, total_cents=sum(shares.values()), created_by_id=actor.id)
    db.session.add(call)
    db.session.flush()
    for org, amount in sorted(shares.items()):
        line = CallLine(call_id=call.id, organization_id=org, pledge_id=active[org].id, amount_cents=amount,
                        reference=f"PT{fund.id:03d}C{number:02d}E{org:04d}")
        db.session.add(line)
        db.session.flush()
        ledger.post(fund, LedgerKind.CAPITAL_CALL, [
            Leg(ledger.RECEIVABLE, amount, org), Leg(ledger.UNFUNDED, -amount, org),
        ], memo=f"Capital call {number}", actor=actor, call_line_id=line.id, pledge_id=active[org].id)
    record("capital_call.issued", actor=actor, subject_type="fund", subject_id=fund.id,
           call_id=call.id, percent_bp=percent_bp, total_cents=call.total_cents)
    facts.capital_call_issued(call)
    return call


def get_call_line(line_id: int, viewer: User, *, for_update: bool = False) -> CallLine:
    statement = select(CallLine).where(CallLine.id == line_id)
    if for_update:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    line = db.session.scalar(statement)
    if line is None or not (viewer.has_role(Role.ORGANIZER) or (
            viewer.has_role(Role.INVESTOR) and viewer.organization_id == line.organization_id)):
        raise NotFound(_("That call line does not exist."))
    return line


def apply_payment(payment: Payment, *, actor=None, external_key: str | None = None) -> LedgerTransaction:
    """Book a received payment: it pays the line's outstanding amount; any excess is held as overpaid."""
    line = payment.call_line
    fund = db.session.get(Fund, line.call.fund_id)
    owed = max(ledger.line_outstanding(line.id), 0)
    applied = min(payment.amount_cents, owed)
    excess = payment.amount_cents - applied
    return ledger.post(fund, LedgerKind.PAYMENT, [
        Leg(ledger.CASH, payment.amount_cents),
        Leg(ledger.RECEIVABLE, -applied, line.organization_id),
        Leg(ledger.OVERPAID, -excess, line.organization_id),
    ], memo=f"Payment {payment.method.value} {payment.reference}".strip(), actor=actor,
        call_line_id=line.id, payment_id=payment.id, external_key=external_key)


def record_transfer(line_id: int, actor: User, *, amount_cents: int, paid_on: date, reference: str) -> Payment:
    """The organizer records a SPEI transfer seen on the fund's bank account."""
    line = get_call_line(line_id, actor, for_update=True)
    errors = _amount_problems(amount_cents)
    reference = (reference or "").strip()
    if not reference or len(reference) > REFERENCE_MAX:
        errors["reference"] = [_("Enter the transfer's reference (at most %(n)s characters).", n=REFERENCE_MAX)]
    if paid_on > local_today():
        errors["paid_on"] = [_("The payment date cannot be in the future.")]
    if errors:
        raise ValidationFailed(errors, _("Some fields are not valid."))
    payment = Payment(call_line_id=line.id, method=PaymentMethod.TRANSFER, status=PaymentStatus.SUCCEEDED,
                      amount_cents=amount_cents, paid_on=paid_on, reference=reference, recorded_by_id=actor.id)
    db.session.add(payment)
    db.session.flush()
    apply_payment(payment, actor=actor)
    record("payment.recorded", actor=actor, subject_type="call_line", subject_id=line.id,
           amount_cents=amount_cents, reference=reference)
    facts.payment_received(payment)
    return payment


def allocate(fund_id: int, actor: User, *, venture_id: int, amount_cents: int, note: str = "") -> Allocation:
    """Assign paid-in capital to a venture; never more than is available."""
    fund = get_fund(fund_id, for_update=True)
    if errors := _amount_problems(amount_cents):
        raise ValidationFailed(errors, _("Some fields are not valid."))
    venture = db.session.get(Venture, venture_id)
    if venture is None or not venture.is_public:
        raise ValidationFailed({"venture_id": [_("Choose a venture that an event accepted.")]})
    available = ledger.fund_figures(fund.id).available_cents
    if amount_cents > available:
        raise Conflict(_("Only %(available)s are available to allocate.", available=format_money(available)))
    allocation = Allocation(fund_id=fund.id, venture_id=venture.id, amount_cents=amount_cents,
                            note=(note or "").strip()[:2000], created_by_id=actor.id)
    db.session.add(allocation)
    db.session.flush()
    ledger.post(fund, LedgerKind.ALLOCATION, [
        Leg(ledger.ALLOCATED, amount_cents, venture_id=venture.id), Leg(ledger.CASH, -amount_cents),
    ], memo=f"Allocation to {venture.name}", actor=actor, allocation_id=allocation.id)
    record("allocation.created", actor=actor, subject_type="fund", subject_id=fund.id,
           allocation_id=allocation.id, amount_cents=amount_cents, venture_id=venture.id)
    return allocation


def reverse_allocation(allocation_id: int, actor: User, reason: str) -> Allocation:
    reason = reason.strip()
    if not reason:  # the page strips what the API's schema refuses: a blank reason explains nothing
        raise ValidationFailed({"reason": [_("This field is required.")]})
    allocation = db.session.get(Allocation, allocation_id)
    if allocation is None:
        raise NotFound(_("That allocation does not exist."))
    get_fund(allocation.fund_id, for_update=True)
    if allocation.reversed_at is not None:
        raise Conflict(_("This allocation was already reversed."))
    original = db.session.scalar(select(LedgerTransaction).where(
        LedgerTransaction.allocation_id == allocation.id, LedgerTransaction.kind == LedgerKind.ALLOCATION))
    ledger.reverse(original, memo=f"Reversal: {reason}"[:255], actor=actor)
    allocation.reversed_at = utcnow()
    record("allocation.reversed", actor=actor, subject_type="fund", subject_id=allocation.fund_id,
           allocation_id=allocation.id, reason=reason)
    db.session.flush()
    return allocation


def set_fund_status(fund_id: int, actor: User, status: FundStatus) -> Fund:
    fund = get_fund(fund_id, for_update=True)
    fund.status = status
    record("fund.status", actor=actor, subject_type="fund", subject_id=fund.id, status=status.value)
    return fund


def line_status(line: CallLine, outstanding: int) -> str:
    """``paid``, ``partial``, ``overdue`` or ``unpaid``, from what is still owed on the line."""
    if outstanding <= 0:
        return "paid"
    if outstanding < line.amount_cents:
        return "partial"
    return "overdue" if line.call.due_date < local_today() else "unpaid"
