"""Ventures (emprendimientos) and their pitch decks."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pitchtank.core.types import UTCDateTime, str_enum, utcnow
from pitchtank.extensions import db

if TYPE_CHECKING:
    from pitchtank.accounts.models import User
    from pitchtank.events.models import Submission


class Sector(enum.StrEnum):
    """Guanajuato's strategic sectors, plus IT and other."""

    IT_SOFTWARE = "it_software"
    AUTOMOTIVE = "automotive"
    AEROSPACE = "aerospace"
    AGRO_INDUSTRY = "agro_industry"
    FASHION_TEXTILES_FOOTWEAR = "fashion_textiles_footwear"
    CHEMICALS = "chemicals"
    CONSTRUCTION_MATERIALS = "construction_materials"
    HEALTH = "health"
    LOGISTICS = "logistics"
    OTHER = "other"


class Stage(enum.StrEnum):
    IDEA = "idea"
    PROTOTYPE = "prototype"
    MVP = "mvp"
    EARLY_REVENUE = "early_revenue"
    GROWTH = "growth"


NAME_MAX = 120
TAGLINE_MAX = 200
LONG_TEXT_MAX = 5000
WEBSITE_MAX = 300
# Ten thousand million pesos is far beyond any ask at a cluster pitch event.
ASK_MAX_CENTS = 10_000_000_000_00
# Equity is stored in basis points (hundredths of a percent): exact, never a float.
EQUITY_SCALE = 100
EQUITY_MAX_BP = 100 * EQUITY_SCALE


def equity_pct_to_bp(pct: Decimal) -> int:
    return int(pct * EQUITY_SCALE)


def equity_bp_to_pct(bp: int) -> Decimal:
    return (Decimal(bp) / EQUITY_SCALE).quantize(Decimal("0.01"))


class Venture(db.Model):
    __tablename__ = "ventures"
    __table_args__ = (
        CheckConstraint("ask_cents > 0", name="ask_positive"),
        CheckConstraint(
            f"equity_offered_bp > 0 AND equity_offered_bp <= {EQUITY_MAX_BP}",
            name="equity_in_range",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    tagline: Mapped[str] = mapped_column(String(TAGLINE_MAX))
    sector: Mapped[Sector] = mapped_column(str_enum(Sector, "sector"))
    stage: Mapped[Stage] = mapped_column(str_enum(Stage, "stage"))
    description: Mapped[str] = mapped_column(Text)
    problem: Mapped[str] = mapped_column(Text, default="")
    solution: Mapped[str] = mapped_column(Text, default="")
    market: Mapped[str] = mapped_column(Text, default="")
    traction: Mapped[str] = mapped_column(Text, default="")
    team: Mapped[str] = mapped_column(Text, default="")
    website: Mapped[str] = mapped_column(String(WEBSITE_MAX), default="")
    ask_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="MXN")
    equity_offered_bp: Mapped[int] = mapped_column(Integer)
    deck_file: Mapped[str | None] = mapped_column(String(80))
    deck_size: Mapped[int | None] = mapped_column(Integer)
    deck_pages: Mapped[int | None] = mapped_column(Integer)
    deck_uploaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    owner: Mapped[User] = relationship()
    submissions: Mapped[list[Submission]] = relationship(
        back_populates="venture", cascade="all, delete-orphan"
    )

    @property
    def equity_offered_pct(self) -> Decimal:
        return equity_bp_to_pct(self.equity_offered_bp)

    @equity_offered_pct.setter
    def equity_offered_pct(self, pct: Decimal) -> None:
        self.equity_offered_bp = equity_pct_to_bp(pct)

    @property
    def is_public(self) -> bool:
        """A venture becomes public once an event accepted it."""
        from pitchtank.events.models import SubmissionStatus

        return any(s.status == SubmissionStatus.ACCEPTED for s in self.submissions)

    def can_edit(self, user) -> bool:
        return user.is_authenticated and user.id == self.owner_id

    def can_view(self, user) -> bool:
        from pitchtank.accounts.models import Role

        if self.is_public or self.can_edit(user):
            return True
        return user.is_authenticated and user.has_role(Role.ORGANIZER)

    def can_view_deck(self, user) -> bool:
        """Decks hold unreleased plans: owner, organizers, the venture's judges, and
        investors once the venture is public."""
        from pitchtank.accounts.models import Role

        if not user.is_authenticated:
            return False
        if self.can_edit(user) or user.has_role(Role.ORGANIZER):
            return True
        if user.has_role(Role.INVESTOR) and self.is_public:
            return True
        return user.has_role(Role.JUDGE) and any(
            s.pitch is not None and s.pitch.session.has_judge(user) for s in self.submissions
        )

    def __repr__(self) -> str:
        return f"<Venture {self.id} {self.name}>"
