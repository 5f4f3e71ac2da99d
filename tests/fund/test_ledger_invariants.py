"""The fund's ledger under random sequences of real service calls.

Every step runs like a request: the service is called, then committed, or rolled back when it
refuses with a DomainError. After each step the money must still add up: per company
paid <= called <= committed, nothing negative; for the fund allocated <= paid in; every
transaction and the whole ledger sum to zero; each capital call's lines add up to its total;
and a refused operation changes nothing. A shadow model written from the documented rules
predicts every figure and every refusal. The random runs are a hypothesis state machine
(30 runs of up to 15 steps; FUND_LEDGER_EXAMPLES=500 for a longer hunt); while they run, a
guard fails any UPDATE or DELETE of ledger rows, which PostgreSQL itself also refuses.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_event
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from pitchtank.accounts.models import Role
from pitchtank.core.errors import Conflict, DomainError, ValidationFailed
from pitchtank.core.types import utcnow
from pitchtank.fund import ledger, services
from pitchtank.fund.models import (
    Allocation,
    CallLine,
    CapitalCall,
    LedgerEntry,
    LedgerKind,
    LedgerTransaction,
    Payment,
    Pledge,
    PledgeStatus,
)
from tests import factories
from tests.conftest import _empty_all_tables

VALID_CLABE = "002010077777777771"
OUTCOMES: Counter[str] = Counter()  # what the random runs did, for a look with a debugger or -s
MIN_PLEDGE = 100_000  # 1,000.00 MXN


# --------------------------------------------------------------------------
# split_pro_rata and is_valid_clabe
# --------------------------------------------------------------------------


def test_split_pro_rata_gives_the_residue_to_the_largest_commitment():
    amounts = {1: 1_000_001, 2: 2_000_000, 3: 333}
    shares = services.split_pro_rata(amounts, 3333, caps={})
    # 33.33 % of 3,000,334 is 1,000,011.3222: the call is 1,000,011 centavos.
    # Floors: 333,300 + 666,600 + 110 = 1,000,010; the one centavo left goes to company 2.
    assert shares == {1: 333_300, 2: 666_601, 3: 110}
    assert sum(shares.values()) == sum(amounts.values()) * 3333 // 10_000 == 1_000_011


def test_split_pro_rata_breaks_a_tie_for_largest_deterministically():
    shares = services.split_pro_rata({7: 101, 4: 101, 9: 1}, 5000, caps={})
    # 50 % of 203 is 101 (floor of 101.5); floors 50 + 50 + 0 = 100; one centavo of residue.
    assert sum(shares.values()) == 101
    assert shares == {4: 51, 7: 50}  # the smaller id wins the tie; a zero share has no line


def test_split_pro_rata_caps_each_share_and_drops_empty_lines():
    shares = services.split_pro_rata({1: 1_000_000, 2: 500_000}, 5000, caps={1: 100_000, 2: 0})
    assert shares == {1: 100_000}


def test_split_pro_rata_of_everything_is_every_commitment():
    amounts = {1: 123_457, 2: 9_999_999, 3: 100_000}
    assert services.split_pro_rata(amounts, 10_000, caps={}) == amounts


@settings(max_examples=200, deadline=None)
@given(amounts=st.dictionaries(st.integers(1, 10_000), st.integers(1, 10**12), min_size=1, max_size=70),
       percent_bp=st.integers(1, 10_000))
def test_split_pro_rata_lines_add_up_exactly_to_the_call(amounts, percent_bp):
    shares = services.split_pro_rata(amounts, percent_bp, caps={})
    call_total = sum(amounts.values()) * percent_bp // 10_000
    assert sum(shares.values()) == call_total
    assert all(isinstance(share, int) and share > 0 for share in shares.values())
    largest = max(amounts, key=lambda org: (amounts[org], -org))
    for org, amount in amounts.items():
        floor = amount * percent_bp // 10_000
        if org == largest:
            assert 0 <= shares.get(org, 0) - floor < len(amounts)
        else:
            assert shares.get(org, 0) == floor


def test_a_valid_clabe_passes():
    assert services.is_valid_clabe(VALID_CLABE)


def test_a_clabe_with_any_one_digit_off_fails():
    for position in range(18):
        for digit in "0123456789":
            if digit == VALID_CLABE[position]:
                continue
            wrong = VALID_CLABE[:position] + digit + VALID_CLABE[position + 1:]
            assert not services.is_valid_clabe(wrong), wrong


@pytest.mark.parametrize("clabe", ["", "00201007777777777", "0020100777777777710", "00201007777777777a",
                                   " 02010077777777771", "002010077777777771\n", "００２０１００７７７７７７７７７１"])
def test_a_clabe_of_the_wrong_shape_fails(clabe):
    assert not services.is_valid_clabe(clabe)


# --------------------------------------------------------------------------
# Append-only: the database refuses, and the services never try
# --------------------------------------------------------------------------

LEDGER_MODELS = (LedgerEntry, LedgerTransaction)
LEDGER_REWRITE = re.compile(r"^\s*(UPDATE|DELETE\s+FROM)\s+\"?ledger_(entries|transactions)\b", re.IGNORECASE)


class LedgerRewriteGuard:
    """Fails any ORM update/delete of a ledger row, and any UPDATE/DELETE statement sent to a
    ledger table, while installed."""

    def __init__(self, engine):
        self.engine = engine
        self.violations: list[str] = []

    def _before_flush(self, session, _context, _instances):
        for obj in list(session.dirty) + list(session.deleted):
            if isinstance(obj, LEDGER_MODELS) and (obj in session.deleted or session.is_modified(obj)):
                self.violations.append(f"{'delete' if obj in session.deleted else 'update'} of {obj!r}")
                raise AssertionError(f"the services rewrote ledger history: {self.violations[-1]}")

    def _before_cursor_execute(self, _conn, _cursor, statement, _parameters, _context, _executemany):
        if LEDGER_REWRITE.match(statement):
            self.violations.append(statement)
            raise AssertionError(f"the services sent a ledger rewrite: {statement}")

    def __enter__(self):
        event.listen(Session, "before_flush", self._before_flush)
        event.listen(self.engine, "before_cursor_execute", self._before_cursor_execute)
        return self

    def __exit__(self, *exc_info):
        event.remove(Session, "before_flush", self._before_flush)
        event.remove(self.engine, "before_cursor_execute", self._before_cursor_execute)
        return None


def _small_ledger(db):
    organizer = factories.user(Role.ORGANIZER)
    investor = factories.user(Role.INVESTOR)
    fund = services.create_fund(organizer, services.FundData(
        name="Fondo", target_cents=10_000_000, min_pledge_cents=MIN_PLEDGE,
        commitment_deadline=utcnow().date() + timedelta(days=90), clabe=VALID_CLABE))
    services.pledge(fund.id, investor, 1_000_000)
    db.session.commit()
    return fund


def test_the_guard_itself_catches_an_orm_edit_and_a_raw_delete(db):
    _small_ledger(db)
    entry = db.session.scalars(select(LedgerEntry)).first()
    with LedgerRewriteGuard(db.engine) as guard:
        entry.amount_cents += 1
        with pytest.raises(AssertionError, match="rewrote ledger history"):
            db.session.flush()
        db.session.rollback()
        with pytest.raises(AssertionError, match="ledger rewrite"):
            db.session.execute(text("DELETE FROM ledger_entries"))
        db.session.rollback()
    assert len(guard.violations) == 2


@pytest.mark.parametrize("statement", [
    "UPDATE ledger_entries SET amount_cents = 0",
    "DELETE FROM ledger_entries",
    "UPDATE ledger_transactions SET memo = 'edited'",
    "DELETE FROM ledger_transactions",
])
def test_postgresql_refuses_to_rewrite_ledger_rows(db, statement):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the append-only triggers exist on PostgreSQL; SQLite runs are covered by the guard")
    _small_ledger(db)
    before = db.session.execute(select(LedgerEntry.id, LedgerEntry.amount_cents).order_by(LedgerEntry.id)).all()
    assert before  # a row-level trigger only fires when there is a row
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(text(statement))
    db.session.rollback()
    after = db.session.execute(select(LedgerEntry.id, LedgerEntry.amount_cents).order_by(LedgerEntry.id)).all()
    assert after == before
    assert db.session.scalar(select(func.count(LedgerTransaction.id))) == 1


# --------------------------------------------------------------------------
# Random sequences of service calls
# --------------------------------------------------------------------------

@dataclass
class Shadow:
    """What the figures must be, computed from the rules and the operations alone."""

    committed: dict[int, int] = field(default_factory=dict)
    active: dict[int, bool] = field(default_factory=dict)
    cooling_over: dict[int, bool] = field(default_factory=dict)
    called: dict[int, int] = field(default_factory=dict)
    overpaid: dict[int, int] = field(default_factory=dict)
    line_outstanding: dict[int, int] = field(default_factory=dict)  # by call line id
    line_org: dict[int, int] = field(default_factory=dict)
    allocations: dict[int, tuple[int, bool]] = field(default_factory=dict)  # id -> (amount, reversed)
    paid_in: int = 0

    @property
    def allocated(self) -> int:
        return sum(amount for amount, reversed_ in self.allocations.values() if not reversed_)

    def expected_call(self, percent_bp: int) -> dict[int, int]:
        """The documented split: floors, residue to the largest commitment, capped by what is uncalled."""
        commitments = {org: c for org, c in self.committed.items() if self.active.get(org) and c > 0}
        total = sum(commitments.values()) * percent_bp // 10_000
        shares = {org: c * percent_bp // 10_000 for org, c in commitments.items()}
        residue = total - sum(shares.values())
        if residue:
            shares[max(commitments, key=lambda org: (commitments[org], -org))] += residue
        capped = {org: min(share, self.committed[org] - self.called.get(org, 0)) for org, share in shares.items()}
        return {org: share for org, share in capped.items() if share > 0}


class Run:
    """One example: a fund, 2-4 investor companies, one public and one private venture."""

    def __init__(self, db, companies: int):
        self.db = db
        self.organizer = factories.user(Role.ORGANIZER)
        self.investors = [factories.user(Role.INVESTOR) for _ in range(companies)]
        self.orgs = [investor.organization_id for investor in self.investors]
        self.public_venture = factories.venture()
        factories.submission(self.public_venture, accepted=True)
        self.private_venture = factories.venture()
        self.fund = services.create_fund(self.organizer, services.FundData(
            name="Fondo Clúster Bajío", target_cents=100_000_000, min_pledge_cents=MIN_PLEDGE,
            commitment_deadline=utcnow().date() + timedelta(days=90), clabe=VALID_CLABE))
        db.session.commit()
        self.fund_id = self.fund.id
        self.shadow = Shadow()
        self.lines: list[int] = []
        self.allocation_ids: list[int] = []
        self.log: list[str] = []
        self.operation = ""

    # -- doing one step like a request ------------------------------------------------------

    def snapshot(self):
        session = self.db.session
        counts = tuple(session.scalar(select(func.count()).select_from(model))
                       for model in (LedgerTransaction, LedgerEntry, Pledge, CapitalCall, CallLine, Payment,
                                     Allocation))
        pledges = session.execute(select(Pledge.id, Pledge.status, Pledge.cooling_off_until).order_by(Pledge.id)).all()
        allocations = session.execute(select(Allocation.id, Allocation.reversed_at).order_by(Allocation.id)).all()
        return counts, pledges, allocations, ledger.fund_figures(self.fund_id)

    def attempt(self, action, refusal: type[DomainError] | None):
        outcome = f"{self.operation}: {refusal.__name__ if refusal else 'done'}"
        note_event(outcome)
        OUTCOMES[outcome] += 1
        before = self.snapshot()
        try:
            result = action()
        except DomainError as error:
            self.db.session.rollback()
            self.log.append(f"  -> refused {type(error).__name__}: {error.message}")
            assert refusal is not None and isinstance(error, refusal), (
                f"unexpected refusal {type(error).__name__} ({error.message}); expected {refusal}\n"
                + "\n".join(self.log))
            assert self.snapshot() == before, "a refused operation changed something\n" + "\n".join(self.log)
            return None
        self.db.session.commit()
        self.log.append("  -> done")
        assert refusal is None, f"expected a {refusal.__name__} refusal\n" + "\n".join(self.log)
        return result

    def pledge_of(self, org: int) -> Pledge | None:
        return self.db.session.scalar(select(Pledge).where(Pledge.fund_id == self.fund_id,
                                                           Pledge.organization_id == org))

    # -- the operations ----------------------------------------------------------------------

    def step(self, operation: tuple) -> None:
        self.log.append(repr(operation))
        self.operation = operation[0]
        getattr(self, "op_" + operation[0])(*operation[1:])
        self.check()

    def op_pledge(self, company: int, amount: int) -> None:
        investor = self.investors[company % len(self.investors)]
        org, shadow = investor.organization_id, self.shadow
        refusal = (ValidationFailed if amount < MIN_PLEDGE else Conflict if shadow.active.get(org) else None)
        if self.attempt(lambda: services.pledge(self.fund_id, investor, amount), refusal):
            shadow.committed[org], shadow.active[org], shadow.cooling_over[org] = amount, True, False

    def _change(self, company: int, new_amount) -> None:
        investor = self.investors[company % len(self.investors)]
        org, shadow = investor.organization_id, self.shadow
        current = self.pledge_of(org)
        if current is None:
            self.log.append("  -> skipped: no pledge")
            return
        committed = shadow.committed[org]
        new_amount = new_amount(committed)
        refusal = None
        if not shadow.active[org]:
            refusal = Conflict
        elif new_amount < committed:
            if shadow.cooling_over[org]:
                refusal = Conflict
            elif new_amount < shadow.called.get(org, 0) or 0 < new_amount < MIN_PLEDGE:
                refusal = ValidationFailed
        self.log[-1] += f" {committed} -> {new_amount}"
        if self.attempt(lambda: services.change_pledge(current.id, investor, new_amount), refusal):
            shadow.committed[org] = new_amount
            shadow.active[org] = new_amount > 0

    def op_raise(self, company: int, delta: int) -> None:
        self._change(company, lambda committed: committed + delta)

    def op_lower(self, company: int, percent: int) -> None:
        self._change(company, lambda committed: committed * percent // 100)

    def op_cancel(self, company: int) -> None:
        self._change(company, lambda committed: 0)

    def op_end_cooling_off(self, company: int) -> None:
        org = self.orgs[company % len(self.orgs)]
        current = self.pledge_of(org)
        if current is None:
            self.log.append("  -> skipped: no pledge")
            return
        current.cooling_off_until = utcnow() - timedelta(minutes=1)
        self.db.session.commit()
        self.shadow.cooling_over[org] = True

    def op_call(self, percent_bp: int) -> None:
        shadow = self.shadow
        expected = shadow.expected_call(percent_bp)
        percent = Decimal(percent_bp).scaleb(-2)
        call = self.attempt(lambda: services.issue_capital_call(
            self.fund_id, self.organizer, percent=percent, due_date=utcnow().date() + timedelta(days=30)),
            None if expected else Conflict)
        if call is None:
            return
        assert {line.organization_id: line.amount_cents for line in call.lines} == expected
        assert call.total_cents == sum(expected.values())
        for line in call.lines:
            self.lines.append(line.id)
            shadow.line_outstanding[line.id] = line.amount_cents
            shadow.line_org[line.id] = line.organization_id
            shadow.called[line.organization_id] = shadow.called.get(line.organization_id, 0) + line.amount_cents

    def op_transfer(self, index: int, kind: str, amount: int) -> None:
        if not self.lines:
            self.log.append("  -> skipped: no call line")
            return
        shadow = self.shadow
        line_id = self.lines[index % len(self.lines)]
        owed = shadow.line_outstanding[line_id]
        if kind == "partial" and owed >= 2:
            amount = 1 + amount % (owed - 1)
        elif kind in {"partial", "exact"} and owed > 0:
            amount = owed
        elif kind == "over":
            amount = owed + amount
        self.log[-1] += f" line {line_id} owes {owed}, pays {amount}"
        payment = self.attempt(lambda: services.record_transfer(
            line_id, self.organizer, amount_cents=amount, paid_on=utcnow().date(), reference=f"SPEI {line_id}"),
            None)
        assert payment.amount_cents == amount
        applied = min(amount, owed)
        shadow.line_outstanding[line_id] -= applied
        org = shadow.line_org[line_id]
        shadow.overpaid[org] = shadow.overpaid.get(org, 0) + amount - applied
        shadow.paid_in += applied

    def op_allocate(self, percent: int, public: bool) -> None:
        shadow = self.shadow
        available = shadow.paid_in - shadow.allocated
        amount = max(1, available * percent // 100)
        venture = self.public_venture if public else self.private_venture
        refusal = ValidationFailed if not public else Conflict if amount > available else None
        self.log[-1] += f" available {available}, allocates {amount}"
        allocation = self.attempt(lambda: services.allocate(
            self.fund_id, self.organizer, venture_id=venture.id, amount_cents=amount), refusal)
        if allocation is not None:
            self.allocation_ids.append(allocation.id)
            shadow.allocations[allocation.id] = (amount, False)

    def op_reverse(self, index: int) -> None:
        if not self.allocation_ids:
            self.log.append("  -> skipped: no allocation")
            return
        allocation_id = self.allocation_ids[index % len(self.allocation_ids)]
        amount, reversed_ = self.shadow.allocations[allocation_id]
        if self.attempt(lambda: services.reverse_allocation(allocation_id, self.organizer, "Error de captura"),
                        Conflict if reversed_ else None):
            self.shadow.allocations[allocation_id] = (amount, True)

    # -- the invariants ----------------------------------------------------------------------

    def check(self) -> None:
        session, shadow, fund_id = self.db.session, self.shadow, self.fund_id
        trail = "\n".join(self.log)

        sums = select(LedgerEntry.transaction_id, func.sum(LedgerEntry.amount_cents), func.count(LedgerEntry.id)) \
            .group_by(LedgerEntry.transaction_id)
        per_transaction = session.execute(sums).all()
        assert all(total == 0 and count >= 2 for _id, total, count in per_transaction), (per_transaction, trail)
        transaction_count = session.scalar(select(func.count(LedgerTransaction.id)))
        assert len(per_transaction) == transaction_count, "a transaction without entries"
        assert ledger.ledger_sum(fund_id) == 0
        assert session.scalar(select(func.count()).where(LedgerEntry.amount_cents == 0)) == 0
        assert session.scalar(select(func.count()).select_from(LedgerEntry)
                              .where(LedgerEntry.fund_id != fund_id)) == 0

        companies = ledger.all_company_figures(fund_id)
        for org in self.orgs:
            figures = companies.get(org)
            committed = figures.committed_cents if figures else 0
            called = figures.called_cents if figures else 0
            paid = figures.paid_cents if figures else 0
            assert 0 <= paid <= called <= committed, (org, figures, trail)
            if figures:
                assert figures.outstanding_cents >= 0 and figures.unfunded_cents >= 0, (figures, trail)
                assert figures.overpaid_cents >= 0
            assert committed == shadow.committed.get(org, 0), (org, figures, shadow, trail)
            assert called == shadow.called.get(org, 0), (org, figures, shadow, trail)
            owed = sum(out for line, out in shadow.line_outstanding.items() if shadow.line_org[line] == org)
            assert called - paid == owed, (org, figures, shadow, trail)
            assert (figures.overpaid_cents if figures else 0) == shadow.overpaid.get(org, 0)
            pledge = self.pledge_of(org)
            if org in shadow.active:
                assert pledge.status == (PledgeStatus.ACTIVE if shadow.active[org] else PledgeStatus.CANCELLED)

        fund = ledger.fund_figures(fund_id)
        assert 0 <= fund.allocated_cents <= fund.paid_in_cents, (fund, trail)
        assert fund.available_cents >= 0, (fund, trail)
        assert fund.available_cents == fund.paid_in_cents - fund.allocated_cents - fund.fees_cents
        assert fund.paid_in_cents == shadow.paid_in and fund.allocated_cents == shadow.allocated, (fund, shadow)
        assert fund.committed_cents == sum(shadow.committed.values())

        for call in session.scalars(select(CapitalCall).where(CapitalCall.fund_id == fund_id)):
            assert sum(line.amount_cents for line in call.lines) == call.total_cents, trail
            booked = session.scalar(
                select(func.sum(LedgerEntry.amount_cents)).join(LedgerTransaction)
                .where(LedgerTransaction.kind == LedgerKind.CAPITAL_CALL, LedgerEntry.account == ledger.RECEIVABLE,
                       LedgerTransaction.call_line_id.in_([line.id for line in call.lines])))
            assert booked == call.total_cents, trail
        for line_id in self.lines:
            line = session.get(CallLine, line_id)
            outstanding = ledger.line_outstanding(line_id)
            assert 0 <= outstanding <= line.amount_cents
            assert outstanding == shadow.line_outstanding[line_id], trail
        for allocation_id, (amount, reversed_) in shadow.allocations.items():
            allocation = session.get(Allocation, allocation_id)
            assert allocation.amount_cents == amount and (allocation.reversed_at is not None) == reversed_


def fund_machine(db):
    """The rules of the state machine: each rule is one request-like service call."""
    companies_ = st.integers(0, 3)

    class FundMachine(RuleBasedStateMachine):
        run: Run

        # Most runs open with commitments, a first call and some payments, so that within a few
        # steps payments, allocations and reversals get their turn too.
        @initialize(companies=st.integers(2, 4),
                    pledges=st.lists(st.integers(MIN_PLEDGE, 5_000_000), min_size=1, max_size=4),
                    first_call=st.one_of(st.integers(1, 10_000), st.just(0)),
                    payments=st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["exact", "partial", "over"]),
                                                st.integers(1, 1_000_000)), max_size=4))
        def open_fund(self, companies, pledges, first_call, payments):
            self.run = Run(db, companies)
            self.guard = LedgerRewriteGuard(db.engine).__enter__()
            for company, amount in enumerate(pledges[:companies]):
                self.run.step(("pledge", company, amount))
            if first_call:
                self.run.step(("call", first_call))
            for payment in payments if self.run.lines else []:
                self.run.step(("transfer", *payment))

        @rule(company=companies_, amount=st.integers(MIN_PLEDGE // 2, 5_000_000))
        def pledge(self, company, amount):
            self.run.step(("pledge", company, amount))

        @rule(company=companies_, delta=st.integers(1, 2_000_000))
        def raise_pledge(self, company, delta):
            self.run.step(("raise", company, delta))

        @rule(company=companies_, percent=st.one_of(st.integers(1, 99), st.just(0)))
        def lower_or_cancel_pledge(self, company, percent):
            self.run.step(("lower", company, percent) if percent else ("cancel", company))

        @rule(company=companies_)
        def end_cooling_off(self, company):
            self.run.step(("end_cooling_off", company))

        @rule(percent_bp=st.one_of(st.integers(1, 10_000), st.sampled_from([1, 3333, 5000, 10_000])))
        def capital_call(self, percent_bp):
            self.run.step(("call", percent_bp))

        @precondition(lambda self: self.run.lines)
        @rule(index=st.integers(0, 50), kind=st.sampled_from(["partial", "exact", "over"]),
              amount=st.integers(1, 1_000_000))
        def transfer(self, index, kind, amount):
            self.run.step(("transfer", index, kind, amount))

        @precondition(lambda self: self.run.lines)
        @rule(index=st.integers(0, 50), kind=st.sampled_from(["partial", "exact"]), amount=st.integers(1, 10**6))
        def transfer_within_what_is_owed(self, index, kind, amount):
            self.run.step(("transfer", index, kind, amount))

        @rule(percent=st.integers(1, 150), public=st.booleans())
        def allocate(self, percent, public):
            self.run.step(("allocate", percent, public))

        @precondition(lambda self: self.run.shadow.paid_in > self.run.shadow.allocated)
        @rule(percent=st.integers(1, 100))
        def allocate_within_available(self, percent):
            self.run.step(("allocate", percent, True))

        @precondition(lambda self: self.run.allocation_ids)
        @rule(index=st.integers(0, 20))
        def reverse_allocation(self, index):
            self.run.step(("reverse", index))

        def teardown(self):
            guard = getattr(self, "guard", None)
            if guard is not None:
                guard.__exit__(None, None, None)
            _empty_all_tables()
            assert guard is None or guard.violations == []

    return FundMachine


def test_random_fund_operations_keep_the_ledger_consistent(db):
    run_state_machine_as_test(fund_machine(db), settings=settings(
        max_examples=int(os.environ.get("FUND_LEDGER_EXAMPLES", "30")), stateful_step_count=15, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
