"""The fund's pages: organizers run funds, investors pledge and pay, entrepreneurs answer offers.

Everything goes through the test client; money is checked to the centavo against the ledger.
Messages are checked in English (after POST /language lang=en).
"""

from __future__ import annotations

import csv
import html
import io
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from pitchtank.accounts.models import Role, User
from pitchtank.core.spreadsheets import safe_cell
from pitchtank.core.types import utcnow
from pitchtank.events.models import PitchStatus
from pitchtank.extensions import db
from pitchtank.fund import ledger, services, stripe_gateway
from pitchtank.fund.forms import AmountError, cents_to_pesos_text, pesos_to_cents
from pitchtank.fund.models import (
    Allocation,
    CallLine,
    CapitalCall,
    Fund,
    FundStatus,
    LedgerEntry,
    Offer,
    OfferStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Pledge,
    PledgeStatus,
)
from pitchtank.judging import rubrics, show
from tests import factories

CLABE = "012180000118359713"  # a valid check digit
OTHER_CLABE = "002180012345678906"


# ---------------------------------------------------------------- helpers

def browser(app, user: User | None, *, english: bool = True):
    client = app.test_client()
    if user is not None:
        with client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
            session["tfa_user_id"] = user.id  # as if two-factor was verified
    if english:
        assert client.post("/language", data={"lang": "en"}).status_code == 302
    return client


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True)).replace("\u00a0", " ")


def location(response) -> str:
    return urlsplit(response.headers.get("Location", "")).path


def follow(client, response) -> str:
    assert response.status_code in (302, 303), (response.status_code, text(response)[:2000])
    return text(client.get(response.headers["Location"]))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def make_fund(organizer: User, **overrides) -> Fund:
    values = dict(name="Fondo Clúster TI 2027", target_cents=50_000_000_00, min_pledge_cents=100_000_00,
                  commitment_deadline=date.today() + timedelta(days=90), clabe=CLABE, cooling_off_days=7)
    values.update(overrides)
    fund = services.create_fund(organizer, services.FundData(**values))
    db.session.commit()
    return fund


def investor_of(organization=None, **kwargs) -> User:
    user = factories.user(Role.INVESTOR, organization_=organization, **kwargs)
    db.session.commit()
    return user


def pledge_of(fund: Fund, investor: User) -> Pledge:
    return db.session.scalar(select(Pledge).where(Pledge.fund_id == fund.id,
                                                  Pledge.organization_id == investor.organization_id))


@pytest.fixture
def organizer(db):
    user = factories.user(Role.ORGANIZER, name="Olga Organizadora")
    db.session.commit()
    return user


@pytest.fixture
def org_client(app, organizer):
    return browser(app, organizer)


@pytest.fixture
def fund(organizer):
    return make_fund(organizer)


@pytest.fixture
def investor(db):
    return investor_of(factories.organization("Software Bajío"), name="Iván Inversionista")


@pytest.fixture
def other_investor(db):
    return investor_of(factories.organization("Integradora León"), name="Irene Otra")


@pytest.fixture
def inv_client(app, investor):
    return browser(app, investor)


def called_fund(organizer, investor, other_investor, *, percent="10"):
    """A fund with two pledges (1,000,000 and 3,000,000 pesos) and one call of ``percent``."""
    fund = make_fund(organizer)
    services.pledge(fund.id, investor, 1_000_000_00)
    services.pledge(fund.id, other_investor, 3_000_000_00)
    call = services.issue_capital_call(fund.id, organizer, percent=Decimal(percent),
                                       due_date=date.today() + timedelta(days=30))
    db.session.commit()
    lines = {line.organization_id: line for line in call.lines}
    return fund, call, lines[investor.organization_id], lines[other_investor.organization_id]


# ---------------------------------------------------------------- helpers under test

@pytest.mark.parametrize(("typed", "cents"), [
    ("1,000,000.00", 100_000_000),
    ("1500000.50", 150_000_050),
    ("1,500,000.5", 150_000_050),
    ("$1,234.56 MXN", 123_456),
    (" 7 ", 700),
    ("0", 0),
    ("0.01", 1),
    ("999", 99_900),
    (Decimal("12.30"), 1_230),
    (Decimal("0.10"), 10),
    (25, 2_500),
    ("10000000000.00", 1_000_000_000_000),
])
def test_pesos_become_exact_centavos(typed, cents):
    assert pesos_to_cents(typed) == cents
    assert isinstance(pesos_to_cents(typed), int)


@pytest.mark.parametrize("typed", [
    "", "abc", "1,5", "1.234", "12,34,567", "1,000,00", "-5", "1e5", "NaN", "Infinity", "1 000",
    "0.001", "1.2.3", ",100", Decimal("NaN"), Decimal("Infinity"), Decimal("1.001"), Decimal("-1"), True, 1.5,
])
def test_amounts_that_are_not_pesos_are_refused(typed, app):
    with app.test_request_context(), pytest.raises(AmountError):
        pesos_to_cents(typed)


def test_cents_go_back_into_fields_as_plain_pesos():
    assert cents_to_pesos_text(150_000_050) == "1500000.50"
    assert cents_to_pesos_text(-5) == "-0.05"
    assert cents_to_pesos_text(None) == ""


@pytest.mark.parametrize(("value", "expected"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+52 477", "'+52 477"),
    ("-cmd|' /C calc'!A0", "'-cmd|' /C calc'!A0"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\tdata", "'\tdata"),
    ("\rdata", "'\rdata"),
    ("-1500.00", "-1500.00"),
    ("+12", "+12"),
    ("Pago SPEI", "Pago SPEI"),
    ("", ""),
    (-150000, -150000),
    (42, 42),
    (None, None),
])
def test_safe_cell_neutralises_formulas_but_not_numbers(value, expected):
    assert safe_cell(value) == expected


# ---------------------------------------------------------------- organizer: funds

FUND_FORM = {
    "name": "Fondo Clúster TI 2027", "target": "25,000,000.00", "min_pledge": "250000",
    "commitment_deadline": (date.today() + timedelta(days=60)).isoformat(), "clabe": "0121 8000 0118 3597 13",
    "cooling_off_days": "10",
}


def test_an_organizer_creates_a_fund_in_pesos_stored_in_centavos(org_client, organizer):
    page = org_client.get("/fund/new")
    assert page.status_code == 200 and "Mexican pesos (MXN)" in text(page)
    response = org_client.post("/fund/new", data=FUND_FORM)
    fund = db.session.scalar(select(Fund))
    assert location(response) == f"/fund/{fund.id}"
    assert (fund.name, fund.currency, fund.target_cents, fund.min_pledge_cents) == \
        ("Fondo Clúster TI 2027", "MXN", 2_500_000_000, 25_000_000)
    assert (fund.clabe, fund.cooling_off_days, fund.status) == (CLABE, 10, FundStatus.OPEN)
    body = text(org_client.get(response.headers["Location"]))
    assert "is open for commitments" in body and "$25,000,000.00 MXN" in body and CLABE in body
    assert "No commitments yet" in body  # no chart before the first pledge
    listing = text(org_client.get("/fund/"))
    assert "Fondo Clúster TI 2027" in listing and "$0.00 MXN of $25,000,000.00 MXN (0 %)" in listing


@pytest.mark.parametrize(("changes", "field_error"), [
    ({"clabe": "012180000118359710"}, "The CLABE must be 18 digits with a valid check digit."),
    ({"clabe": "12345"}, "The CLABE must be 18 digits with a valid check digit."),
    ({"target": "25,00,000"}, "Type an amount in pesos, like 1,500,000.50."),
    ({"target": "100.005"}, "Use at most two decimals for centavos."),
    ({"min_pledge": "30,000,000"}, "The minimum pledge cannot exceed the target."),
    ({"commitment_deadline": "2001-01-01"}, "The deadline cannot be in the past."),
    ({"name": ""}, "This field is required."),
])
def test_a_bad_fund_is_refused_beside_the_field_and_nothing_is_written(org_client, changes, field_error):
    response = org_client.post("/fund/new", data={**FUND_FORM, **changes})
    assert response.status_code == 422
    body = text(response)
    assert field_error in body and "Please correct the fields marked below." in body
    assert 'aria-invalid="true"' in body
    assert count(Fund) == 0 and count(LedgerEntry) == 0


# ---------------------------------------------------------------- investor: pledges

def test_an_investor_pledges_in_pesos_and_sees_the_company_figures(inv_client, investor, fund):
    page = text(inv_client.get("/fund/dashboard"))
    assert "Software Bajío" in page and "Fondo Clúster TI 2027" in page
    assert "At least $100,000.00 MXN" in page
    response = inv_client.post(f"/fund/{fund.id}/pledge", data={f"fund{fund.id}-amount": "1,000,000.00"})
    body = follow(inv_client, response)
    assert "Your company committed $1,000,000.00 MXN to Fondo Clúster TI 2027." in body
    pledge = pledge_of(fund, investor)
    assert ledger.company_figures(fund.id, investor.organization_id).committed_cents == 100_000_000
    assert pledge.status == PledgeStatus.ACTIVE
    assert "Pledged: $1,000,000.00 MXN." in body
    assert "You can raise the pledge at any time while the fund is open." in body
    assert "Until " in body and "you can also lower or cancel it." in body
    assert "Cancel the pledge" in body
    assert f'<progress id="fund-{fund.id}-company-paid" max="100000000" value="0"' in body


def test_pledge_errors_are_shown_beside_the_amount_and_change_nothing(inv_client, investor, fund):
    too_small = inv_client.post(f"/fund/{fund.id}/pledge", data={f"fund{fund.id}-amount": "99,999.99"})
    assert too_small.status_code == 422
    assert "The minimum pledge is $100,000.00 MXN." in text(too_small)
    garbled = inv_client.post(f"/fund/{fund.id}/pledge", data={f"fund{fund.id}-amount": "1.000.000"})
    assert garbled.status_code == 422 and "Type an amount in pesos, like 1,500,000.50." in text(garbled)
    assert count(Pledge) == 0 and count(LedgerEntry) == 0


def test_a_pledge_is_raised_lowered_and_cancelled_within_the_rules(app, inv_client, investor, organizer, fund):
    inv_client.post(f"/fund/{fund.id}/pledge", data={f"fund{fund.id}-amount": "1,000,000.00"})
    pledge = pledge_of(fund, investor)
    field = f"pledge{pledge.id}-amount"
    # A second pledge for the same company is a conflict, shown as a message.
    again = follow(inv_client, inv_client.post(f"/fund/{fund.id}/pledge", data={f"fund{fund.id}-amount": "200000"}))
    assert "Your company already has a commitment to this fund; raise it instead." in again

    raised = follow(inv_client, inv_client.post(f"/fund/pledges/{pledge.id}/change", data={field: "1,500,000.50"}))
    assert "is now $1,500,000.50 MXN" in raised
    assert ledger.company_figures(fund.id, investor.organization_id).committed_cents == 150_000_050

    lowered = follow(inv_client, inv_client.post(f"/fund/pledges/{pledge.id}/change", data={field: "1200000"}))
    assert "is now $1,200,000.00 MXN" in lowered
    assert ledger.company_figures(fund.id, investor.organization_id).committed_cents == 120_000_000

    # A call of 50 %: the pledge cannot go below the 600,000 called.
    services.issue_capital_call(fund.id, organizer, percent=Decimal("50"), due_date=date.today() + timedelta(days=9))
    db.session.commit()
    page = text(inv_client.get("/fund/dashboard"))
    assert "It can never go below the $600,000.00 MXN already called." in page
    assert "Cancel the pledge" not in page
    below = inv_client.post(f"/fund/pledges/{pledge.id}/change", data={field: "500,000"})
    assert below.status_code == 422 and "A pledge cannot go below what was already called." in text(below)
    cancel = follow(inv_client, inv_client.post(f"/fund/pledges/{pledge.id}/cancel"))
    assert "A pledge cannot go below what was already called." in cancel
    assert ledger.company_figures(fund.id, investor.organization_id).committed_cents == 120_000_000

    # After the cooling-off period the pledge can only be raised.
    pledge = pledge_of(fund, investor)
    pledge.cooling_off_until = utcnow() - timedelta(minutes=1)
    db.session.commit()
    page = text(inv_client.get("/fund/dashboard"))
    assert "The cooling-off period ended" in page and "the pledge can now only be raised." in page
    late = follow(inv_client, inv_client.post(f"/fund/pledges/{pledge.id}/change", data={field: "1,100,000"}))
    assert "The cooling-off period is over: the pledge can only be raised." in late
    assert ledger.company_figures(fund.id, investor.organization_id).committed_cents == 120_000_000
    raised = follow(inv_client, inv_client.post(f"/fund/pledges/{pledge.id}/change", data={field: "2,000,000"}))
    assert "is now $2,000,000.00 MXN" in raised


def test_a_pledge_is_cancelled_while_cooling_off_and_can_be_made_again(inv_client, investor, fund):
    inv_client.post(f"/fund/{fund.id}/pledge", data={f"fund{fund.id}-amount": "300,000"})
    pledge = pledge_of(fund, investor)
    body = follow(inv_client, inv_client.post(f"/fund/pledges/{pledge.id}/cancel"))
    assert "commitment to Fondo Clúster TI 2027 was cancelled" in body
    assert pledge_of(fund, investor).status == PledgeStatus.CANCELLED
    assert ledger.company_figures(fund.id, investor.organization_id).committed_cents == 0
    assert "earlier pledge was cancelled; you may pledge again." in body
    follow(inv_client, inv_client.post(f"/fund/{fund.id}/pledge", data={f"fund{fund.id}-amount": "400,000"}))
    assert ledger.company_figures(fund.id, investor.organization_id).committed_cents == 40_000_000


def test_a_closed_fund_takes_no_pledge(org_client, inv_client, investor, fund):
    response = org_client.post(f"/fund/{fund.id}/status", data={"status": "closed"})
    assert "The fund is now: Closed." in follow(org_client, response)
    assert db.session.get(Fund, fund.id).status == FundStatus.CLOSED
    page = text(inv_client.get("/fund/dashboard"))
    assert "The fund is not taking commitments." in page
    refused = follow(inv_client, inv_client.post(f"/fund/{fund.id}/pledge", data={f"fund{fund.id}-amount": "200000"}))
    assert "The fund is not taking commitments." in refused and count(Pledge) == 0


def test_another_investors_pledge_is_not_theirs_to_change(app, investor, other_investor, fund):
    services.pledge(fund.id, investor, 50_000_000)
    db.session.commit()
    pledge = pledge_of(fund, investor)
    other = browser(app, other_investor)
    assert other.post(f"/fund/pledges/{pledge.id}/change", data={f"pledge{pledge.id}-amount": "1"}).status_code == 404
    assert other.post(f"/fund/pledges/{pledge.id}/cancel").status_code == 404
    assert ledger.company_figures(fund.id, investor.organization_id).committed_cents == 50_000_000


# ---------------------------------------------------------------- capital calls and transfers

def test_a_capital_call_is_issued_pro_rata_and_each_company_sees_only_its_line(
        app, org_client, organizer, investor, other_investor, fund):
    services.pledge(fund.id, investor, 1_000_000_00)
    services.pledge(fund.id, other_investor, 3_000_000_00)
    db.session.commit()
    form = org_client.get(f"/fund/{fund.id}/calls/new")
    assert form.status_code == 200 and "$4,000,000.00 MXN" in text(form)
    bad = org_client.post(f"/fund/{fund.id}/calls/new", data={"percent": "150", "notice_date": "2027-01-10",
                                                               "due_date": "2027-02-10"})
    assert bad.status_code == 422 and "Between 0 and 100 percent." in text(bad) and count(CapitalCall) == 0
    backwards = org_client.post(f"/fund/{fund.id}/calls/new", data={
        "percent": "25", "notice_date": "2027-02-10", "due_date": "2027-01-10"})
    assert backwards.status_code == 422 and "The due date cannot be before the notice date." in text(backwards)
    response = org_client.post(f"/fund/{fund.id}/calls/new", data={
        "percent": "25", "notice_date": date.today().isoformat(), "due_date": (date.today() + timedelta(days=30)).isoformat()})
    body = follow(org_client, response)
    assert "Capital call 1 was issued: $1,000,000.00 MXN across 2 companies." in body
    call = db.session.scalar(select(CapitalCall))
    amounts = {line.organization_id: line.amount_cents for line in call.lines}
    assert amounts == {investor.organization_id: 25_000_000, other_investor.organization_id: 75_000_000}
    mine = next(line for line in call.lines if line.organization_id == investor.organization_id)
    theirs = next(line for line in call.lines if line.organization_id == other_investor.organization_id)
    assert mine.reference in body and theirs.reference in body and "Unpaid" in body

    page = text(browser(app, investor).get("/fund/dashboard"))
    assert mine.reference in page and theirs.reference not in page
    assert "$250,000.00 MXN" in page and CLABE in page and f"/fund/lines/{mine.id}/notice.pdf" in page
    assert "Integradora León" not in page
    other_page = text(browser(app, other_investor).get("/fund/dashboard"))
    assert theirs.reference in other_page and mine.reference not in other_page


def test_another_companys_line_and_receipt_are_not_found(app, organizer, investor, other_investor):
    fund, _call, mine, theirs = called_fund(organizer, investor, other_investor)
    payment = services.record_transfer(theirs.id, organizer, amount_cents=theirs.amount_cents,
                                       paid_on=date.today(), reference="SPEI-9")
    db.session.commit()
    client = browser(app, investor)
    assert client.get(f"/fund/lines/{mine.id}/notice.pdf").status_code == 200
    assert client.get(f"/fund/lines/{theirs.id}/notice.pdf").status_code == 404
    assert client.get(f"/fund/payments/{payment.id}/receipt.pdf").status_code == 404
    assert client.get("/fund/lines/9999/notice.pdf").status_code == 404
    assert browser(app, other_investor).get(f"/fund/payments/{payment.id}/receipt.pdf").status_code == 200
    assert browser(app, organizer).get(f"/fund/payments/{payment.id}/receipt.pdf").status_code == 200


def test_transfers_are_recorded_partially_then_in_full_and_an_overpayment_shows(
        app, org_client, organizer, investor, other_investor):
    fund, _call, mine, theirs = called_fund(organizer, investor, other_investor)
    field = f"line{mine.id}"
    today = date.today().isoformat()
    partial = follow(org_client, org_client.post(f"/fund/lines/{mine.id}/transfer", data={
        f"{field}-amount": "40,000.00", f"{field}-paid_on": today, f"{field}-reference": "SPEI 0001"}))
    assert "A transfer of $40,000.00 MXN was recorded for Software Bajío." in partial
    assert "$60,000.00 MXN is still outstanding on this line." in partial
    assert ledger.line_outstanding(mine.id) == 6_000_000
    assert services.line_status(db.session.get(CallLine, mine.id), ledger.line_outstanding(mine.id)) == "partial"
    assert "Partly paid" in partial

    rest = follow(org_client, org_client.post(f"/fund/lines/{mine.id}/transfer", data={
        f"{field}-amount": "60000", f"{field}-paid_on": today, f"{field}-reference": "SPEI 0002"}))
    assert "The line is fully paid." in rest
    assert ledger.line_outstanding(mine.id) == 0
    figures = ledger.company_figures(fund.id, investor.organization_id)
    assert (figures.paid_cents, figures.outstanding_cents, figures.overpaid_cents) == (10_000_000, 0, 0)

    other_field = f"line{theirs.id}"
    over = follow(org_client, org_client.post(f"/fund/lines/{theirs.id}/transfer", data={
        f"{other_field}-amount": "300,000.01", f"{other_field}-paid_on": today,
        f"{other_field}-reference": "SPEI 0003"}))
    assert "The line is overpaid by $0.01 MXN, held as the company's credit." in over
    assert "Overpaid" in over and "by $0.01 MXN, held as the company's credit" in over
    other_figures = ledger.company_figures(fund.id, other_investor.organization_id)
    assert (other_figures.paid_cents, other_figures.overpaid_cents) == (30_000_000, 1)
    assert ledger.fund_figures(fund.id).paid_in_cents == 40_000_000
    assert ledger.ledger_sum(fund.id) == 0
    assert [p.amount_cents for p in db.session.scalars(select(Payment).order_by(Payment.id))] == \
        [4_000_000, 6_000_000, 30_000_001]

    page = text(browser(app, investor).get("/fund/dashboard"))
    assert "SPEI 0001" in page and "SPEI 0002" in page and "SPEI 0003" not in page
    assert page.count("Download receipt (PDF)") == 2 and "Bank transfer (SPEI), recorded" in page


def test_a_bad_transfer_is_refused_beside_its_field(org_client, organizer, investor, other_investor):
    _fund, _call, mine, _theirs = called_fund(organizer, investor, other_investor)
    field = f"line{mine.id}"
    future = (date.today() + timedelta(days=3)).isoformat()
    response = org_client.post(f"/fund/lines/{mine.id}/transfer", data={
        f"{field}-amount": "0", f"{field}-paid_on": future, f"{field}-reference": "X"})
    assert response.status_code == 422
    body = text(response)
    assert "The amount must be more than zero." in body and "The payment date cannot be in the future." in body
    assert f'id="{field}-amount"' in body and "<details class=\"fund-details\" open>" in body
    missing = org_client.post(f"/fund/lines/{mine.id}/transfer", data={
        f"{field}-amount": "100", f"{field}-paid_on": date.today().isoformat(), f"{field}-reference": ""})
    assert missing.status_code == 422 and "This field is required." in text(missing)
    assert count(Payment) == 0


# ---------------------------------------------------------------- allocations

def test_allocations_never_exceed_what_is_available_and_are_reversed_not_edited(
        org_client, organizer, investor, other_investor):
    fund, _call, mine, theirs = called_fund(organizer, investor, other_investor)
    for line in (mine, theirs):
        services.record_transfer(line.id, organizer, amount_cents=line.amount_cents, paid_on=date.today(),
                                 reference=f"SPEI {line.id}")
    venture = factories.submission(accepted=True).venture
    db.session.commit()
    assert ledger.fund_figures(fund.id).available_cents == 40_000_000
    page = text(org_client.get(f"/fund/{fund.id}"))
    assert venture.name in page and "Available to allocate: $400,000.00 MXN" in page

    too_much = org_client.post(f"/fund/{fund.id}/allocations", data={
        "venture_id": str(venture.id), "amount": "400,000.01", "note": "Capital semilla"})
    assert too_much.status_code == 422
    assert "Only $400,000.00 MXN are available to allocate." in text(too_much)
    assert count(Allocation) == 0

    response = org_client.post(f"/fund/{fund.id}/allocations", data={
        "venture_id": str(venture.id), "amount": "150,000.00", "note": "Capital semilla"})
    body = follow(org_client, response)
    assert f"$150,000.00 MXN was allocated to {venture.name}." in body
    allocation = db.session.scalar(select(Allocation))
    assert allocation.amount_cents == 15_000_000
    assert ledger.fund_figures(fund.id).available_cents == 25_000_000

    no_reason = org_client.post(f"/fund/allocations/{allocation.id}/reverse",
                                data={f"allocation{allocation.id}-reason": ""})
    assert no_reason.status_code == 422 and "This field is required." in text(no_reason)
    assert db.session.get(Allocation, allocation.id).reversed_at is None

    reversed_ = follow(org_client, org_client.post(f"/fund/allocations/{allocation.id}/reverse",
                                                   data={f"allocation{allocation.id}-reason": "Monto equivocado"}))
    assert f"The allocation to {venture.name} was reversed" in reversed_ and "Reversed" in reversed_
    assert db.session.get(Allocation, allocation.id).reversed_at is not None
    assert db.session.get(Allocation, allocation.id).amount_cents == 15_000_000  # never edited
    assert ledger.fund_figures(fund.id).available_cents == 40_000_000
    again = follow(org_client, org_client.post(f"/fund/allocations/{allocation.id}/reverse",
                                               data={f"allocation{allocation.id}-reason": "Otra vez"}))
    assert "This allocation was already reversed." in again
    assert ledger.fund_figures(fund.id).available_cents == 40_000_000

    unknown = org_client.post(f"/fund/{fund.id}/allocations", data={"venture_id": "9999", "amount": "1"})
    assert unknown.status_code == 422 and count(Allocation) == 1


# ---------------------------------------------------------------- the fund page and exports

def test_the_fund_page_shows_figures_progress_chart_and_companies(org_client, organizer, investor, other_investor):
    fund, _call, mine, _theirs = called_fund(organizer, investor, other_investor)
    services.record_transfer(mine.id, organizer, amount_cents=mine.amount_cents, paid_on=date.today(),
                             reference="SPEI 1")
    db.session.commit()
    body = text(org_client.get(f"/fund/{fund.id}"))
    for figure in ("$50,000,000.00 MXN", "$4,000,000.00 MXN", "$400,000.00 MXN", "$100,000.00 MXN",
                   "$300,000.00 MXN"):
        assert figure in body
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="fund-chart"' in body
    assert f'role="img" aria-labelledby="fund-{fund.id}-chart-title fund-{fund.id}-chart-desc"' in body
    assert f"<title id=\"fund-{fund.id}-chart-title\">Progress of Fondo Clúster TI 2027 toward its target</title>" in body
    assert "committed $4,000,000.00 MXN, called $400,000.00 MXN and paid in $100,000.00 MXN" in body
    assert "The chart's data as a table" in body
    assert '<progress id="bar-committed" max="5000000000" value="400000000"' in body
    assert "Software Bajío" in body and "Integradora León" in body
    assert "10 %" in body  # Software Bajío paid in 100,000 of its 1,000,000
    assert "style=" not in body and "<script>" not in body


def test_the_ledger_exports_match_the_ledger_and_neutralise_formulas(org_client, organizer, investor,
                                                                     other_investor):
    fund, _call, mine, _theirs = called_fund(organizer, investor, other_investor)
    services.record_transfer(mine.id, organizer, amount_cents=5_000_050, paid_on=date.today(),
                             reference="=HYPERLINK(\"http://evil\")")
    db.session.commit()
    response = org_client.get(f"/fund/{fund.id}/ledger.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    header, rows = rows[0], rows[1:]
    assert header[:3] == ["Transaction", "Kind", "Date (America/Mexico_City)"]
    column = {name: index for index, name in enumerate(header)}
    entries = list(db.session.scalars(select(LedgerEntry).order_by(LedgerEntry.transaction_id, LedgerEntry.id)))
    assert len(rows) == len(entries)
    for row, entry in zip(rows, entries, strict=True):
        assert int(row[column["Transaction"]]) == entry.transaction_id
        assert row[column["Account"]] == entry.account
        assert int(row[column["Amount (centavos)"]]) == entry.amount_cents
        assert Decimal(row[column["Amount (pesos)"]]) * 100 == entry.amount_cents
    assert sum(int(row[column["Amount (centavos)"]]) for row in rows) == 0
    payment_rows = [row for row in rows if row[column["Kind"]] == "payment"]
    assert {row[column["Payment reference"]] for row in payment_rows} == {"'=HYPERLINK(\"http://evil\")"}
    assert {row[column["Amount (pesos)"]] for row in payment_rows} == {"50000.50", "-50000.50"}
    assert any(row[column["Company"]] == "Software Bajío" for row in rows)
    assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row)

    xlsx = org_client.get(f"/fund/{fund.id}/ledger.xlsx")
    assert xlsx.status_code == 200 and xlsx.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(xlsx.get_data())).active
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == header and len(values) == len(entries) + 1
    assert [row[column["Amount (centavos)"]] for row in values[1:]] == [e.amount_cents for e in entries]
    assert "'=HYPERLINK(\"http://evil\")" in {row[column["Payment reference"]] for row in values[1:]}


# ---------------------------------------------------------------- offers

@pytest.fixture
def live_session(organizer):
    session, _judges = factories.pitching_session(pitches=2, judges=1)
    rubrics.set_rubric(session, rubrics.default_rubric())
    db.session.commit()
    show.control(session.id, "start", organizer)
    db.session.commit()
    return session


def test_an_offer_is_made_accepted_once_and_listed_as_a_deal(app, organizer, investor, live_session):
    on_stage, waiting = live_session.pitches
    assert on_stage.status == PitchStatus.CURRENT
    inv = browser(app, investor)
    form = inv.get(f"/fund/pitches/{on_stage.id}/offer")
    assert form.status_code == 200 and on_stage.venture.name in text(form)
    assert on_stage.venture.name in text(inv.get("/fund/dashboard"))  # offered from the dashboard too

    not_yet = follow(inv, inv.post(f"/fund/pitches/{waiting.id}/offer",
                                   data={"amount": "500,000", "equity": "10", "terms": "SAFE"}))
    assert "Offers open once the venture has taken the stage." in not_yet
    bad = inv.post(f"/fund/pitches/{on_stage.id}/offer", data={"amount": "500,000", "equity": "120"})
    assert bad.status_code == 422 and "The equity must be more than 0 % and at most 100 %." in text(bad)
    assert count(Offer) == 0

    sent = follow(inv, inv.post(f"/fund/pitches/{on_stage.id}/offer", data={
        "amount": "1,250,000.00", "equity": "12.5", "terms": "Nota convertible, 24 meses"}))
    assert f"Your offer of $1,250,000.00 MXN to {on_stage.venture.name} was sent." in sent
    offer = db.session.scalar(select(Offer))
    assert (offer.amount_cents, offer.equity_bp, offer.status) == (125_000_000, 1250, OfferStatus.PENDING)

    owner = browser(app, on_stage.venture.owner)
    page = text(owner.get("/fund/offers"))
    assert "$1,250,000.00 MXN for 12.5 %" in page and "Software Bajío" in page and "Nota convertible" in page

    organizer_page = text(browser(app, organizer).get(f"/fund/sessions/{live_session.id}/offers"))
    assert on_stage.venture.name in organizer_page and "Awaiting answer" in organizer_page

    accepted = follow(owner, owner.post(f"/fund/offers/{offer.id}/accept"))
    assert "You accepted the offer of Software Bajío: it is now a deal." in accepted
    assert db.session.get(Offer, offer.id).status == OfferStatus.ACCEPTED
    again = follow(owner, owner.post(f"/fund/offers/{offer.id}/decline"))
    assert "This offer was already answered." in again
    assert db.session.get(Offer, offer.id).status == OfferStatus.ACCEPTED

    deals = text(owner.get("/fund/offers"))
    assert "No deal yet." not in deals and "No offer is waiting for an answer." in deals
    dashboard = text(inv.get("/fund/dashboard"))
    deals_section = dashboard.split('id="deals"')[1]
    assert on_stage.venture.name in deals_section and "$1,250,000.00 MXN for 12.5 %" in deals_section
    assert "Accepted" in text(browser(app, organizer).get(f"/fund/sessions/{live_session.id}/offers"))


def test_only_the_ventures_owner_answers_an_offer(app, investor, live_session):
    pitch = live_session.pitches[0]
    from pitchtank.fund import offers as offer_services

    offer = offer_services.make_offer(pitch.id, investor, amount_cents=10_000_000, equity_pct=Decimal("5"))
    db.session.commit()
    stranger = browser(app, factories.user(Role.ENTREPRENEUR))
    db.session.commit()
    assert stranger.post(f"/fund/offers/{offer.id}/accept").status_code == 404
    assert db.session.get(Offer, offer.id).status == OfferStatus.PENDING
    owner = browser(app, pitch.venture.owner)
    assert "You declined the offer of Software Bajío." in follow(owner, owner.post(f"/fund/offers/{offer.id}/decline"))
    assert db.session.get(Offer, offer.id).status == OfferStatus.DECLINED


# ---------------------------------------------------------------- Stripe, through the agreed interface

class FakeGateway:
    """The stripe_gateway contract, answering as a test card would."""

    def __init__(self, outcome: str):
        self.outcome = outcome
        self.setups: list[str] = []

    def install(self, monkeypatch):
        monkeypatch.setattr(stripe_gateway, "stripe_enabled", lambda: True, raising=False)
        monkeypatch.setattr(stripe_gateway, "card_on_file", lambda organization: None, raising=False)
        monkeypatch.setattr(stripe_gateway, "start_card_setup", self.start_card_setup, raising=False)
        monkeypatch.setattr(stripe_gateway, "charge_call_line", self.charge_call_line, raising=False)
        monkeypatch.setattr(stripe_gateway, "on_session_payment_url", self.on_session_payment_url, raising=False)

    def start_card_setup(self, organization, actor, *, return_url):
        self.setups.append(return_url)
        return "https://checkout.stripe.test/setup/cs_123"

    def charge_call_line(self, line, actor):
        status = {"declined": PaymentStatus.FAILED, "3ds": PaymentStatus.REQUIRES_ACTION,
                  "ok": PaymentStatus.SUCCEEDED}[self.outcome]
        payment = Payment(call_line_id=line.id, method=PaymentMethod.CARD, status=status,
                          amount_cents=ledger.line_outstanding(line.id), stripe_payment_intent_id=f"pi_{line.id}",
                          failure_message="The card was declined. Update the card and try again." if status == PaymentStatus.FAILED else "")
        db.session.add(payment)
        db.session.flush()
        return payment

    def on_session_payment_url(self, payment, *, return_url):
        return f"https://checkout.stripe.test/pay/{payment.id}"


def test_without_stripe_there_is_no_card_payment(app, organizer, investor, other_investor):
    _fund, _call, mine, _theirs = called_fund(organizer, investor, other_investor)
    client = browser(app, investor)
    page = text(client.get("/fund/dashboard"))
    assert "Pay now by card" not in page and "Save a card" not in page
    response = client.post(f"/fund/lines/{mine.id}/pay")
    assert location(response) == "/fund/dashboard"
    assert "Card payments are not available" in text(client.get("/fund/dashboard"))
    assert count(Payment) == 0


def test_a_declined_card_is_shown_to_the_company_and_the_organizer(app, monkeypatch, organizer, investor,
                                                                   other_investor):
    fund, _call, mine, _theirs = called_fund(organizer, investor, other_investor)
    FakeGateway("declined").install(monkeypatch)
    client = browser(app, investor)
    page = text(client.get("/fund/dashboard"))
    assert "Save a card" in page and "Pay now by card" in page
    setup = client.post("/fund/card")
    assert setup.status_code == 303 and setup.headers["Location"] == "https://checkout.stripe.test/setup/cs_123"
    body = follow(client, client.post(f"/fund/lines/{mine.id}/pay"))
    assert "The card was declined. Update the card and try again." in body
    assert "Update the card" in body and "Pay with another card" in body and "Failed" in body
    payment = db.session.scalar(select(Payment))
    retry = client.post(f"/fund/payments/{payment.id}/complete")
    assert retry.headers["Location"] == f"https://checkout.stripe.test/pay/{payment.id}"
    organizer_page = text(browser(app, organizer).get(f"/fund/{fund.id}"))
    assert "Payments that need attention" in organizer_page
    assert "The card was declined. Update the card and try again." in organizer_page
    assert ledger.line_outstanding(mine.id) == mine.amount_cents


def test_a_card_that_needs_its_holder_leads_to_the_payment_page(app, monkeypatch, organizer, investor,
                                                                other_investor):
    _fund, _call, mine, theirs = called_fund(organizer, investor, other_investor)
    FakeGateway("3ds").install(monkeypatch)
    client = browser(app, investor)
    response = client.post(f"/fund/lines/{mine.id}/pay")
    payment = db.session.scalar(select(Payment))
    assert response.status_code == 303
    assert response.headers["Location"] == f"https://checkout.stripe.test/pay/{payment.id}"
    page = text(client.get("/fund/dashboard"))
    assert "Complete payment" in page and "Needs the card holder" in page
    again = client.post(f"/fund/payments/{payment.id}/complete")
    assert again.headers["Location"] == f"https://checkout.stripe.test/pay/{payment.id}"
    # Another company's line cannot be charged from here.
    assert client.post(f"/fund/lines/{theirs.id}/pay").status_code == 404


# ---------------------------------------------------------------- who may do what

ORGANIZER_ONLY = [
    ("GET", "/fund/"), ("GET", "/fund/new"), ("POST", "/fund/new"), ("GET", "/fund/{fund}"),
    ("POST", "/fund/{fund}/status"), ("GET", "/fund/{fund}/calls/new"), ("POST", "/fund/{fund}/calls/new"),
    ("POST", "/fund/lines/{line}/transfer"), ("POST", "/fund/{fund}/allocations"),
    ("POST", "/fund/allocations/{allocation}/reverse"), ("GET", "/fund/{fund}/ledger.csv"),
    ("GET", "/fund/{fund}/ledger.xlsx"), ("GET", "/fund/sessions/{session}/offers"),
]
INVESTOR_ONLY = [
    ("GET", "/fund/dashboard"), ("POST", "/fund/{fund}/pledge"), ("POST", "/fund/pledges/{pledge}/change"),
    ("POST", "/fund/pledges/{pledge}/cancel"), ("POST", "/fund/card"), ("POST", "/fund/lines/{line}/pay"),
    ("POST", "/fund/payments/{payment}/complete"), ("GET", "/fund/pitches/{pitch}/offer"),
    ("POST", "/fund/pitches/{pitch}/offer"),
]
INVESTOR_OR_ORGANIZER = [("GET", "/fund/lines/{line}/notice.pdf"), ("GET", "/fund/payments/{payment}/receipt.pdf")]
ENTREPRENEUR_ONLY = [("GET", "/fund/offers"), ("POST", "/fund/offers/{offer}/accept"),
                     ("POST", "/fund/offers/{offer}/decline")]


def test_every_fund_page_refuses_the_wrong_roles(app, organizer, investor, other_investor, live_session):
    fund, _call, mine, _theirs = called_fund(organizer, investor, other_investor)
    payment = services.record_transfer(mine.id, organizer, amount_cents=100, paid_on=date.today(), reference="R")
    venture = factories.submission(accepted=True).venture
    allocation = services.allocate(fund.id, organizer, venture_id=venture.id, amount_cents=50)
    from pitchtank.fund import offers as offer_services

    offer = offer_services.make_offer(live_session.pitches[0].id, investor, amount_cents=100, equity_pct=Decimal("1"))
    db.session.commit()
    ids = {"fund": fund.id, "line": mine.id, "allocation": allocation.id, "session": live_session.id,
           "pledge": pledge_of(fund, investor).id, "payment": payment.id, "pitch": live_session.pitches[0].id,
           "offer": offer.id}
    people = {role: factories.user(role) for role in Role}
    db.session.commit()

    def refused(routes, roles):
        problems = []
        for method, pattern in routes:
            path = pattern.format(**ids)
            anonymous = browser(app, None, english=False).open(path, method=method)
            if anonymous.status_code != 302 or location(anonymous) != "/login":
                problems.append(f"anonymous {method} {path}: {anonymous.status_code}")
            for role in roles:
                response = browser(app, people[role], english=False).open(path, method=method)
                if response.status_code != 403:
                    problems.append(f"{role} {method} {path}: {response.status_code}")
        return problems

    problems = refused(ORGANIZER_ONLY, [Role.ENTREPRENEUR, Role.JUDGE, Role.INVESTOR])
    problems += refused(INVESTOR_ONLY, [Role.ENTREPRENEUR, Role.JUDGE, Role.ORGANIZER])
    problems += refused(INVESTOR_OR_ORGANIZER, [Role.ENTREPRENEUR, Role.JUDGE])
    problems += refused(ENTREPRENEUR_ONLY, [Role.JUDGE, Role.INVESTOR, Role.ORGANIZER])
    assert problems == []
    # Nothing was changed by the refused requests.
    assert db.session.get(Offer, offer.id).status == OfferStatus.PENDING
    assert db.session.get(Allocation, allocation.id).reversed_at is None
    assert count(Payment) == 1 and db.session.get(Fund, fund.id).status == FundStatus.OPEN


# ---------------------------------------------------------------- the chart

def _transaction(when, *legs):
    from types import SimpleNamespace

    return SimpleNamespace(created_at=when, entries=[SimpleNamespace(account=a, amount_cents=c) for a, c in legs])


def test_the_chart_accumulates_the_ledger_by_mexico_city_day():
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from pitchtank.fund import charts

    zone = ZoneInfo("America/Mexico_City")
    history = [
        _transaction(datetime(2027, 1, 10, 15, tzinfo=UTC), ("unfunded", 1_000), ("committed", -1_000)),
        # 02:00 UTC on the 11th is still the 10th in Mexico City (UTC−6).
        _transaction(datetime(2027, 1, 11, 2, tzinfo=UTC), ("unfunded", 3_000), ("committed", -3_000)),
        _transaction(datetime(2027, 1, 12, 18, tzinfo=UTC), ("receivable", 400), ("unfunded", -400)),
        _transaction(datetime(2027, 1, 14, 18, tzinfo=UTC), ("cash", 150), ("receivable", -150)),
        _transaction(datetime(2027, 1, 14, 19, tzinfo=UTC), ("allocated", 100), ("cash", -100)),
    ]
    points = charts.progress_by_day(history, zone)
    assert [(p.day.day, p.committed_cents, p.called_cents, p.paid_in_cents) for p in points] == [
        (10, 4_000, 0, 0), (12, 4_000, 400, 0), (14, 4_000, 400, 150)]

    svg = charts.progress_svg(points, target_cents=10_000, chart_id="c", title="Fondo <b>", description="d & e",
                              labels={"target": "Meta"}, day_label=lambda day: day.isoformat(),
                              until=date(2027, 1, 20))
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" class="fund-chart"')
    assert 'role="img" aria-labelledby="c-title c-desc"' in svg
    assert '<title id="c-title">Fondo &lt;b&gt;</title>' in svg and '<desc id="c-desc">d &amp; e</desc>' in svg
    assert svg.count("<polyline") == 3 and "2027-01-10" in svg and "2027-01-20" in svg and "$100" in svg
    assert "style=" not in svg
    assert charts.progress_svg([], target_cents=1, chart_id="x", title="", description="", labels={"target": ""},
                               day_label=str, until=date(2027, 1, 1)) is None


def test_the_chart_ends_where_the_ledger_figures_are(organizer, investor, other_investor):
    from pitchtank.core.timefields import local_zone
    from pitchtank.fund import charts

    fund, _call, mine, _theirs = called_fund(organizer, investor, other_investor, percent="33.33")
    services.record_transfer(mine.id, organizer, amount_cents=12_345, paid_on=date.today(), reference="R1")
    db.session.commit()
    last = charts.progress_by_day(ledger.transactions(fund.id), local_zone())[-1]
    figures = ledger.fund_figures(fund.id)
    assert (last.committed_cents, last.called_cents, last.paid_in_cents) == \
        (figures.committed_cents, figures.called_cents, figures.paid_in_cents)


def test_refunds_from_the_ledger_are_listed_for_the_company(app, organizer, investor, other_investor):
    from pitchtank.fund.ledger import Leg
    from pitchtank.fund.models import LedgerKind

    fund, _call, mine, _theirs = called_fund(organizer, investor, other_investor)
    payment = services.record_transfer(mine.id, organizer, amount_cents=12_000_000, paid_on=date.today(),
                                       reference="SPEI 77")
    ledger.post(fund, LedgerKind.REFUND, [
        Leg(ledger.CASH, -2_000_000), Leg(ledger.OVERPAID, 2_000_000, investor.organization_id),
    ], memo="Devolución del excedente", call_line_id=mine.id, payment_id=payment.id)
    db.session.commit()
    page = text(browser(app, investor).get("/fund/dashboard"))
    refunds = page.split("<h3>Refunds</h3>")[1]
    assert "$20,000.00 MXN" in refunds and f"of payment {payment.id}" in refunds
    assert "Devolución del excedente" in refunds
    assert "Refunds" not in text(browser(app, other_investor).get("/fund/dashboard"))
