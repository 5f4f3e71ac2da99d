"""The cluster capital fund: commitments, capital calls, payments, allocations and the ledger."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pitchtank.core.types import UTCDateTime, str_enum, utcnow
from pitchtank.extensions import db

if TYPE_CHECKING:
    from pitchtank.accounts.models import User
    from pitchtank.organizations.models import Organization
    from pitchtank.ventures.models import Venture

FUND_NAME_MAX = 120
REFERENCE_MAX = 80


class FundStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    WOUND_DOWN = "wound_down"


class Fund(db.Model):
    __tablename__ = "funds"
    __table_args__ = (
        CheckConstraint("target_cents > 0", name="target_positive"),
        CheckConstraint("min_pledge_cents > 0", name="min_pledge_positive"),
        CheckConstraint("cooling_off_days BETWEEN 0 AND 90", name="cooling_off_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(FUND_NAME_MAX))
    currency: Mapped[str] = mapped_column(String(3), default="MXN")
    target_cents: Mapped[int] = mapped_column(BigInteger)
    min_pledge_cents: Mapped[int] = mapped_column(BigInteger)
    commitment_deadline: Mapped[date] = mapped_column(Date)
    clabe: Mapped[str] = mapped_column(String(18))
    cooling_off_days: Mapped[int] = mapped_column(Integer, default=7)
    status: Mapped[FundStatus] = mapped_column(str_enum(FundStatus, "fund_status"), default=FundStatus.OPEN)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PledgeStatus(enum.StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"


class Pledge(db.Model):
    """A member company's commitment to the fund; its amount lives in the ledger."""

    __tablename__ = "pledges"
    __table_args__ = (UniqueConstraint("fund_id", "organization_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    fund_id: Mapped[int] = mapped_column(ForeignKey("funds.id", ondelete="RESTRICT"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"))
    status: Mapped[PledgeStatus] = mapped_column(str_enum(PledgeStatus, "pledge_status"), default=PledgeStatus.ACTIVE)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Lowering or cancelling is allowed only until then.
    cooling_off_until: Mapped[datetime] = mapped_column(UTCDateTime)

    fund: Mapped[Fund] = relationship()
    organization: Mapped[Organization] = relationship()


class CapitalCall(db.Model):
    __tablename__ = "capital_calls"
    __table_args__ = (
        CheckConstraint("percent_bp > 0 AND percent_bp <= 10000", name="percent_range"),
        CheckConstraint("due_date >= notice_date", name="due_after_notice"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    fund_id: Mapped[int] = mapped_column(ForeignKey("funds.id", ondelete="RESTRICT"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    percent_bp: Mapped[int] = mapped_column(Integer)
    notice_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    total_cents: Mapped[int] = mapped_column(BigInteger)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    fund: Mapped[Fund] = relationship()
    lines: Mapped[list[CallLine]] = relationship(back_populates="call", order_by="CallLine.id")


class CallLine(db.Model):
    """One company's share of a capital call, with the reference its transfer must carry."""

    __tablename__ = "call_lines"
    __table_args__ = (
        UniqueConstraint("call_id", "organization_id"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("capital_calls.id", ondelete="RESTRICT"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"), index=True)
    pledge_id: Mapped[int] = mapped_column(ForeignKey("pledges.id", ondelete="RESTRICT"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str] = mapped_column(String(REFERENCE_MAX), unique=True)

    call: Mapped[CapitalCall] = relationship(back_populates="lines")
    organization: Mapped[Organization] = relationship()
    pledge: Mapped[Pledge] = relationship()


class PaymentMethod(enum.StrEnum):
    TRANSFER = "transfer"
    CARD = "card"
    OXXO = "oxxo"
    SPEI = "spei"


class PaymentStatus(enum.StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    REFUNDED = "refunded"
    DISPUTED = "disputed"


class Payment(db.Model):
    """Money a company sent against a call line: a recorded transfer or a Stripe payment."""

    __tablename__ = "payments"
    __table_args__ = (CheckConstraint("amount_cents > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_line_id: Mapped[int] = mapped_column(ForeignKey("call_lines.id", ondelete="RESTRICT"), index=True)
    method: Mapped[PaymentMethod] = mapped_column(str_enum(PaymentMethod, "payment_method"))
    status: Mapped[PaymentStatus] = mapped_column(str_enum(PaymentStatus, "payment_status"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="MXN")
    paid_on: Mapped[date | None] = mapped_column(Date)
    reference: Mapped[str] = mapped_column(String(REFERENCE_MAX), default="")
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    failure_message: Mapped[str] = mapped_column(Text, default="")
    refunded_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    call_line: Mapped[CallLine] = relationship()


class Allocation(db.Model):
    """Paid-in capital assigned to a venture; reversed by a ledger transaction, never edited."""

    __tablename__ = "allocations"
    __table_args__ = (CheckConstraint("amount_cents > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    fund_id: Mapped[int] = mapped_column(ForeignKey("funds.id", ondelete="RESTRICT"), index=True)
    venture_id: Mapped[int] = mapped_column(ForeignKey("ventures.id", ondelete="RESTRICT"), index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    venture: Mapped[Venture] = relationship()


class LedgerKind(enum.StrEnum):
    PLEDGE = "pledge"
    PLEDGE_CHANGE = "pledge_change"
    CAPITAL_CALL = "capital_call"
    PAYMENT = "payment"
    REFUND = "refund"
    FEE = "fee"
    ALLOCATION = "allocation"
    REVERSAL = "reversal"


class LedgerTransaction(db.Model):
    """One money movement; its entries sum to zero. Rows are never updated or deleted."""

    __tablename__ = "ledger_transactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    fund_id: Mapped[int] = mapped_column(ForeignKey("funds.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[LedgerKind] = mapped_column(str_enum(LedgerKind, "ledger_kind"))
    memo: Mapped[str] = mapped_column(String(255), default="")
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id", ondelete="RESTRICT"),
                                                     unique=True)
    pledge_id: Mapped[int | None] = mapped_column(ForeignKey("pledges.id", ondelete="RESTRICT"))
    call_line_id: Mapped[int | None] = mapped_column(ForeignKey("call_lines.id", ondelete="RESTRICT"))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id", ondelete="RESTRICT"))
    allocation_id: Mapped[int | None] = mapped_column(ForeignKey("allocations.id", ondelete="RESTRICT"))
    # An outside fact applied once: a Stripe event id, a charge's refund id, a payment's success.
    external_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    entries: Mapped[list[LedgerEntry]] = relationship(back_populates="transaction", order_by="LedgerEntry.id")


class LedgerEntry(db.Model):
    __tablename__ = "ledger_entries"
    __table_args__ = (CheckConstraint("amount_cents <> 0", name="amount_not_zero"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id", ondelete="RESTRICT"), index=True)
    fund_id: Mapped[int] = mapped_column(ForeignKey("funds.id", ondelete="RESTRICT"))
    account: Mapped[str] = mapped_column(String(40), index=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"), index=True)
    venture_id: Mapped[int | None] = mapped_column(ForeignKey("ventures.id", ondelete="RESTRICT"))
    # Signed: debits positive, credits negative.
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="MXN")

    transaction: Mapped[LedgerTransaction] = relationship(back_populates="entries")


class StripeCustomer(db.Model):
    """One Stripe Customer per member company, with the card saved for off-session calls."""

    __tablename__ = "stripe_customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"), unique=True)
    customer_id: Mapped[str] = mapped_column(String(255), unique=True)
    payment_method_id: Mapped[str | None] = mapped_column(String(255))
    setup_intent_id: Mapped[str | None] = mapped_column(String(255))
    setup_status: Mapped[str] = mapped_column(String(40), default="none")
    card_summary: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StripeEvent(db.Model):
    """Each webhook event id, stored in the same transaction as its effect: applied once."""

    __tablename__ = "stripe_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(80))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OfferStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"


class Offer(db.Model):
    """An investor's offer to a venture during or after its pitch; accepted offers are deals."""

    __tablename__ = "offers"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("equity_bp > 0 AND equity_bp <= 10000", name="equity_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pitch_id: Mapped[int] = mapped_column(ForeignKey("pitches.id", ondelete="RESTRICT"), index=True)
    venture_id: Mapped[int] = mapped_column(ForeignKey("ventures.id", ondelete="RESTRICT"), index=True)
    investor_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="MXN")
    equity_bp: Mapped[int] = mapped_column(Integer)
    terms: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[OfferStatus] = mapped_column(str_enum(OfferStatus, "offer_status"), default=OfferStatus.PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    investor: Mapped[User] = relationship()
    organization: Mapped[Organization] = relationship()
    venture: Mapped[Venture] = relationship()

    @property
    def equity_pct(self) -> Decimal:
        from pitchtank.ventures.models import equity_bp_to_pct

        return equity_bp_to_pct(self.equity_bp)
