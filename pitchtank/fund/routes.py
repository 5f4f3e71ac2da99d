"""Pages of the cluster capital fund: organizers run it, investors pledge and pay, and offers
from investors to ventures become deals once their entrepreneurs accept them.

The services in ``pitchtank.fund`` check every rule and write the ledger; these views turn
typed pesos into centavos, call one service, and commit once (or roll back and show the
service's message beside the field it concerns).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from pitchtank.accounts.models import Role
from pitchtank.audit.services import record
from pitchtank.core import spreadsheets
from pitchtank.core.authz import roles_required
from pitchtank.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from pitchtank.core.forms import ConfirmForm, apply_errors
from pitchtank.core.i18n import format_money
from pitchtank.core.timefields import local_today, local_zone
from pitchtank.core.types import utcnow
from pitchtank.events.models import Pitch, PitchSession, PitchStatus, SessionStatus
from pitchtank.events.services import get_session
from pitchtank.extensions import db
from pitchtank.fund import charts, exports, ledger, offers, pdf, queries, services, stripe_gateway
from pitchtank.fund.forms import (
    AMOUNT_ALIASES,
    FUND_ALIASES,
    OFFER_ALIASES,
    AllocationForm,
    CapitalCallForm,
    FundForm,
    FundStatusForm,
    OfferForm,
    PledgeForm,
    ReversalForm,
    TransferForm,
    fund_label,
)
from pitchtank.fund.models import (
    Allocation,
    CallLine,
    CapitalCall,
    Fund,
    FundStatus,
    LedgerEntry,
    LedgerKind,
    LedgerTransaction,
    OfferStatus,
    Payment,
    PaymentStatus,
    Pledge,
    PledgeStatus,
)
from pitchtank.organizations.models import Organization
from pitchtank.ventures.services import public_ventures

bp = Blueprint("fund", __name__, url_prefix="/fund")

# Payments that mean money arrived, so a receipt makes sense.
RECEIVED = frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED, PaymentStatus.DISPUTED})
# Payments the organizer must see because they did not (yet) go through.
TROUBLE = frozenset({PaymentStatus.FAILED, PaymentStatus.REQUIRES_ACTION, PaymentStatus.DISPUTED})


@bp.context_processor
def _fund_helpers() -> dict:
    return {"PaymentStatus": PaymentStatus, "FundStatus": FundStatus, "OfferStatus": OfferStatus,
            "RECEIVED": RECEIVED}


# A global (not a context variable) so that macros imported without context can use it.
bp.add_app_template_global(fund_label, "fund_label")


def _form_status(*forms) -> int:
    return 422 if any(f.errors for f in forms if f is not None) else 200


def _flash_error(error: DomainError) -> None:
    flash(error.message or _("That could not be done."), "error")


def _gateway():
    """The Stripe integration when it is configured (and written), else None."""
    return stripe_gateway if stripe_gateway.stripe_enabled() else None


# ---------------------------------------------------------------- read models for the pages

@dataclass
class LineView:
    """One company's share of a call, with what the ledger says was paid on it."""

    line: CallLine
    outstanding_cents: int
    overpaid_cents: int
    status: str
    payments: list[Payment] = field(default_factory=list)

    @property
    def paid_cents(self) -> int:
        return self.line.amount_cents - max(self.outstanding_cents, 0)

    @property
    def received_cents(self) -> int:
        return self.paid_cents + self.overpaid_cents

    @property
    def display_status(self) -> str:
        return "overpaid" if self.overpaid_cents > 0 else self.status


def _line_views(lines: list[CallLine]) -> list[LineView]:
    """Outstanding and overpaid per line from the ledger (one query), payments in another."""
    if not lines:
        return []
    ids = [line.id for line in lines]
    balances: dict[tuple[int, str], int] = {}
    for line_id, account, total in db.session.execute(
        select(LedgerTransaction.call_line_id, LedgerEntry.account, func.sum(LedgerEntry.amount_cents))
        .join(LedgerTransaction, LedgerEntry.transaction_id == LedgerTransaction.id)
        .where(LedgerTransaction.call_line_id.in_(ids), LedgerEntry.account.in_([ledger.RECEIVABLE, ledger.OVERPAID]))
        .group_by(LedgerTransaction.call_line_id, LedgerEntry.account)
    ):
        balances[(line_id, account)] = int(total or 0)
    payments: dict[int, list[Payment]] = {line_id: [] for line_id in ids}
    for payment in db.session.scalars(
        select(Payment).where(Payment.call_line_id.in_(ids)).order_by(Payment.created_at, Payment.id)
    ):
        payments[payment.call_line_id].append(payment)
    views = []
    for line in lines:
        outstanding = balances.get((line.id, ledger.RECEIVABLE), 0)
        views.append(LineView(line=line, outstanding_cents=outstanding,
                              overpaid_cents=-balances.get((line.id, ledger.OVERPAID), 0),
                              status=services.line_status(line, outstanding), payments=payments[line.id]))
    return views


def _chart(fund: Fund, figures: ledger.FundFigures) -> dict:
    points = charts.progress_by_day(ledger.transactions(fund.id), local_zone())
    today = utcnow().astimezone(local_zone()).date()
    description = _(
        "As of %(day)s: committed %(committed)s, called %(called)s and paid in %(paid)s, "
        "toward a target of %(target)s.",
        day=format_date(today, "long"), committed=format_money(figures.committed_cents, fund.currency),
        called=format_money(figures.called_cents, fund.currency),
        paid=format_money(figures.paid_in_cents, fund.currency), target=format_money(fund.target_cents, fund.currency),
    )
    svg = charts.progress_svg(
        points, target_cents=fund.target_cents, chart_id=f"fund-{fund.id}-chart",
        title=_("Progress of %(fund)s toward its target", fund=fund.name), description=description,
        labels={"target": _("Target")}, day_label=lambda day: format_date(day, "d MMM y"), until=today,
    )
    return {"svg": svg, "points": points, "description": description}


def _allocations(fund_id: int) -> list[Allocation]:
    return list(db.session.scalars(
        select(Allocation).where(Allocation.fund_id == fund_id).order_by(Allocation.created_at, Allocation.id)))


def _organizations(ids) -> dict[int, Organization]:
    ids = set(ids)
    if not ids:
        return {}
    return {o.id: o for o in db.session.scalars(select(Organization).where(Organization.id.in_(ids)))}


def _payment_for(payment_id: int) -> Payment:
    """A payment its company's investors and organizers may see; anyone else gets a 404."""
    payment = db.session.get(Payment, payment_id)
    if payment is None:
        raise NotFound(_("That payment does not exist."))
    services.get_call_line(payment.call_line_id, current_user)  # 404 for another company's payment
    return payment


def _own_line(line_id: int) -> CallLine:
    """A call line of the investor's own company (even an organizer-investor pays only their own)."""
    line = services.get_call_line(line_id, current_user)
    if line.organization_id != current_user.organization_id:
        raise NotFound(_("That call line does not exist."))
    return line


# ---------------------------------------------------------------- organizers: funds

@bp.route("/")
@roles_required(Role.ORGANIZER)
def index():
    """Every fund with its progress, and the sessions whose offers can be reviewed."""
    funds = [(fund, ledger.fund_figures(fund.id)) for fund in queries.all_funds()]
    sessions = list(db.session.scalars(
        select(PitchSession).where(PitchSession.status != SessionStatus.SCHEDULED)
        .order_by(PitchSession.starts_at.desc())))
    return render_template("fund/index.html", funds=funds, sessions=sessions)


@bp.route("/new", methods=["GET", "POST"])
@roles_required(Role.ORGANIZER)
def new():
    """Open a fund for commitments: target, minimum pledge, deadline, CLABE, cooling-off."""
    form = FundForm()
    if form.validate_on_submit():
        try:
            fund = services.create_fund(current_user, form.to_data())
            db.session.commit()
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error, FUND_ALIASES)
        else:
            flash(_("The fund %(name)s is open for commitments.", name=fund.name), "success")
            return redirect(url_for("fund.show", fund_id=fund.id))
    return render_template("fund/new.html", form=form), _form_status(form)


def _render_fund(fund: Fund, *, transfer_form: TransferForm | None = None, allocation_form: AllocationForm | None = None,
                 reversal_form: ReversalForm | None = None, status_form: FundStatusForm | None = None):
    """The organizer's fund page; a form that failed is passed in to show its errors in place."""
    figures = ledger.fund_figures(fund.id)
    companies = ledger.all_company_figures(fund.id)
    organizations = _organizations(companies)
    company_rows = sorted(
        ((organizations[org_id], figs) for org_id, figs in companies.items() if org_id in organizations),
        key=lambda row: row[0].name.casefold())
    calls = queries.calls_of_fund(fund.id)
    views = _line_views([line for call in calls for line in call.lines])
    views_by_call: dict[int, list[LineView]] = {}
    for view in views:
        views_by_call.setdefault(view.line.call_id, []).append(view)
    transfer_forms = {}
    for view in views:
        bound = transfer_form is not None and transfer_form._prefix == f"line{view.line.id}-"
        transfer_forms[view.line.id] = transfer_form if bound else TransferForm(prefix=f"line{view.line.id}",
                                                                                formdata=None)
    allocations = _allocations(fund.id)
    reversal_forms = {}
    for allocation in allocations:
        bound = reversal_form is not None and reversal_form._prefix == f"allocation{allocation.id}-"
        reversal_forms[allocation.id] = reversal_form if bound else ReversalForm(prefix=f"allocation{allocation.id}",
                                                                                 formdata=None)
    if allocation_form is None:
        allocation_form = AllocationForm(formdata=None)
    allocation_form.venture_id.choices = [(v.id, v.name) for v in public_ventures()]
    if status_form is None:
        status_form = FundStatusForm(formdata=None, status=fund.status.value)
    trouble = [payment for view in views for payment in view.payments if payment.status in TROUBLE]
    failed_forms = [f for f in (transfer_form, allocation_form, reversal_form, status_form) if f is not None]
    return render_template(
        "fund/show.html", fund=fund, figures=figures, company_rows=company_rows, calls=calls,
        views_by_call=views_by_call, transfer_forms=transfer_forms, allocations=allocations,
        reversal_forms=reversal_forms, allocation_form=allocation_form, status_form=status_form,
        trouble=trouble, chart=_chart(fund, figures),
    ), _form_status(*failed_forms)


@bp.route("/<int:fund_id>")
@roles_required(Role.ORGANIZER)
def show(fund_id: int):
    """The fund: figures, progress over time, companies, calls and payments, allocations."""
    return _render_fund(services.get_fund(fund_id))


@bp.route("/<int:fund_id>/status", methods=["POST"])
@roles_required(Role.ORGANIZER)
def set_status(fund_id: int):
    """Open, close or wind down the fund."""
    fund = services.get_fund(fund_id)
    form = FundStatusForm()
    if not form.validate_on_submit():
        return _render_fund(fund, status_form=form)
    try:
        services.set_fund_status(fund.id, current_user, FundStatus(form.status.data))
        db.session.commit()
    except Conflict as error:
        db.session.rollback()
        _flash_error(error)
    else:
        flash(_("The fund is now: %(status)s.", status=fund_label(FundStatus(form.status.data))), "success")
    return redirect(url_for("fund.show", fund_id=fund.id))


@bp.route("/<int:fund_id>/calls/new", methods=["GET", "POST"])
@roles_required(Role.ORGANIZER)
def new_call(fund_id: int):
    """Call a percentage of every open commitment, pro rata, with a notice and a due date."""
    fund = services.get_fund(fund_id)
    form = CapitalCallForm()
    if form.validate_on_submit():
        try:
            call = services.issue_capital_call(fund.id, current_user, percent=form.percent.data,
                                               due_date=form.due_date.data, notice_date=form.notice_date.data)
            db.session.commit()
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        except Conflict as error:
            db.session.rollback()
            _flash_error(error)
            return redirect(url_for("fund.show", fund_id=fund.id))
        else:
            flash(_("Capital call %(number)s was issued: %(total)s across %(count)s companies.",
                    number=call.number, total=format_money(call.total_cents, fund.currency),
                    count=len(call.lines)), "success")
            return redirect(url_for("fund.show", fund_id=fund.id, _anchor=f"call-{call.id}"))
    return render_template("fund/call_form.html", fund=fund, form=form,
                           figures=ledger.fund_figures(fund.id)), _form_status(form)


@bp.route("/lines/<int:line_id>/transfer", methods=["POST"])
@roles_required(Role.ORGANIZER)
def record_transfer(line_id: int):
    """Record a SPEI transfer that arrived on the fund's account for one call line."""
    line = services.get_call_line(line_id, current_user)
    fund = line.call.fund
    form = TransferForm(prefix=f"line{line.id}")
    if form.validate_on_submit():
        try:
            payment = services.record_transfer(line.id, current_user, amount_cents=form.amount.data,
                                               paid_on=form.paid_on.data, reference=form.reference.data)
            db.session.commit()
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error, AMOUNT_ALIASES)
        except Conflict as error:
            db.session.rollback()
            _flash_error(error)
            return redirect(url_for("fund.show", fund_id=fund.id, _anchor=f"line-{line.id}"))
        else:
            view = _line_views([line])[0]
            message = _("A transfer of %(amount)s was recorded for %(company)s.",
                        amount=format_money(payment.amount_cents, fund.currency), company=line.organization.name)
            if view.outstanding_cents > 0:
                message += " " + _("%(amount)s is still outstanding on this line.",
                                   amount=format_money(view.outstanding_cents, fund.currency))
            elif view.overpaid_cents > 0:
                message += " " + _("The line is overpaid by %(amount)s, held as the company's credit.",
                                   amount=format_money(view.overpaid_cents, fund.currency))
            else:
                message += " " + _("The line is fully paid.")
            flash(message, "success")
            return redirect(url_for("fund.show", fund_id=fund.id, _anchor=f"line-{line.id}"))
    return _render_fund(fund, transfer_form=form)


@bp.route("/<int:fund_id>/allocations", methods=["POST"])
@roles_required(Role.ORGANIZER)
def allocate(fund_id: int):
    """Allocate paid-in capital to a venture, never more than is available."""
    fund = services.get_fund(fund_id)
    form = AllocationForm()
    form.venture_id.choices = [(v.id, v.name) for v in public_ventures()]
    if form.validate_on_submit():
        try:
            allocation = services.allocate(fund.id, current_user, venture_id=form.venture_id.data,
                                           amount_cents=form.amount.data, note=form.note.data or "")
            db.session.commit()
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error, AMOUNT_ALIASES)
        except Conflict as error:
            # "Only N are available" belongs beside the amount the organizer typed.
            db.session.rollback()
            form.amount.errors = [*form.amount.errors, error.message]
        else:
            flash(_("%(amount)s was allocated to %(venture)s.",
                    amount=format_money(allocation.amount_cents, fund.currency),
                    venture=allocation.venture.name), "success")
            return redirect(url_for("fund.show", fund_id=fund.id, _anchor="allocations"))
    return _render_fund(fund, allocation_form=form)


@bp.route("/allocations/<int:allocation_id>/reverse", methods=["POST"])
@roles_required(Role.ORGANIZER)
def reverse_allocation(allocation_id: int):
    """Undo an allocation with a reversing ledger entry (allocations are never edited)."""
    allocation = db.session.get(Allocation, allocation_id)
    if allocation is None:
        raise NotFound(_("That allocation does not exist."))
    fund = services.get_fund(allocation.fund_id)
    if allocation.reversed_at is not None:  # its form is gone from the page: say so, whatever was sent
        flash(_("This allocation was already reversed."), "error")
        return redirect(url_for("fund.show", fund_id=fund.id, _anchor="allocations"))
    form = ReversalForm(prefix=f"allocation{allocation.id}")
    if form.validate_on_submit():
        try:
            services.reverse_allocation(allocation.id, current_user, form.reason.data)
            db.session.commit()
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        except Conflict as error:
            db.session.rollback()
            _flash_error(error)
            return redirect(url_for("fund.show", fund_id=fund.id, _anchor="allocations"))
        else:
            flash(_("The allocation to %(venture)s was reversed; the capital is available again.",
                    venture=allocation.venture.name), "success")
            return redirect(url_for("fund.show", fund_id=fund.id, _anchor="allocations"))
    return _render_fund(fund, reversal_form=form)


@bp.route("/<int:fund_id>/ledger.<any(csv, xlsx):extension>")
@roles_required(Role.ORGANIZER)
def export_ledger(fund_id: int, extension: str):
    """Download every ledger entry of the fund as CSV or Excel."""
    fund = services.get_fund(fund_id)
    table = exports.ledger_table(fund)
    record("export.downloaded", actor=current_user, subject_type="fund", subject_id=fund.id,
           export="ledger", format=extension)
    db.session.commit()
    return spreadsheets.download(table, extension, exports.filename(fund, extension))


@bp.route("/sessions/<int:session_id>/offers")
@roles_required(Role.ORGANIZER)
def session_offers(session_id: int):
    """Every offer made to the ventures of one pitch session."""
    session = get_session(session_id)
    found = offers.offers_of_session(session.id)
    accepted = [o for o in found if o.status == OfferStatus.ACCEPTED]
    return render_template("fund/session_offers.html", session=session, offers=found, accepted=accepted,
                           accepted_cents=sum(o.amount_cents for o in accepted))


# ---------------------------------------------------------------- documents

def _pdf_response(data: bytes, name: str) -> Response:
    response = Response(data, mimetype=pdf.PDF_MIMETYPE)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/lines/<int:line_id>/notice.pdf")
@roles_required(Role.INVESTOR, Role.ORGANIZER)
def call_notice_pdf(line_id: int):
    """The capital call notice of one company's line, with the CLABE and the payment reference."""
    line = services.get_call_line(line_id, current_user)
    view = _line_views([line])[0]
    document = pdf.call_notice(line, outstanding_cents=view.outstanding_cents, status=view.display_status)
    record("export.downloaded", actor=current_user, subject_type="call_line", subject_id=line.id,
           export="call_notice", format="pdf")
    db.session.commit()
    return _pdf_response(document, f"capital-call-{line.reference}.pdf")


@bp.route("/payments/<int:payment_id>/receipt.pdf")
@roles_required(Role.INVESTOR, Role.ORGANIZER)
def receipt_pdf(payment_id: int):
    """A receipt for a payment the fund received."""
    payment = _payment_for(payment_id)
    if payment.status not in RECEIVED:
        raise NotFound(_("There is no receipt: this payment did not go through."))
    document = pdf.payment_receipt(payment)
    record("export.downloaded", actor=current_user, subject_type="payment", subject_id=payment.id,
           export="receipt", format="pdf")
    db.session.commit()
    return _pdf_response(document, f"receipt-{payment.id}.pdf")


# ---------------------------------------------------------------- investors

@dataclass
class FundPanel:
    """What one fund looks like to one member company."""

    fund: Fund
    figures: ledger.FundFigures
    company: ledger.CompanyFigures | None
    pledge: Pledge | None
    lines: list[LineView]
    payments: list[Payment]
    refunds: list[dict]
    calls: list[CapitalCall]
    allocations: list[Allocation]
    chart: dict
    pledge_form: PledgeForm | None = None
    change_form: PledgeForm | None = None

    @property
    def active(self) -> bool:
        return self.pledge is not None and self.pledge.status == PledgeStatus.ACTIVE

    @property
    def in_cooling_off(self) -> bool:
        return self.active and utcnow() <= self.pledge.cooling_off_until

    @property
    def owing_line_ids(self) -> set[int]:
        return {view.line.id for view in self.lines if view.outstanding_cents > 0}

    @property
    def taking_commitments(self) -> bool:
        return self.fund.status == FundStatus.OPEN and self.fund.commitment_deadline >= local_today()


def _refunds(pledge: Pledge) -> list[dict]:
    """Refund movements on the company's lines, from the ledger (amount = the money that left)."""
    found = []
    for transaction in db.session.scalars(
        select(LedgerTransaction).join(CallLine, LedgerTransaction.call_line_id == CallLine.id)
        .where(CallLine.pledge_id == pledge.id, LedgerTransaction.kind == LedgerKind.REFUND)
        .order_by(LedgerTransaction.created_at, LedgerTransaction.id)
    ):
        amount = sum(e.amount_cents for e in transaction.entries if e.amount_cents > 0)
        payment = db.session.get(Payment, transaction.payment_id) if transaction.payment_id else None
        found.append({"transaction": transaction, "amount_cents": amount, "payment": payment})
    return found


def _fund_panel(fund: Fund, organization_id: int, pledge: Pledge | None) -> FundPanel:
    lines = list(db.session.scalars(
        select(CallLine).join(CapitalCall).where(CapitalCall.fund_id == fund.id,
                                                 CallLine.organization_id == organization_id)
        .order_by(CapitalCall.number)))
    figures = ledger.fund_figures(fund.id)
    return FundPanel(
        fund=fund, figures=figures,
        company=ledger.company_figures(fund.id, organization_id) if pledge is not None else None,
        pledge=pledge, lines=_line_views(lines),
        payments=queries.payments_of_pledge(pledge) if pledge is not None else [],
        refunds=_refunds(pledge) if pledge is not None else [],
        calls=queries.calls_of_fund(fund.id), allocations=_allocations(fund.id), chart=_chart(fund, figures),
    )


def _render_dashboard(*, pledge_form: PledgeForm | None = None, change_form: PledgeForm | None = None):
    """The investor's page: each fund as the company sees it, its offers and deals."""
    organization = current_user.organization
    panels: list[FundPanel] = []
    if organization is not None:
        pledges = {p.fund_id: p for p in queries.pledges_of_organization(organization.id)}
        for fund in queries.all_funds():
            panel = _fund_panel(fund, organization.id, pledges.get(fund.id))
            if panel.active:
                bound = change_form is not None and change_form._prefix == f"pledge{panel.pledge.id}-"
                panel.change_form = change_form if bound else PledgeForm(
                    prefix=f"pledge{panel.pledge.id}", formdata=None, amount=panel.company.committed_cents)
            else:
                bound = pledge_form is not None and pledge_form._prefix == f"fund{fund.id}-"
                panel.pledge_form = pledge_form if bound else PledgeForm(prefix=f"fund{fund.id}", formdata=None)
            panels.append(panel)
    gateway = _gateway()
    card = gateway.card_on_file(organization) if gateway is not None and organization is not None else None
    company_offers = offers.offers_of_investor(current_user) if organization is not None else []
    open_pitches = list(db.session.scalars(
        select(Pitch).join(PitchSession, Pitch.session_id == PitchSession.id)
        .where(Pitch.status.in_([PitchStatus.CURRENT, PitchStatus.DONE]))
        .order_by(PitchSession.starts_at.desc(), Pitch.position).limit(30)))
    failed = [f for f in (pledge_form, change_form) if f is not None]
    return render_template(
        "fund/dashboard.html", organization=organization, panels=panels, stripe_enabled=gateway is not None,
        card=card, company_offers=company_offers,
        deals=[o for o in company_offers if o.status == OfferStatus.ACCEPTED], open_pitches=open_pitches,
    ), _form_status(*failed)


@bp.route("/dashboard")
@roles_required(Role.INVESTOR)
def dashboard():
    """The company's pledges, calls, payments and refunds, and its offers and deals."""
    return _render_dashboard()


@bp.route("/<int:fund_id>/pledge", methods=["POST"])
@roles_required(Role.INVESTOR)
def pledge(fund_id: int):
    """Commit the investor's company to the fund."""
    fund = services.get_fund(fund_id)
    form = PledgeForm(prefix=f"fund{fund.id}")
    if form.validate_on_submit():
        try:
            services.pledge(fund.id, current_user, form.amount.data)
            db.session.commit()
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error, AMOUNT_ALIASES)
        except Conflict as error:
            db.session.rollback()
            _flash_error(error)
            return redirect(url_for("fund.dashboard", _anchor=f"fund-{fund.id}"))
        else:
            flash(_("Your company committed %(amount)s to %(fund)s.",
                    amount=format_money(form.amount.data, fund.currency), fund=fund.name), "success")
            return redirect(url_for("fund.dashboard", _anchor=f"fund-{fund.id}"))
    return _render_dashboard(pledge_form=form)


def _change(pledge_id: int, new_amount_cents: int, form: PledgeForm | None):
    current = services.get_pledge(pledge_id, current_user)
    fund = current.fund
    try:
        services.change_pledge(current.id, current_user, new_amount_cents)
        db.session.commit()
    except ValidationFailed as error:
        db.session.rollback()
        if form is None:
            for messages in error.errors.values():
                for message in messages:
                    flash(message, "error")
            return redirect(url_for("fund.dashboard", _anchor=f"fund-{fund.id}"))
        apply_errors(form, error, AMOUNT_ALIASES)
        return _render_dashboard(change_form=form)
    except Conflict as error:
        db.session.rollback()
        _flash_error(error)
    else:
        if new_amount_cents == 0:
            flash(_("Your company's commitment to %(fund)s was cancelled.", fund=fund.name), "success")
        else:
            flash(_("Your company's commitment to %(fund)s is now %(amount)s.", fund=fund.name,
                    amount=format_money(new_amount_cents, fund.currency)), "success")
    return redirect(url_for("fund.dashboard", _anchor=f"fund-{fund.id}"))


@bp.route("/pledges/<int:pledge_id>/change", methods=["POST"])
@roles_required(Role.INVESTOR)
def change_pledge(pledge_id: int):
    """Raise the commitment (any time the fund is open) or lower it (while cooling off)."""
    current = services.get_pledge(pledge_id, current_user)
    form = PledgeForm(prefix=f"pledge{current.id}")
    if not form.validate_on_submit():
        return _render_dashboard(change_form=form)
    return _change(current.id, form.amount.data, form)


@bp.route("/pledges/<int:pledge_id>/cancel", methods=["POST"])
@roles_required(Role.INVESTOR)
def cancel_pledge(pledge_id: int):
    """Withdraw the commitment while cooling off, if nothing was called yet."""
    current = services.get_pledge(pledge_id, current_user)
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("fund.dashboard"))
    return _change(current.id, 0, None)


# ---------------------------------------------------------------- investors: cards (Stripe)

def _stripe_unavailable():
    flash(_("Card payments are not available; pay by bank transfer (SPEI) with the reference of the notice."),
          "warning")
    return redirect(url_for("fund.dashboard"))


@bp.route("/card", methods=["POST"])
@roles_required(Role.INVESTOR)
def save_card():
    """Send the investor to Stripe to save the company's card for capital calls."""
    gateway = _gateway()
    if gateway is None:
        return _stripe_unavailable()
    if current_user.organization is None or not ConfirmForm().validate_on_submit():
        return redirect(url_for("fund.dashboard"))
    try:
        target = gateway.start_card_setup(current_user.organization, current_user,
                                          return_url=url_for("fund.dashboard", _external=True, _anchor="card"))
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        _flash_error(error)
        return redirect(url_for("fund.dashboard", _anchor="card"))
    return redirect(target, code=303)


@bp.route("/lines/<int:line_id>/pay", methods=["POST"])
@roles_required(Role.INVESTOR)
def pay_line(line_id: int):
    """Charge what is outstanding on one of the company's call lines to its saved card."""
    gateway = _gateway()
    if gateway is None:
        return _stripe_unavailable()
    line = _own_line(line_id)
    back = url_for("fund.dashboard", _anchor=f"line-{line.id}")
    if not ConfirmForm().validate_on_submit():
        return redirect(back)
    try:
        payment = gateway.charge_call_line(line, current_user)
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        _flash_error(error)
        return redirect(back)
    currency = line.call.fund.currency
    if payment.status == PaymentStatus.REQUIRES_ACTION:
        target = gateway.on_session_payment_url(payment, return_url=url_for("fund.dashboard", _external=True,
                                                                            _anchor=f"line-{line.id}"))
        db.session.commit()
        flash(_("Your bank asks you to confirm this payment."), "info")
        return redirect(target, code=303)
    if payment.status == PaymentStatus.SUCCEEDED:
        flash(_("%(amount)s was charged to the company's card.",
                amount=format_money(payment.amount_cents, currency)), "success")
    elif payment.status == PaymentStatus.FAILED:
        flash(payment.failure_message or _("The card payment did not go through. Update the card or pay another way."),
              "error")
    else:
        flash(payment.failure_message or _("The card payment of %(amount)s is being processed.",
                                           amount=format_money(payment.amount_cents, currency)), "info")
    return redirect(back)


@bp.route("/payments/<int:payment_id>/complete", methods=["POST"])
@roles_required(Role.INVESTOR)
def complete_payment(payment_id: int):
    """Open Stripe's page where the card holder confirms a payment the bank held, or pays a
    declined one with another card."""
    gateway = _gateway()
    if gateway is None:
        return _stripe_unavailable()
    payment = _payment_for(payment_id)
    _own_line(payment.call_line_id)
    back = url_for("fund.dashboard", _anchor=f"line-{payment.call_line_id}")
    if not ConfirmForm().validate_on_submit():
        return redirect(back)
    try:  # the gateway refuses (Conflict) a payment that needs no completing
        target = gateway.on_session_payment_url(payment, return_url=url_for("fund.dashboard", _external=True,
                                                                            _anchor=f"line-{payment.call_line_id}"))
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        _flash_error(error)
        return redirect(back)
    return redirect(target, code=303)


# ---------------------------------------------------------------- offers

@bp.route("/pitches/<int:pitch_id>/offer", methods=["GET", "POST"])
@roles_required(Role.INVESTOR)
def make_offer(pitch_id: int):
    """During or after a live pitch, offer money for equity to the venture."""
    pitch = db.session.get(Pitch, pitch_id)
    if pitch is None:
        raise NotFound(_("That pitch does not exist."))
    form = OfferForm()
    if form.validate_on_submit():
        try:
            offer = offers.make_offer(pitch.id, current_user, amount_cents=form.amount.data,
                                      equity_pct=form.equity.data, terms=form.terms.data or "")
            db.session.commit()
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error, OFFER_ALIASES)
        except Conflict as error:
            db.session.rollback()
            _flash_error(error)
            return redirect(url_for("fund.make_offer", pitch_id=pitch.id))
        else:
            flash(_("Your offer of %(amount)s to %(venture)s was sent.",
                    amount=format_money(offer.amount_cents, offer.currency), venture=offer.venture.name), "success")
            return redirect(url_for("fund.dashboard", _anchor="offers"))
    return render_template("fund/offer_form.html", pitch=pitch, venture=pitch.venture, form=form,
                           taking_offers=pitch.status != PitchStatus.SCHEDULED
                           and pitch.session.status != SessionStatus.SCHEDULED), _form_status(form)


@bp.route("/offers")
@roles_required(Role.ENTREPRENEUR)
def entrepreneur_offers():
    """Offers investors made to one's ventures, to accept or decline; accepted ones are deals."""
    found = offers.offers_for_venture_owner(current_user)
    return render_template("fund/offers.html", offers=found,
                           pending=[o for o in found if o.status == OfferStatus.PENDING],
                           deals=[o for o in found if o.status == OfferStatus.ACCEPTED],
                           declined=[o for o in found if o.status == OfferStatus.DECLINED])


@bp.route("/offers/<int:offer_id>/<any(accept, decline):decision>", methods=["POST"])
@roles_required(Role.ENTREPRENEUR)
def decide_offer(offer_id: int, decision: str):
    """Accept or decline an offer, once."""
    back = url_for("fund.entrepreneur_offers")
    if not ConfirmForm().validate_on_submit():
        return redirect(back)
    try:
        offer = offers.decide_offer(offer_id, current_user, accept=decision == "accept")
        db.session.commit()
    except Conflict as error:
        db.session.rollback()
        _flash_error(error)
        return redirect(back)
    if offer.status == OfferStatus.ACCEPTED:
        flash(_("You accepted the offer of %(company)s: it is now a deal.", company=offer.organization.name),
              "success")
    else:
        flash(_("You declined the offer of %(company)s.", company=offer.organization.name), "info")
    return redirect(back)

