"""The fund's append-only double-entry ledger, and every figure derived from it.

Accounts (debits positive, credits negative), per company unless noted:
``committed`` (credit: what the company promised), ``unfunded`` (debit: promised, not yet
called), ``receivable`` (debit: called, not yet paid), ``overpaid`` (credit: paid beyond
what was called, owed back or kept for the next call), and for the fund ``cash``,
``fees`` (Stripe's fees) and ``allocated`` (per venture).

A pledge of X: unfunded +X, committed −X. A call line of C: receivable +C, unfunded −C.
A payment of P: cash +P, receivable −P (and overpaid −excess). An allocation of A:
allocated +A, cash −A. A mistake is undone by a reversing transaction, never an edit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import DDL, event, func, select

from pitchtank.core.errors import Conflict
from pitchtank.extensions import db
from pitchtank.fund.models import Fund, LedgerEntry, LedgerKind, LedgerTransaction

COMMITTED = "committed"
UNFUNDED = "unfunded"
RECEIVABLE = "receivable"
OVERPAID = "overpaid"
CASH = "cash"
FEES = "fees"
ALLOCATED = "allocated"


@dataclass(frozen=True)
class Leg:
    """One entry of a transaction before it is written."""

    account: str
    amount_cents: int
    organization_id: int | None = None
    venture_id: int | None = None


class UnbalancedTransaction(ValueError):
    """Entries that do not sum to zero are a bug, never a user error."""


def post(fund: Fund, kind: LedgerKind, legs: Iterable[Leg], *, memo: str = "", actor=None,
         **references) -> LedgerTransaction:
    """Write one balanced transaction; zero legs are dropped."""
    legs = [leg for leg in legs if leg.amount_cents != 0]
    if not legs or sum(leg.amount_cents for leg in legs) != 0:
        raise UnbalancedTransaction(f"{kind}: entries {legs} do not balance")
    if any(not isinstance(leg.amount_cents, int) or isinstance(leg.amount_cents, bool) for leg in legs):
        raise UnbalancedTransaction("ledger amounts are integer centavos")
    transaction = LedgerTransaction(fund_id=fund.id, kind=kind, memo=memo[:255],
                                    created_by_id=getattr(actor, "id", None), **references)
    transaction.entries = [
        LedgerEntry(fund_id=fund.id, account=leg.account, amount_cents=leg.amount_cents,
                    organization_id=leg.organization_id, venture_id=leg.venture_id, currency=fund.currency)
        for leg in legs
    ]
    db.session.add(transaction)
    db.session.flush()
    return transaction


def reverse(transaction: LedgerTransaction, *, memo: str, actor=None) -> LedgerTransaction:
    """Undo a transaction with its mirror image; a transaction is reversed at most once."""
    already = db.session.scalar(select(LedgerTransaction.id).where(LedgerTransaction.reverses_id == transaction.id))
    if already is not None or transaction.kind == LedgerKind.REVERSAL:
        raise Conflict("This movement was already reversed.")
    fund = db.session.get(Fund, transaction.fund_id)
    return post(
        fund, LedgerKind.REVERSAL,
        [Leg(e.account, -e.amount_cents, e.organization_id, e.venture_id) for e in transaction.entries],
        memo=memo, actor=actor, reverses_id=transaction.id, pledge_id=transaction.pledge_id,
        call_line_id=transaction.call_line_id, payment_id=transaction.payment_id,
        allocation_id=transaction.allocation_id,
    )


@dataclass(frozen=True)
class CompanyFigures:
    organization_id: int
    committed_cents: int
    called_cents: int
    paid_cents: int
    outstanding_cents: int
    unfunded_cents: int
    overpaid_cents: int

    @property
    def paid_in_percent(self) -> float:  # for progress bars only, never for money
        return 0.0 if not self.committed_cents else 100 * self.paid_cents / self.committed_cents


@dataclass(frozen=True)
class FundFigures:
    committed_cents: int
    called_cents: int
    paid_in_cents: int
    outstanding_cents: int
    allocated_cents: int
    fees_cents: int
    available_cents: int
    overpaid_cents: int


def _balances(fund_id: int, *extra_filters) -> dict[tuple[str, int | None], int]:
    rows = db.session.execute(
        select(LedgerEntry.account, LedgerEntry.organization_id, func.sum(LedgerEntry.amount_cents))
        .where(LedgerEntry.fund_id == fund_id, *extra_filters)
        .group_by(LedgerEntry.account, LedgerEntry.organization_id)
    )
    return {(account, org): int(total) for account, org, total in rows}


def company_figures(fund_id: int, organization_id: int) -> CompanyFigures:
    balances = _balances(fund_id, LedgerEntry.organization_id == organization_id)
    return _company(organization_id, {account: total for (account, _org), total in balances.items()})


def _company(organization_id: int, by_account: dict[str, int]) -> CompanyFigures:
    committed = -by_account.get(COMMITTED, 0)
    unfunded = by_account.get(UNFUNDED, 0)
    outstanding = by_account.get(RECEIVABLE, 0)
    called = committed - unfunded
    return CompanyFigures(
        organization_id=organization_id, committed_cents=committed, called_cents=called,
        paid_cents=called - outstanding, outstanding_cents=outstanding, unfunded_cents=unfunded,
        overpaid_cents=-by_account.get(OVERPAID, 0),
    )


def all_company_figures(fund_id: int) -> dict[int, CompanyFigures]:
    per_org: dict[int, dict[str, int]] = defaultdict(dict)
    for (account, org), total in _balances(fund_id).items():
        if org is not None:
            per_org[org][account] = per_org[org].get(account, 0) + total
    return {org: _company(org, accounts) for org, accounts in per_org.items()}


def fund_figures(fund_id: int) -> FundFigures:
    totals: dict[str, int] = defaultdict(int)
    for (account, _org), total in _balances(fund_id).items():
        totals[account] += total
    committed = -totals[COMMITTED]
    called = committed - totals[UNFUNDED]
    outstanding = totals[RECEIVABLE]
    overpaid = -totals[OVERPAID]
    return FundFigures(
        committed_cents=committed, called_cents=called, paid_in_cents=called - outstanding,
        outstanding_cents=outstanding, allocated_cents=totals[ALLOCATED], fees_cents=totals[FEES],
        available_cents=totals[CASH] - overpaid, overpaid_cents=overpaid,
    )


def line_outstanding(call_line_id: int) -> int:
    """What is still owed on one call line."""
    total = db.session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).join(LedgerTransaction)
        .where(LedgerTransaction.call_line_id == call_line_id, LedgerEntry.account == RECEIVABLE)
    )
    return int(total or 0)


def ledger_sum(fund_id: int) -> int:
    return int(db.session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(LedgerEntry.fund_id == fund_id)
    ) or 0)


def transactions(fund_id: int) -> list[LedgerTransaction]:
    return list(db.session.scalars(
        select(LedgerTransaction).where(LedgerTransaction.fund_id == fund_id)
        .order_by(LedgerTransaction.created_at, LedgerTransaction.id)
    ))


# On PostgreSQL the database itself refuses to rewrite history. The migration creates the
# same triggers; this hook covers schemas made with create_all (the test suite).
# DDL text goes to the driver with parameters, so a literal percent sign is written %%.
APPEND_ONLY_FUNCTION = DDL("""
CREATE OR REPLACE FUNCTION pitchtank_ledger_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'the ledger is append-only: %% on %% refused', TG_OP, TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql
""")


def _append_only_trigger(table: str) -> DDL:
    return DDL(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION pitchtank_ledger_append_only()"
    )


event.listen(LedgerTransaction.__table__, "after_create",
             APPEND_ONLY_FUNCTION.execute_if(dialect="postgresql"))
for _table in (LedgerTransaction.__table__, LedgerEntry.__table__):
    event.listen(_table, "after_create", _append_only_trigger(_table.name).execute_if(dialect="postgresql"))
