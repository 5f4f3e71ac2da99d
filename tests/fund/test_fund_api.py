"""The rules behind the fund endpoints: who may do what, the money rules, Idempotency-Key,
and what each refusal leaves in the database (nothing)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from pitchtank.accounts.models import Role
from pitchtank.audit.models import AuditEntry
from pitchtank.core.types import utcnow
from pitchtank.fund import ledger, services
from pitchtank.fund.models import (
    Allocation,
    CallLine,
    CapitalCall,
    Fund,
    FundStatus,
    LedgerEntry,
    LedgerKind,
    LedgerTransaction,
    Payment,
    Pledge,
    PledgeStatus,
)

API = "/api/v1"
VALID_CLABE = "002010077777777771"
MIN_PLEDGE = 100_000_00
MODELS = (Fund, Pledge, CapitalCall, CallLine, Payment, Allocation, LedgerTransaction, LedgerEntry)


def expect(response, status: int):
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    return response.get_json()


def expect_problem(response, status: int, *fields: str):
    body = expect(response, status)
    assert response.mimetype == "application/problem+json"
    assert body["status"] == status and body["title"] and body["detail"]
    for name in fields:
        assert body["errors"][name], body
    return body


def today() -> date:
    """The date the services compare with (UTC)."""
    return utcnow().date()


def yesterday() -> date:
    """A payment date valid whichever calendar the services use."""
    return today() - timedelta(days=1)


def local_today() -> date:
    return datetime.now(ZoneInfo("America/Mexico_City")).date()


def counts(db) -> dict[str, int]:
    return {model.__name__: db.session.scalar(select(func.count()).select_from(model)) for model in MODELS}


@pytest.fixture
def people(make, db, api_token):
    company_a = make.organization("Bajío Software")
    company_b = make.organization("Integradores del Centro")
    p = SimpleNamespace(
        organizer=make.user(Role.ORGANIZER),
        investor_a=make.user(Role.INVESTOR, organization_=company_a),
        colleague_a=make.user(Role.INVESTOR, organization_=company_a),
        investor_b=make.user(Role.INVESTOR, organization_=company_b),
        entrepreneur=make.user(Role.ENTREPRENEUR),
        judge=make.user(Role.JUDGE),
        company_a=company_a, company_b=company_b,
    )
    db.session.commit()
    for name in ("organizer", "investor_a", "colleague_a", "investor_b", "entrepreneur", "judge"):
        setattr(p, "as_" + name.removeprefix("investor_"), api_token(getattr(p, name)))
    return p


def open_fund(people, db, **overrides) -> Fund:
    values = dict(name="Fondo Clúster Bajío", target_cents=50_000_000_00, min_pledge_cents=MIN_PLEDGE,
                  commitment_deadline=today() + timedelta(days=90), clabe=VALID_CLABE)
    values.update(overrides)
    fund = services.create_fund(people.organizer, services.FundData(**values))
    db.session.commit()
    return fund


def call(fund, people, db, percent: str, **kwargs) -> CapitalCall:
    made = services.issue_capital_call(fund.id, people.organizer, percent=Decimal(percent),
                                       due_date=kwargs.pop("due_date", today() + timedelta(days=30)), **kwargs)
    db.session.commit()
    return made


def pay(line, people, db, amount: int) -> Payment:
    payment = services.record_transfer(line.id, people.organizer, amount_cents=amount, paid_on=yesterday(),
                                       reference=f"SPEI {line.reference}")
    db.session.commit()
    return payment


def line_of(call_, organization) -> CallLine:
    return next(line for line in call_.lines if line.organization_id == organization.id)


def public_venture(make, db):
    venture = make.venture()
    make.submission(venture, accepted=True)
    db.session.commit()
    return venture


def transactions_of(fund) -> list[LedgerTransaction]:
    return ledger.transactions(fund.id)


# --------------------------------------------------------------------------
# POST /funds
# --------------------------------------------------------------------------


def fund_body(**overrides) -> dict:
    body = {"name": "Fondo Clúster 2027", "target_cents": 50_000_000_00, "min_pledge_cents": MIN_PLEDGE,
            "commitment_deadline": (today() + timedelta(days=90)).isoformat(), "clabe": VALID_CLABE}
    body.update(overrides)
    return body


def test_an_organizer_creates_a_fund(client, people, db):
    response = client.post(f"{API}/funds", json=fund_body(cooling_off_days=10), headers=people.as_organizer)
    body = expect(response, 201)
    assert response.headers["Location"].endswith(f"{API}/funds/{body['id']}")
    assert body | {"id": 0} == {
        "id": 0, "name": "Fondo Clúster 2027", "currency": "MXN", "target_cents": 50_000_000_00,
        "min_pledge_cents": MIN_PLEDGE, "commitment_deadline": (today() + timedelta(days=90)).isoformat(),
        "clabe": VALID_CLABE, "cooling_off_days": 10, "committed_cents": 0, "called_cents": 0,
        "paid_in_cents": 0, "outstanding_cents": 0, "allocated_cents": 0, "fees_cents": 0,
        "available_cents": 0, "status": "open",
    }
    fund = db.session.get(Fund, body["id"])
    assert (fund.name, fund.created_by_id, fund.status) == ("Fondo Clúster 2027", people.organizer.id, FundStatus.OPEN)
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == "fund.created", AuditEntry.subject_id == fund.id)) == 1


@pytest.mark.parametrize("who, status", [("a", 403), ("entrepreneur", 403), ("judge", 403), (None, 401)])
def test_only_organizers_create_funds(client, people, db, who, status):
    headers = getattr(people, f"as_{who}") if who else {}
    expect_problem(client.post(f"{API}/funds", json=fund_body(), headers=headers), status)
    assert counts(db)["Fund"] == 0


@pytest.mark.parametrize("overrides, field", [
    ({"clabe": "002010077777777772"}, "clabe"),  # 18 digits, wrong check digit
    ({"clabe": "00201007777777777"}, "clabe"),
    ({"clabe": "00201007777777777X"}, "clabe"),
    ({"target_cents": -100}, "target_cents"),
    ({"target_cents": 0}, "target_cents"),
    ({"target_cents": 1_000.5}, "target_cents"),
    ({"target_cents": "1000"}, "target_cents"),
    ({"min_pledge_cents": 50_000_000_01}, "min_pledge_cents"),  # more than the target
    ({"min_pledge_cents": 0}, "min_pledge_cents"),
    ({"commitment_deadline": (date.today() - timedelta(days=2)).isoformat()}, "commitment_deadline"),
    ({"commitment_deadline": "31/12/2027"}, "commitment_deadline"),
    ({"name": ""}, "name"),
    ({"name": "x" * 121}, "name"),
    ({"cooling_off_days": 91}, "cooling_off_days"),
    ({"cooling_off_days": -1}, "cooling_off_days"),
])
def test_invalid_fund_data_is_refused_with_field_errors_and_nothing_written(client, people, db, overrides, field):
    response = client.post(f"{API}/funds", json=fund_body(**overrides), headers=people.as_organizer)
    expect_problem(response, 422, field)
    assert counts(db)["Fund"] == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == "fund.created")) == 0


def test_several_fund_errors_are_reported_together_in_english(client, people, db):
    body = fund_body(clabe="002010077777777772", min_pledge_cents=60_000_000_00)
    response = client.post(f"{API}/funds", json=body, headers={**people.as_organizer, "Accept-Language": "en"})
    problem = expect_problem(response, 422, "clabe", "min_pledge_cents")
    assert problem["errors"]["min_pledge_cents"] == ["The minimum pledge cannot exceed the target."]
    assert problem["errors"]["clabe"] == ["The CLABE must be 18 digits with a valid check digit."]
    assert counts(db)["Fund"] == 0


def test_a_minimum_equal_to_the_target_is_allowed(client, people, db):
    body = fund_body(min_pledge_cents=50_000_000_00)
    assert expect(client.post(f"{API}/funds", json=body, headers=people.as_organizer), 201)["min_pledge_cents"] \
        == 50_000_000_00


# --------------------------------------------------------------------------
# GET /funds, GET /funds/{id}
# --------------------------------------------------------------------------


def test_investors_and_organizers_see_the_funds_with_figures_from_the_ledger(client, people, db, make):
    fund = open_fund(people, db)
    other = open_fund(people, db, name="Fondo Semilla")
    services.pledge(fund.id, people.investor_a, 1_000_000_00)
    services.pledge(fund.id, people.investor_b, 500_000_00)
    first = call(fund, people, db, "10")  # 100,000.00 and 50,000.00
    pay(line_of(first, people.company_a), people, db, 100_000_00)
    pay(line_of(first, people.company_b), people, db, 20_000_00)
    services.allocate(fund.id, people.organizer, venture_id=public_venture(make, db).id, amount_cents=30_000_00)
    db.session.commit()
    pay(line_of(first, people.company_a), people, db, 10_000_00)  # an overpayment: held apart, not available

    expected = {
        "committed_cents": 1_500_000_00, "called_cents": 150_000_00, "paid_in_cents": 120_000_00,
        "outstanding_cents": 30_000_00, "allocated_cents": 30_000_00, "fees_cents": 0,
        "available_cents": 90_000_00, "status": "open",
    }
    for headers in (people.as_organizer, people.as_a, people.as_b):
        shown = expect(client.get(f"{API}/funds/{fund.id}", headers=headers), 200)
        assert {k: shown[k] for k in expected} == expected
        listed = expect(client.get(f"{API}/funds", headers=headers), 200)["funds"]
        assert [f["id"] for f in listed] == [fund.id, other.id]
        assert listed[0] == shown
        assert {k: listed[1][k] for k in ("committed_cents", "paid_in_cents", "available_cents")} == {
            "committed_cents": 0, "paid_in_cents": 0, "available_cents": 0}


@pytest.mark.parametrize("who, status", [("entrepreneur", 403), ("judge", 403), (None, 401)])
def test_others_cannot_see_funds(client, people, db, who, status):
    fund = open_fund(people, db)
    headers = getattr(people, f"as_{who}") if who else {}
    expect_problem(client.get(f"{API}/funds", headers=headers), status)
    expect_problem(client.get(f"{API}/funds/{fund.id}", headers=headers), status)


def test_an_unknown_fund_is_404(client, people, db):
    expect_problem(client.get(f"{API}/funds/987654", headers=people.as_organizer), 404)


# --------------------------------------------------------------------------
# POST /funds/{id}/pledges
# --------------------------------------------------------------------------


def pledge_url(fund) -> str:
    return f"{API}/funds/{fund.id}/pledges"


def test_an_investor_pledges_for_their_company(client, people, db):
    fund = open_fund(people, db)
    before = utcnow()
    body = expect(client.post(pledge_url(fund), json={"amount_cents": 1_000_000_00}, headers=people.as_a), 201)
    assert body["organization"] == {"id": people.company_a.id, "name": "Bajío Software"}
    assert {k: body[k] for k in ("fund_id", "status", "currency", "amount_cents", "called_cents", "paid_cents",
                                 "outstanding_cents", "unfunded_cents", "overpaid_cents", "payments")} == {
        "fund_id": fund.id, "status": "active", "currency": "MXN", "amount_cents": 1_000_000_00,
        "called_cents": 0, "paid_cents": 0, "outstanding_cents": 0, "unfunded_cents": 1_000_000_00,
        "overpaid_cents": 0, "payments": []}
    cooling_off_until = datetime.fromisoformat(body["cooling_off_until"])
    assert before + timedelta(days=7) - timedelta(seconds=5) <= cooling_off_until <= utcnow() + timedelta(days=7)

    pledge = db.session.get(Pledge, body["id"])
    assert (pledge.fund_id, pledge.organization_id, pledge.created_by_id) == (
        fund.id, people.company_a.id, people.investor_a.id)
    [transaction] = transactions_of(fund)
    assert (transaction.kind, transaction.pledge_id) == (LedgerKind.PLEDGE, pledge.id)
    assert sorted((e.account, e.organization_id, e.amount_cents) for e in transaction.entries) == [
        ("committed", people.company_a.id, -1_000_000_00), ("unfunded", people.company_a.id, 1_000_000_00)]


def test_exactly_the_minimum_is_accepted(client, people, db):
    fund = open_fund(people, db)
    assert expect(client.post(pledge_url(fund), json={"amount_cents": MIN_PLEDGE}, headers=people.as_a),
                  201)["amount_cents"] == MIN_PLEDGE


@pytest.mark.parametrize("who, status", [("entrepreneur", 403), ("judge", 403), ("organizer", 403), (None, 401)])
def test_only_investors_pledge(client, people, db, who, status):
    fund = open_fund(people, db)
    headers = getattr(people, f"as_{who}") if who else {}
    expect_problem(client.post(pledge_url(fund), json={"amount_cents": 1_000_000_00}, headers=headers), status)
    assert counts(db)["Pledge"] == 0 and counts(db)["LedgerEntry"] == 0


@pytest.mark.parametrize("amount", [MIN_PLEDGE - 1, 0, -5, 150_000.5, "1000000", None, True])
def test_a_pledge_below_the_minimum_or_not_whole_centavos_is_422(client, people, db, amount):
    fund = open_fund(people, db)
    expect_problem(client.post(pledge_url(fund), json={"amount_cents": amount}, headers=people.as_a),
                   422, "amount_cents")
    assert counts(db)["Pledge"] == 0 and counts(db)["LedgerEntry"] == 0


@pytest.mark.parametrize("status", [FundStatus.CLOSED, FundStatus.WOUND_DOWN])
def test_a_fund_that_is_not_open_takes_no_pledges(client, people, db, status):
    fund = open_fund(people, db)
    services.set_fund_status(fund.id, people.organizer, status)
    db.session.commit()
    expect_problem(client.post(pledge_url(fund), json={"amount_cents": 1_000_000_00}, headers=people.as_a), 409)
    assert counts(db)["Pledge"] == 0 and counts(db)["LedgerEntry"] == 0


def test_no_pledges_after_the_commitment_deadline(client, people, db):
    fund = open_fund(people, db)
    fund.commitment_deadline = today() - timedelta(days=2)
    db.session.commit()
    expect_problem(client.post(pledge_url(fund), json={"amount_cents": 1_000_000_00}, headers=people.as_a), 409)
    assert counts(db)["Pledge"] == 0


def test_a_company_has_one_commitment_per_fund(client, people, db):
    fund = open_fund(people, db)
    expect(client.post(pledge_url(fund), json={"amount_cents": 1_000_000_00}, headers=people.as_a), 201)
    before = counts(db)
    expect_problem(client.post(pledge_url(fund), json={"amount_cents": 2_000_000_00}, headers=people.as_a), 409)
    # A colleague from the same company cannot add a second commitment either.
    expect_problem(client.post(pledge_url(fund), json={"amount_cents": 2_000_000_00},
                               headers=people.as_colleague_a), 409)
    assert counts(db) == before
    assert ledger.company_figures(fund.id, people.company_a.id).committed_cents == 1_000_000_00
    # Another company pledges independently.
    expect(client.post(pledge_url(fund), json={"amount_cents": 2_000_000_00}, headers=people.as_b), 201)


def test_a_repeated_pledge_with_the_same_key_is_one_pledge_with_the_same_answer(client, people, db):
    fund = open_fund(people, db)
    headers = {**people.as_a, "Idempotency-Key": "pledge-2027-bajio"}
    first = client.post(pledge_url(fund), json={"amount_cents": 1_000_000_00}, headers=headers)
    again = client.post(pledge_url(fund), json={"amount_cents": 1_000_000_00}, headers=headers)
    assert expect(first, 201) == expect(again, 201)
    assert again.get_data() == first.get_data()
    assert again.headers.get("Idempotent-Replayed") == "true" and "Idempotent-Replayed" not in first.headers
    assert counts(db)["Pledge"] == 1 and counts(db)["LedgerTransaction"] == 1
    assert ledger.company_figures(fund.id, people.company_a.id).committed_cents == 1_000_000_00


def test_the_same_key_with_another_body_or_path_is_422_and_changes_nothing(client, people, db):
    fund = open_fund(people, db)
    other_fund = open_fund(people, db, name="Fondo Semilla")
    headers = {**people.as_a, "Idempotency-Key": "pledge-2027-bajio"}
    expect(client.post(pledge_url(fund), json={"amount_cents": 1_000_000_00}, headers=headers), 201)
    before = counts(db)
    expect_problem(client.post(pledge_url(fund), json={"amount_cents": 2_000_000_00}, headers=headers),
                   422, "Idempotency-Key")
    expect_problem(client.post(pledge_url(other_fund), json={"amount_cents": 1_000_000_00}, headers=headers),
                   422, "Idempotency-Key")
    assert counts(db) == before
    assert ledger.company_figures(fund.id, people.company_a.id).committed_cents == 1_000_000_00


def test_keys_belong_to_their_user(client, people, db):
    fund = open_fund(people, db)
    key = {"Idempotency-Key": "my-first-pledge"}
    a = expect(client.post(pledge_url(fund), json={"amount_cents": 1_000_000_00}, headers={**people.as_a, **key}),
               201)
    b = expect(client.post(pledge_url(fund), json={"amount_cents": 1_000_000_00}, headers={**people.as_b, **key}),
               201)
    assert a["id"] != b["id"] and b["organization"]["id"] == people.company_b.id
    assert counts(db)["Pledge"] == 2


def test_a_refused_request_does_not_use_up_its_key(client, people, db):
    fund = open_fund(people, db)
    headers = {**people.as_a, "Idempotency-Key": "retry-me"}
    expect_problem(client.post(pledge_url(fund), json={"amount_cents": 1}, headers=headers), 422, "amount_cents")
    # The refusal stored nothing: the corrected request under the same key is a new request.
    expect(client.post(pledge_url(fund), json={"amount_cents": MIN_PLEDGE}, headers=headers), 201)
    assert counts(db)["Pledge"] == 1


def test_a_retry_after_a_failure_past_the_commit_gets_a_real_answer(client, people, db, monkeypatch):
    from pitchtank.api import idempotency
    from pitchtank.fund import api as fund_api

    monkeypatch.setattr(idempotency, "WAIT_FOR_FIRST_SECONDS", 0.2)
    fund = open_fund(people, db)
    build_answer, failures = fund_api.pledge_out, []

    def fails_once(pledge):
        if not failures:
            failures.append(pledge.id)
            raise RuntimeError("the connection dropped after the commit")
        return build_answer(pledge)

    monkeypatch.setattr(fund_api, "pledge_out", fails_once)
    headers = {**people.as_a, "Idempotency-Key": "flaky-network"}
    expect_problem(client.post(pledge_url(fund), json={"amount_cents": MIN_PLEDGE}, headers=headers), 500)
    retry = client.post(pledge_url(fund), json={"amount_cents": MIN_PLEDGE}, headers=headers)
    assert expect(retry, 201)["amount_cents"] == MIN_PLEDGE
    assert counts(db)["Pledge"] == 1 and counts(db)["LedgerTransaction"] == 1


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_an_idempotency_key_of_the_wrong_length_is_422(client, people, db, key):
    fund = open_fund(people, db)
    response = client.post(pledge_url(fund), json={"amount_cents": MIN_PLEDGE},
                           headers={**people.as_a, "Idempotency-Key": key})
    expect_problem(response, 422, "Idempotency-Key")
    assert counts(db)["Pledge"] == 0


# --------------------------------------------------------------------------
# PATCH /pledges/{id}
# --------------------------------------------------------------------------


@pytest.fixture
def pledged(people, db):
    """A fund where company A committed 1,000,000.00 and company B 500,000.00."""
    fund = open_fund(people, db)
    pledge_a = services.pledge(fund.id, people.investor_a, 1_000_000_00)
    pledge_b = services.pledge(fund.id, people.investor_b, 500_000_00)
    db.session.commit()
    return SimpleNamespace(fund=fund, a=pledge_a, b=pledge_b)


def patch(client, pledge, amount, headers):
    return client.patch(f"{API}/pledges/{pledge.id}", json={"amount_cents": amount}, headers=headers)


def end_cooling_off(pledge, db):
    pledge.cooling_off_until = utcnow() - timedelta(minutes=1)
    db.session.commit()


def committed(fund, organization) -> int:
    return ledger.company_figures(fund.id, organization.id).committed_cents


def test_raising_a_pledge_books_the_difference(client, people, db, pledged):
    body = expect(patch(client, pledged.a, 1_250_000_00, people.as_a), 200)
    assert (body["amount_cents"], body["unfunded_cents"], body["status"]) == (1_250_000_00, 1_250_000_00, "active")
    change = transactions_of(pledged.fund)[-1]
    assert (change.kind, change.pledge_id) == (LedgerKind.PLEDGE_CHANGE, pledged.a.id)
    assert sorted((e.account, e.amount_cents) for e in change.entries) == [
        ("committed", -250_000_00), ("unfunded", 250_000_00)]
    # A colleague from the same company may change it too.
    assert expect(patch(client, pledged.a, 1_300_000_00, people.as_colleague_a), 200)["amount_cents"] == 1_300_000_00


def test_lowering_within_the_cooling_off_period(client, people, db, pledged):
    body = expect(patch(client, pledged.a, 400_000_00, people.as_a), 200)
    assert body["amount_cents"] == 400_000_00
    assert committed(pledged.fund, people.company_a) == 400_000_00
    assert [e.amount_cents for e in transactions_of(pledged.fund)[-1].entries if e.account == "committed"] == [
        600_000_00]


def test_the_same_amount_changes_nothing(client, people, db, pledged):
    before = counts(db)
    assert expect(patch(client, pledged.a, 1_000_000_00, people.as_a), 200)["amount_cents"] == 1_000_000_00
    assert counts(db) == before


def test_after_cooling_off_a_pledge_can_only_go_up(client, people, db, pledged):
    end_cooling_off(pledged.a, db)
    before = counts(db)
    expect_problem(patch(client, pledged.a, 900_000_00, people.as_a), 409)
    expect_problem(patch(client, pledged.a, 0, people.as_a), 409)
    assert counts(db) == before and committed(pledged.fund, people.company_a) == 1_000_000_00
    assert expect(patch(client, pledged.a, 1_100_000_00, people.as_a), 200)["amount_cents"] == 1_100_000_00


def test_a_pledge_cannot_go_below_what_was_called(client, people, db, pledged):
    call(pledged.fund, people, db, "30")  # company A: 300,000.00 called
    before = counts(db)
    expect_problem(patch(client, pledged.a, 299_999_99, people.as_a), 422, "amount_cents")
    expect_problem(patch(client, pledged.a, 0, people.as_a), 422, "amount_cents")
    assert counts(db) == before and committed(pledged.fund, people.company_a) == 1_000_000_00
    body = expect(patch(client, pledged.a, 300_000_00, people.as_a), 200)  # exactly what was called
    assert (body["amount_cents"], body["called_cents"], body["unfunded_cents"]) == (300_000_00, 300_000_00, 0)


def test_a_lowered_pledge_still_respects_the_minimum(client, people, db, pledged):
    expect_problem(patch(client, pledged.a, MIN_PLEDGE - 1, people.as_a), 422, "amount_cents")
    assert expect(patch(client, pledged.a, MIN_PLEDGE, people.as_a), 200)["amount_cents"] == MIN_PLEDGE


def test_cancelling_then_pledging_again(client, people, db, pledged):
    body = expect(patch(client, pledged.a, 0, people.as_a), 200)
    assert (body["status"], body["amount_cents"]) == ("cancelled", 0)
    assert db.session.get(Pledge, pledged.a.id).status == PledgeStatus.CANCELLED
    expect_problem(patch(client, pledged.a, 1_000_000_00, people.as_a), 409)  # a cancelled pledge stays so
    again = expect(client.post(pledge_url(pledged.fund), json={"amount_cents": 700_000_00}, headers=people.as_a),
                   201)
    assert (again["id"], again["status"], again["amount_cents"]) == (pledged.a.id, "active", 700_000_00)
    assert ledger.ledger_sum(pledged.fund.id) == 0


def test_another_companys_pledge_is_404(client, people, db, pledged):
    before = counts(db)
    expect_problem(patch(client, pledged.a, 2_000_000_00, people.as_b), 404)
    expect_problem(patch(client, pledged.a, 2_000_000_00, people.as_entrepreneur), 404)
    expect_problem(client.patch(f"{API}/pledges/987654", json={"amount_cents": 1}, headers=people.as_a), 404)
    assert counts(db) == before and committed(pledged.fund, people.company_a) == 1_000_000_00


def test_no_changes_once_the_fund_is_closed(client, people, db, pledged):
    services.set_fund_status(pledged.fund.id, people.organizer, FundStatus.CLOSED)
    db.session.commit()
    expect_problem(patch(client, pledged.a, 2_000_000_00, people.as_a), 409)
    assert committed(pledged.fund, people.company_a) == 1_000_000_00


# --------------------------------------------------------------------------
# GET /me/pledges
# --------------------------------------------------------------------------


def test_an_investor_sees_only_their_companys_pledges(client, people, db, pledged):
    seed = open_fund(people, db, name="Fondo Semilla")
    seed_pledge = services.pledge(seed.id, people.investor_a, 200_000_00)
    db.session.commit()
    first = call(pledged.fund, people, db, "10")
    pay(line_of(first, people.company_a), people, db, 60_000_00)
    pay(line_of(first, people.company_b), people, db, 50_000_00)

    for headers in (people.as_a, people.as_colleague_a):
        mine = expect(client.get(f"{API}/me/pledges", headers=headers), 200)["pledges"]
        assert [p["id"] for p in mine] == [pledged.a.id, seed_pledge.id]
        assert {p["organization"]["id"] for p in mine} == {people.company_a.id}
        main = mine[0]
        assert {k: main[k] for k in ("amount_cents", "called_cents", "paid_cents", "outstanding_cents",
                                     "unfunded_cents")} == {
            "amount_cents": 1_000_000_00, "called_cents": 100_000_00, "paid_cents": 60_000_00,
            "outstanding_cents": 40_000_00, "unfunded_cents": 900_000_00}
        assert [(p["amount_cents"], p["method"], p["status"], p["call_line_id"]) for p in main["payments"]] == [
            (60_000_00, "transfer", "succeeded", line_of(first, people.company_a).id)]
        assert mine[1]["payments"] == [] and mine[1]["called_cents"] == 0

    theirs = expect(client.get(f"{API}/me/pledges", headers=people.as_b), 200)["pledges"]
    assert [(p["id"], p["paid_cents"], p["outstanding_cents"]) for p in theirs] == [(pledged.b.id, 50_000_00, 0)]
    expect_problem(client.get(f"{API}/me/pledges", headers=people.as_entrepreneur), 403)
    expect_problem(client.get(f"{API}/me/pledges", headers=people.as_judge), 403)


# --------------------------------------------------------------------------
# POST /funds/{id}/capital-calls
# --------------------------------------------------------------------------


def calls_url(fund) -> str:
    return f"{API}/funds/{fund.id}/capital-calls"


def call_body(percent="25", **overrides) -> dict:
    return {"percent": percent, "due_date": (today() + timedelta(days=30)).isoformat(), **overrides}


def test_a_call_splits_pro_rata_and_its_lines_add_up_to_its_total(client, people, db, make):
    fund = open_fund(people, db, min_pledge_cents=1)
    company_c = make.user(Role.INVESTOR)
    services.pledge(fund.id, people.investor_a, 1_000_001)
    services.pledge(fund.id, people.investor_b, 2_000_000)
    services.pledge(fund.id, company_c, 333)
    db.session.commit()

    body = expect(client.post(calls_url(fund), json=call_body("33.33"), headers=people.as_organizer), 201)
    assert (body["number"], body["percent"], body["total_cents"], body["currency"], body["clabe"]) == (
        1, "33.33", 1_000_011, "MXN", VALID_CLABE)
    lines = {line["organization"]["id"]: line for line in body["lines"]}
    assert {org: line["amount_cents"] for org, line in lines.items()} == {
        people.company_a.id: 333_300, people.company_b.id: 666_601, company_c.organization_id: 110}
    assert sum(line["amount_cents"] for line in body["lines"]) == body["total_cents"]
    assert all((line["paid_cents"], line["outstanding_cents"], line["status"]) == (0, line["amount_cents"], "unpaid")
               for line in body["lines"])
    assert len({line["reference"] for line in body["lines"]}) == 3

    stored = db.session.get(CapitalCall, body["id"])
    assert (stored.percent_bp, stored.total_cents) == (3333, 1_000_011)
    assert stored.notice_date in {today(), local_today()}
    assert sum(line.amount_cents for line in stored.lines) == stored.total_cents
    booked = [t for t in transactions_of(fund) if t.kind == LedgerKind.CAPITAL_CALL]
    assert sum(e.amount_cents for t in booked for e in t.entries if e.account == "receivable") == 1_000_011
    figures = ledger.fund_figures(fund.id)
    assert (figures.called_cents, figures.outstanding_cents) == (1_000_011, 1_000_011)


def test_calls_never_exceed_a_commitment(client, people, db, pledged):
    expect(client.post(calls_url(pledged.fund), json=call_body("60"), headers=people.as_organizer), 201)
    second = expect(client.post(calls_url(pledged.fund), json=call_body("60"), headers=people.as_organizer), 201)
    # Only the 40 % still uncalled is called the second time.
    assert {line["organization"]["id"]: line["amount_cents"] for line in second["lines"]} == {
        people.company_a.id: 400_000_00, people.company_b.id: 200_000_00}
    assert second["number"] == 2 and second["total_cents"] == 600_000_00
    before = counts(db)
    expect_problem(client.post(calls_url(pledged.fund), json=call_body("1"), headers=people.as_organizer), 409)
    assert counts(db) == before
    for company in (people.company_a, people.company_b):
        figures = ledger.company_figures(pledged.fund.id, company.id)
        assert figures.called_cents == figures.committed_cents and figures.unfunded_cents == 0


def test_a_cancelled_pledge_is_not_called(client, people, db, pledged):
    services.change_pledge(pledged.b.id, people.investor_b, 0)
    db.session.commit()
    body = expect(client.post(calls_url(pledged.fund), json=call_body("10"), headers=people.as_organizer), 201)
    assert [line["organization"]["id"] for line in body["lines"]] == [people.company_a.id]


@pytest.mark.parametrize("percent", ["12.345", "0", "0.001", "-5", "100.01", "150", "abc", "NaN", None])
def test_an_invalid_percent_is_422(client, people, db, pledged, percent):
    before = counts(db)
    expect_problem(client.post(calls_url(pledged.fund), json=call_body(percent), headers=people.as_organizer),
                   422, "percent")
    assert counts(db) == before


def test_percent_may_be_a_json_number_with_two_decimals(client, people, db, pledged):
    body = expect(client.post(calls_url(pledged.fund), json={**call_body(), "percent": 12.5},
                              headers=people.as_organizer), 201)
    assert body["total_cents"] == 187_500_00


def test_a_due_date_before_the_notice_is_422(client, people, db, pledged):
    before = counts(db)
    body = call_body(notice_date=(today() + timedelta(days=10)).isoformat(),
                     due_date=(today() + timedelta(days=9)).isoformat())
    expect_problem(client.post(calls_url(pledged.fund), json=body, headers=people.as_organizer), 422, "due_date")
    overdue = call_body(due_date=(today() - timedelta(days=2)).isoformat())  # the notice defaults to today
    expect_problem(client.post(calls_url(pledged.fund), json=overdue, headers=people.as_organizer),
                   422, "due_date")
    assert counts(db) == before
    same_day = call_body(notice_date=(today() + timedelta(days=3)).isoformat(),
                         due_date=(today() + timedelta(days=3)).isoformat())
    created = expect(client.post(calls_url(pledged.fund), json=same_day, headers=people.as_organizer), 201)
    assert created["due_date"] == created["notice_date"] == (today() + timedelta(days=3)).isoformat()


def test_nothing_to_call_is_409(client, people, db):
    fund = open_fund(people, db)
    expect_problem(client.post(calls_url(fund), json=call_body(), headers=people.as_organizer), 409)
    assert counts(db)["CapitalCall"] == 0


def test_a_wound_down_fund_issues_no_calls_but_a_closed_one_does(client, people, db, pledged):
    services.set_fund_status(pledged.fund.id, people.organizer, FundStatus.CLOSED)
    db.session.commit()
    expect(client.post(calls_url(pledged.fund), json=call_body("10"), headers=people.as_organizer), 201)
    services.set_fund_status(pledged.fund.id, people.organizer, FundStatus.WOUND_DOWN)
    db.session.commit()
    before = counts(db)
    expect_problem(client.post(calls_url(pledged.fund), json=call_body("10"), headers=people.as_organizer), 409)
    assert counts(db) == before


def test_a_retried_capital_call_with_the_same_key_is_one_call(client, people, db, pledged):
    headers = {**people.as_organizer, "Idempotency-Key": "call-2027-1"}
    first = expect(client.post(calls_url(pledged.fund), json=call_body("10"), headers=headers), 201)
    again = client.post(calls_url(pledged.fund), json=call_body("10"), headers=headers)
    assert expect(again, 201) == first
    assert counts(db)["CapitalCall"] == 1


@pytest.mark.parametrize("who", ["a", "entrepreneur", "judge"])
def test_only_organizers_issue_calls(client, people, db, pledged, who):
    expect_problem(client.post(calls_url(pledged.fund), json=call_body(), headers=getattr(people, f"as_{who}")), 403)
    assert counts(db)["CapitalCall"] == 0


# --------------------------------------------------------------------------
# GET /funds/{id}/capital-calls, GET /capital-calls/{id}
# --------------------------------------------------------------------------


def test_an_investor_sees_only_their_companys_lines(client, people, db, pledged, api_token):
    first = call(pledged.fund, people, db, "10")
    second = call(pledged.fund, people, db, "20")
    views = {
        "organizer": (people.as_organizer, {people.company_a.id, people.company_b.id}),
        "a": (people.as_a, {people.company_a.id}),
        "colleague": (people.as_colleague_a, {people.company_a.id}),
        "b": (people.as_b, {people.company_b.id}),
        "no commitment": (api_token(Role.INVESTOR), set()),
    }
    for name, (headers, companies) in views.items():
        listed = expect(client.get(calls_url(pledged.fund), headers=headers), 200)["capital_calls"]
        assert [c["id"] for c in listed] == [first.id, second.id], name
        for shown in listed:
            assert {line["organization"]["id"] for line in shown["lines"]} == companies, name
        single = expect(client.get(f"{API}/capital-calls/{first.id}", headers=headers), 200)
        assert single == listed[0], name
        assert single["total_cents"] == 150_000_00


@pytest.mark.parametrize("who, status", [("entrepreneur", 403), ("judge", 403), (None, 401)])
def test_others_cannot_see_calls(client, people, db, pledged, who, status):
    first = call(pledged.fund, people, db, "10")
    headers = getattr(people, f"as_{who}") if who else {}
    expect_problem(client.get(calls_url(pledged.fund), headers=headers), status)
    expect_problem(client.get(f"{API}/capital-calls/{first.id}", headers=headers), status)


# --------------------------------------------------------------------------
# POST /call-lines/{id}/transfers
# --------------------------------------------------------------------------


def transfer(client, line, amount, headers, **overrides):
    body = {"amount_cents": amount, "paid_on": yesterday().isoformat(), "reference": "SPEI 0012345", **overrides}
    return client.post(f"{API}/call-lines/{line.id}/transfers", json=body, headers=headers)


def shown_line(client, people, call_, line) -> dict:
    shown = expect(client.get(f"{API}/capital-calls/{call_.id}", headers=people.as_organizer), 200)
    return next(item for item in shown["lines"] if item["id"] == line.id)


@pytest.fixture
def called(people, db, pledged):
    """A 10 % call: company A owes 100,000.00, company B 50,000.00."""
    first = call(pledged.fund, people, db, "10")
    return SimpleNamespace(fund=pledged.fund, call=first, a=line_of(first, people.company_a),
                           b=line_of(first, people.company_b))


def test_a_partial_transfer_then_the_rest_pays_the_line(client, people, db, called):
    body = expect(transfer(client, called.a, 30_000_00, people.as_organizer), 201)
    assert {k: body[k] for k in ("call_line_id", "method", "status", "amount_cents", "currency", "paid_on",
                                 "reference")} == {
        "call_line_id": called.a.id, "method": "transfer", "status": "succeeded", "amount_cents": 30_000_00,
        "currency": "MXN", "paid_on": yesterday().isoformat(), "reference": "SPEI 0012345"}
    line = shown_line(client, people, called.call, called.a)
    assert (line["paid_cents"], line["outstanding_cents"], line["status"]) == (30_000_00, 70_000_00, "partial")

    expect(transfer(client, called.a, 70_000_00, people.as_organizer), 201)
    line = shown_line(client, people, called.call, called.a)
    assert (line["paid_cents"], line["outstanding_cents"], line["status"]) == (100_000_00, 0, "paid")
    figures = ledger.company_figures(called.fund.id, people.company_a.id)
    assert (figures.paid_cents, figures.outstanding_cents, figures.overpaid_cents) == (100_000_00, 0, 0)
    payment = db.session.get(Payment, body["id"])
    assert payment.recorded_by_id == people.organizer.id
    booked = [t for t in transactions_of(called.fund) if t.kind == LedgerKind.PAYMENT]
    assert [t.payment_id for t in booked] == sorted(p.id for p in db.session.scalars(select(Payment)))
    assert all(sum(e.amount_cents for e in t.entries) == 0 for t in booked)


def test_an_overpayment_is_held_as_overpaid_not_as_available_capital(client, people, db, called):
    expect(transfer(client, called.a, 125_000_00, people.as_organizer), 201)
    line = shown_line(client, people, called.call, called.a)
    assert (line["paid_cents"], line["outstanding_cents"], line["status"]) == (100_000_00, 0, "paid")
    mine = expect(client.get(f"{API}/me/pledges", headers=people.as_a), 200)["pledges"][0]
    assert (mine["paid_cents"], mine["outstanding_cents"], mine["overpaid_cents"]) == (100_000_00, 0, 25_000_00)
    fund = expect(client.get(f"{API}/funds/{called.fund.id}", headers=people.as_organizer), 200)
    assert (fund["paid_in_cents"], fund["available_cents"]) == (100_000_00, 100_000_00)
    # A transfer against a line already paid is all overpayment.
    expect(transfer(client, called.a, 5_000_00, people.as_organizer), 201)
    assert ledger.company_figures(called.fund.id, people.company_a.id).overpaid_cents == 30_000_00
    assert ledger.fund_figures(called.fund.id).available_cents == 100_000_00


def test_a_repeated_transfer_with_the_same_key_is_booked_once(client, people, db, called):
    headers = {**people.as_organizer, "Idempotency-Key": "spei-0012345"}
    first = transfer(client, called.a, 40_000_00, headers)
    again = transfer(client, called.a, 40_000_00, headers)
    assert expect(first, 201) == expect(again, 201) and again.headers.get("Idempotent-Replayed") == "true"
    assert counts(db)["Payment"] == 1
    assert len([t for t in transactions_of(called.fund) if t.kind == LedgerKind.PAYMENT]) == 1
    assert shown_line(client, people, called.call, called.a)["paid_cents"] == 40_000_00
    before = counts(db)
    expect_problem(transfer(client, called.a, 50_000_00, headers), 422, "Idempotency-Key")
    expect_problem(transfer(client, called.b, 40_000_00, headers), 422, "Idempotency-Key")  # another line
    assert counts(db) == before


@pytest.mark.parametrize("overrides, field", [
    ({"amount_cents": 0}, "amount_cents"),
    ({"amount_cents": -100}, "amount_cents"),
    ({"amount_cents": 10.5}, "amount_cents"),
    ({"paid_on": (date.today() + timedelta(days=2)).isoformat()}, "paid_on"),
    ({"paid_on": "ayer"}, "paid_on"),
    ({"reference": ""}, "reference"),
    ({"reference": "   "}, "reference"),
    ({"reference": "R" * 81}, "reference"),
])
def test_an_invalid_transfer_is_422_and_books_nothing(client, people, db, called, overrides, field):
    before = counts(db)
    expect_problem(transfer(client, called.a, 10_000_00, people.as_organizer, **overrides), 422, field)
    assert counts(db) == before


def test_an_unpaid_line_past_its_due_date_is_overdue(client, people, db, called):
    called.call.notice_date = today() - timedelta(days=40)
    called.call.due_date = today() - timedelta(days=10)
    db.session.commit()
    assert shown_line(client, people, called.call, called.a)["status"] == "overdue"
    expect(transfer(client, called.a, 1_00, people.as_organizer), 201)
    assert shown_line(client, people, called.call, called.a)["status"] == "partial"


def test_only_organizers_record_transfers(client, people, db, called):
    for headers in (people.as_a, people.as_entrepreneur, people.as_judge):
        expect_problem(transfer(client, called.a, 10_000_00, headers), 403)
    expect_problem(transfer(client, called.a, 10_000_00, {}), 401)
    assert counts(db)["Payment"] == 0


# --------------------------------------------------------------------------
# POST /funds/{id}/allocations, POST /allocations/{id}/reversal
# --------------------------------------------------------------------------


@pytest.fixture
def paid_in(people, db, called, make):
    """120,000.00 paid in (A paid in full, B 20,000.00 of 50,000.00) and a public venture."""
    pay(called.a, people, db, 100_000_00)
    pay(called.b, people, db, 20_000_00)
    called.venture = public_venture(make, db)
    return called


def allocate(client, fund, venture_id, amount, headers, **extra):
    return client.post(f"{API}/funds/{fund.id}/allocations",
                       json={"venture_id": venture_id, "amount_cents": amount, **extra}, headers=headers)


def test_allocations_never_exceed_available_capital(client, people, db, paid_in):
    before = counts(db)
    expect_problem(allocate(client, paid_in.fund, paid_in.venture.id, 120_000_01, people.as_organizer), 409)
    assert counts(db) == before
    body = expect(allocate(client, paid_in.fund, paid_in.venture.id, 120_000_00, people.as_organizer,
                           note="Ronda semilla"), 201)
    assert (body["venture_id"], body["amount_cents"], body["note"], body["reversed_at"]) == (
        paid_in.venture.id, 120_000_00, "Ronda semilla", None)
    figures = ledger.fund_figures(paid_in.fund.id)
    assert (figures.allocated_cents, figures.available_cents) == (120_000_00, 0)
    [booked] = [t for t in transactions_of(paid_in.fund) if t.kind == LedgerKind.ALLOCATION]
    assert sorted((e.account, e.venture_id, e.amount_cents) for e in booked.entries) == [
        ("allocated", paid_in.venture.id, 120_000_00), ("cash", None, -120_000_00)]
    before = counts(db)
    expect_problem(allocate(client, paid_in.fund, paid_in.venture.id, 1, people.as_organizer), 409)
    assert counts(db) == before


def test_an_overpayment_cannot_be_allocated(client, people, db, paid_in):
    pay(paid_in.a, people, db, 50_000_00)  # company A overpays: not the fund's capital to allocate
    expect_problem(allocate(client, paid_in.fund, paid_in.venture.id, 120_000_01, people.as_organizer), 409)


def test_only_public_ventures_receive_allocations(client, people, db, paid_in, make):
    private = make.venture()
    rejected = make.venture()
    from pitchtank.events import services as events

    events.decide(make.submission(rejected), accept=False, note="", actor=people.organizer)
    db.session.commit()
    before = counts(db)
    for venture_id in (private.id, rejected.id, 987654):
        expect_problem(allocate(client, paid_in.fund, venture_id, 10_000_00, people.as_organizer), 422,
                       "venture_id")
    assert counts(db) == before


def test_a_repeated_allocation_with_the_same_key_is_made_once(client, people, db, paid_in):
    headers = {**people.as_organizer, "Idempotency-Key": "alloc-1"}
    first = allocate(client, paid_in.fund, paid_in.venture.id, 70_000_00, headers)
    again = allocate(client, paid_in.fund, paid_in.venture.id, 70_000_00, headers)
    assert expect(first, 201) == expect(again, 201)
    assert counts(db)["Allocation"] == 1 and ledger.fund_figures(paid_in.fund.id).allocated_cents == 70_000_00


def test_a_reversal_mirrors_the_allocation_once(client, people, db, paid_in):
    made = expect(allocate(client, paid_in.fund, paid_in.venture.id, 80_000_00, people.as_organizer), 201)
    url = f"{API}/allocations/{made['id']}/reversal"
    body = expect(client.post(url, json={"reason": "Error de captura"}, headers=people.as_organizer), 200)
    assert body["id"] == made["id"] and body["reversed_at"] is not None
    figures = ledger.fund_figures(paid_in.fund.id)
    assert (figures.allocated_cents, figures.available_cents) == (0, 120_000_00)
    original, reversal = [t for t in transactions_of(paid_in.fund)
                          if t.kind in {LedgerKind.ALLOCATION, LedgerKind.REVERSAL}]
    assert (reversal.kind, reversal.reverses_id, reversal.allocation_id) == (
        LedgerKind.REVERSAL, original.id, made["id"])
    assert sorted((e.account, e.amount_cents) for e in reversal.entries) == sorted(
        (e.account, -e.amount_cents) for e in original.entries)
    assert db.session.get(Allocation, made["id"]).amount_cents == 80_000_00  # never edited

    before = counts(db)
    expect_problem(client.post(url, json={"reason": "otra vez"}, headers=people.as_organizer), 409)
    assert counts(db) == before
    # The capital is available again.
    expect(allocate(client, paid_in.fund, paid_in.venture.id, 120_000_00, people.as_organizer), 201)


def test_only_organizers_allocate_and_reverse(client, people, db, paid_in):
    made = services.allocate(paid_in.fund.id, people.organizer, venture_id=paid_in.venture.id, amount_cents=1_00)
    db.session.commit()
    for headers, status in ((people.as_a, 403), (people.as_entrepreneur, 403), (people.as_judge, 403), ({}, 401)):
        expect_problem(allocate(client, paid_in.fund, paid_in.venture.id, 1_00, headers), status)
        expect_problem(client.post(f"{API}/allocations/{made.id}/reversal", json={"reason": "x"}, headers=headers),
                       status)
    assert counts(db)["Allocation"] == 1 and db.session.get(Allocation, made.id).reversed_at is None


# --------------------------------------------------------------------------
# GET /funds/{id}/ledger
# --------------------------------------------------------------------------


def test_the_ledger_lists_every_movement_oldest_first_balanced(client, people, db, paid_in):
    other = open_fund(people, db, name="Fondo Semilla")
    services.pledge(other.id, people.investor_a, 300_000_00)
    db.session.commit()
    services.change_pledge(paid_in.a.pledge_id, people.investor_a, 1_100_000_00)
    db.session.commit()
    made = expect(allocate(client, paid_in.fund, paid_in.venture.id, 10_000_00, people.as_organizer), 201)
    expect(client.post(f"{API}/allocations/{made['id']}/reversal", json={"reason": "Duplicada"},
                       headers=people.as_organizer), 200)

    body = expect(client.get(f"{API}/funds/{paid_in.fund.id}/ledger", headers=people.as_organizer), 200)
    assert (body["fund_id"], body["currency"]) == (paid_in.fund.id, "MXN")
    kinds = [t["kind"] for t in body["transactions"]]
    assert kinds == ["pledge", "pledge", "capital_call", "capital_call", "payment", "payment", "pledge_change",
                     "allocation", "reversal"]
    ids = [t["id"] for t in body["transactions"]]
    assert ids == sorted(ids)
    stamps = [datetime.fromisoformat(t["created_at"]) for t in body["transactions"]]
    assert stamps == sorted(stamps) and all(stamp.utcoffset() is not None for stamp in stamps)
    for transaction in body["transactions"]:
        assert len(transaction["entries"]) >= 2
        assert sum(e["amount_cents"] for e in transaction["entries"]) == 0
        assert all(e["currency"] == "MXN" and e["amount_cents"] != 0 for e in transaction["entries"])
    assert sum(e["amount_cents"] for t in body["transactions"] for e in t["entries"]) == 0
    assert body["transactions"][-1]["reverses_id"] == body["transactions"][-2]["id"]
    # Only this fund's movements.
    assert len(body["transactions"]) == db.session.scalar(
        select(func.count()).select_from(LedgerTransaction).where(LedgerTransaction.fund_id == paid_in.fund.id))


@pytest.mark.parametrize("who, status", [("a", 403), ("entrepreneur", 403), ("judge", 403), (None, 401)])
def test_only_organizers_read_the_ledger(client, people, db, pledged, who, status):
    headers = getattr(people, f"as_{who}") if who else {}
    expect_problem(client.get(f"{API}/funds/{pledged.fund.id}/ledger", headers=headers), status)
