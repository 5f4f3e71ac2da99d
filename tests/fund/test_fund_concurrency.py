"""On PostgreSQL: concurrent requests against the fund endpoints. A pledge sent 50 times at once
with one Idempotency-Key is made once; transfers racing on one call line are each booked once
and never pay a line beyond what it called."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from pitchtank.accounts.models import Role
from pitchtank.api.idempotency import IdempotencyRecord
from pitchtank.core.types import utcnow
from pitchtank.fund import ledger, services
from pitchtank.fund.models import LedgerEntry, LedgerKind, LedgerTransaction, Payment, Pledge
from tests.conftest import DATABASE_URL

pytestmark = pytest.mark.skipif(
    not (DATABASE_URL or "").startswith("postgres"),
    reason="needs PostgreSQL (DATABASE_URL=postgresql://...): SQLite serialises every writer, so there is "
           "no race to test; CI runs this suite on PostgreSQL too")

VALID_CLABE = "002010077777777771"
STILL_PROCESSING = "A request with this Idempotency-Key is still being processed; retry shortly."


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    json: dict | None
    replayed: bool


def run_together(app, count: int, request):
    """``request(client, i)`` from ``count`` threads released at the same moment, each with its
    own test client (so its own app context and database session)."""
    barrier = threading.Barrier(count)

    def one(i: int) -> Answer:
        client = app.test_client()
        barrier.wait(timeout=120)
        response = request(client, i)
        return Answer(response.status_code, response.get_data(), response.get_json(silent=True),
                      response.headers.get("Idempotent-Replayed") == "true")

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def open_fund(organizer, db):
    fund = services.create_fund(organizer, services.FundData(
        name="Fondo Clúster Bajío", target_cents=50_000_000_00, min_pledge_cents=100_000_00,
        commitment_deadline=utcnow().date() + timedelta(days=90), clabe=VALID_CLABE))
    db.session.commit()
    return fund


def assert_balanced(fund_id: int, db) -> None:
    unbalanced = db.session.execute(
        select(LedgerEntry.transaction_id).where(LedgerEntry.fund_id == fund_id)
        .group_by(LedgerEntry.transaction_id).having(func.sum(LedgerEntry.amount_cents) != 0)).all()
    assert unbalanced == []
    assert ledger.ledger_sum(fund_id) == 0


def test_fifty_simultaneous_pledges_with_one_key_make_one_pledge(app, db, make, api_token):
    organizer, investor = make.user(Role.ORGANIZER), make.user(Role.INVESTOR)
    fund = open_fund(organizer, db)
    headers = {**api_token(investor), "Idempotency-Key": "pledge-bajio-2027", "Accept-Language": "en"}
    fund_id, investor_id, org_id = fund.id, investor.id, investor.organization_id
    url = f"/api/v1/funds/{fund_id}/pledges"
    db.session.close()

    answers = run_together(app, 50, lambda client, _i: client.post(
        url, json={"amount_cents": 1_000_000_00}, headers=headers))

    created = [a for a in answers if a.status == 201]
    waiting = [a for a in answers if a.status == 409]
    assert len(created) + len(waiting) == 50, sorted({(a.status, a.body) for a in answers})
    # The request that did the work answered 201 itself; every other 201 is its replay, byte for byte.
    originals = [a for a in created if not a.replayed]
    assert len(originals) == 1, [(a.status, a.replayed) for a in answers]
    assert all(a.body == originals[0].body for a in created)
    pledge_id = originals[0].json["id"]
    assert originals[0].json["amount_cents"] == 1_000_000_00
    # A repeat still waiting for the first after the wait limit gets the documented 409.
    for answer in waiting:
        assert answer.json["status"] == 409 and answer.json["detail"] == STILL_PROCESSING, answer.json

    assert db.session.scalars(select(Pledge.id)).all() == [pledge_id]
    [transaction] = db.session.scalars(select(LedgerTransaction)).all()
    assert (transaction.kind, transaction.pledge_id) == (LedgerKind.PLEDGE, pledge_id)
    [record] = db.session.scalars(select(IdempotencyRecord)).all()
    assert (record.user_id, record.status_code, record.response_body) == (investor_id, 201, originals[0].body)
    assert ledger.company_figures(fund_id, org_id).committed_cents == 1_000_000_00
    assert_balanced(fund_id, db)

    # Once settled, a late repeat is a plain replay.
    late = app.test_client().post(url, json={"amount_cents": 1_000_000_00}, headers=headers)
    assert late.status_code == 201 and late.get_data() == originals[0].body
    assert late.headers["Idempotent-Replayed"] == "true"


@pytest.fixture
def called_line(make, db):
    """Company A pledged 1,000,000.00; a 10 % call: its line owes 100,000.00."""
    organizer, investor = make.user(Role.ORGANIZER), make.user(Role.INVESTOR)
    fund = open_fund(organizer, db)
    services.pledge(fund.id, investor, 1_000_000_00)
    call = services.issue_capital_call(fund.id, organizer, percent=Decimal("10"),
                                       due_date=utcnow().date() + timedelta(days=30))
    db.session.commit()
    return fund, call.lines[0], organizer, investor


def test_ten_simultaneous_transfers_on_one_line_are_each_booked_once(app, db, api_token, called_line):
    fund, line, organizer, investor = called_line
    headers = api_token(organizer)
    fund_id, line_id, org_id = fund.id, line.id, investor.organization_id
    db.session.close()

    # 10 x 15,000.00 = 150,000.00 against a line of 100,000.00: the last ones overpay.
    answers = run_together(app, 10, lambda client, i: client.post(
        f"/api/v1/call-lines/{line_id}/transfers",
        json={"amount_cents": 15_000_00, "paid_on": (utcnow().date() - timedelta(days=1)).isoformat(),
              "reference": f"SPEI {i:04d}"},
        headers=headers))

    assert [a.status for a in answers] == [201] * 10, [a.body for a in answers]
    payment_ids = sorted(a.json["id"] for a in answers)
    assert len(set(payment_ids)) == 10
    assert sorted(db.session.scalars(select(Payment.id)).all()) == payment_ids
    booked = db.session.scalars(select(LedgerTransaction).where(LedgerTransaction.kind == LedgerKind.PAYMENT)).all()
    assert sorted(t.payment_id for t in booked) == payment_ids  # each payment booked exactly once
    assert_balanced(fund_id, db)

    def total(account: str, organization_id: int | None = None) -> int:
        statement = select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
            LedgerEntry.fund_id == fund_id, LedgerEntry.account == account)
        if organization_id is not None:
            statement = statement.where(LedgerEntry.organization_id == organization_id)
        return db.session.scalar(statement)

    assert total(ledger.CASH) == 150_000_00
    assert total(ledger.RECEIVABLE, org_id) == 0  # paid exactly what was called, never more
    assert total(ledger.OVERPAID, org_id) == -50_000_00
    assert ledger.line_outstanding(line_id) == 0
    figures = ledger.company_figures(fund_id, org_id)
    assert (figures.called_cents, figures.paid_cents, figures.overpaid_cents) == (100_000_00, 100_000_00, 50_000_00)
    assert figures.paid_cents <= figures.called_cents <= figures.committed_cents
    fund_figures = ledger.fund_figures(fund_id)
    assert (fund_figures.paid_in_cents, fund_figures.available_cents) == (100_000_00, 100_000_00)


def test_ten_simultaneous_transfers_with_one_key_are_one_payment(app, db, api_token, called_line):
    fund, line, organizer, _investor = called_line
    headers = {**api_token(organizer), "Idempotency-Key": "spei-0001", "Accept-Language": "en"}
    fund_id, line_id = fund.id, line.id
    db.session.close()
    body = {"amount_cents": 40_000_00, "paid_on": (utcnow().date() - timedelta(days=1)).isoformat(),
            "reference": "SPEI 0001"}

    answers = run_together(app, 10, lambda client, _i: client.post(
        f"/api/v1/call-lines/{line_id}/transfers", json=body, headers=headers))

    created = [a for a in answers if a.status == 201]
    assert all(a.status == 201 or (a.status == 409 and a.json["detail"] == STILL_PROCESSING) for a in answers), \
        [(a.status, a.body) for a in answers]
    assert len([a for a in created if not a.replayed]) == 1
    assert len({a.body for a in created}) == 1
    assert db.session.scalar(select(func.count()).select_from(Payment)) == 1
    assert db.session.scalar(select(func.count()).select_from(LedgerTransaction)
                             .where(LedgerTransaction.kind == LedgerKind.PAYMENT)) == 1
    assert ledger.line_outstanding(line_id) == 60_000_00
    assert_balanced(fund_id, db)


def test_a_pledge_change_racing_a_capital_call_does_not_deadlock(app, db, make, api_token, monkeypatch):
    """A capital call holds the fund's lock and, inserting call lines, needs a key-share lock on
    each pledge; a pledge change must therefore take the fund's lock before the pledge's, or the
    two deadlock and PostgreSQL aborts one of them. The change is held just before it asks for
    the fund until the call is blocked (or done), which forces the bad interleaving if it exists."""
    organizer, investor = make.user(Role.ORGANIZER), make.user(Role.INVESTOR)
    fund = open_fund(organizer, db)
    pledge = services.pledge(fund.id, investor, 1_000_000_00)
    db.session.commit()
    as_investor, as_organizer = api_token(investor), api_token(organizer)
    fund_id, pledge_id, org_id = fund.id, pledge.id, investor.organization_id
    db.session.close()

    call_may_start, call_finished = threading.Event(), threading.Event()
    get_fund = services.get_fund

    def held_get_fund(wanted_id, *, for_update=False):
        if for_update and threading.current_thread().name == "pledge-change" and not call_may_start.is_set():
            call_may_start.set()
            with db.engine.connect() as watcher:  # wait until the call waits on a lock, or is done
                deadline = time.monotonic() + 60
                while not call_finished.is_set() and time.monotonic() < deadline:
                    blocked = watcher.execute(text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock'")).scalar()
                    if blocked:
                        break
                    watcher.rollback()
                    time.sleep(0.05)
        return get_fund(wanted_id, for_update=for_update)

    monkeypatch.setattr(services, "get_fund", held_get_fund)
    answers: dict[str, tuple[int, str]] = {}

    def change():
        response = app.test_client().patch(f"/api/v1/pledges/{pledge_id}", json={"amount_cents": 2_000_000_00},
                                           headers=as_investor)
        answers["change"] = (response.status_code, response.get_data(as_text=True))

    def capital_call():
        call_may_start.wait(timeout=60)
        try:
            response = app.test_client().post(
                f"/api/v1/funds/{fund_id}/capital-calls", headers=as_organizer,
                json={"percent": "10", "due_date": (utcnow().date() + timedelta(days=30)).isoformat()})
            answers["call"] = (response.status_code, response.get_data(as_text=True))
        finally:
            call_finished.set()

    threads = [threading.Thread(target=change, name="pledge-change"), threading.Thread(target=capital_call)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert answers["change"][0] == 200 and answers["call"][0] == 201, answers
    figures = ledger.company_figures(fund_id, org_id)
    assert figures.committed_cents == 2_000_000_00
    assert figures.called_cents in {100_000_00, 200_000_00}  # 10 % of the commitment before or after
    assert figures.paid_cents <= figures.called_cents <= figures.committed_cents
    assert_balanced(fund_id, db)
