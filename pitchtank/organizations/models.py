"""Affiliated member companies of the cluster."""

from __future__ import annotations

import enum
import re
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pitchtank.core.types import UTCDateTime, str_enum, utcnow
from pitchtank.extensions import db

if TYPE_CHECKING:
    from pitchtank.accounts.models import User


class MembershipStatus(enum.StrEnum):
    ACTIVE = "active"
    PENDING = "pending"
    SUSPENDED = "suspended"
    FORMER = "former"


# RFC (Registro Federal de Contribuyentes): 3 letters for a company (4 for a person),
# the date of incorporation as YYMMDD, and a 3-character homoclave.
RFC_PATTERN = re.compile(r"^[A-ZÑ&]{3,4}\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])[A-Z\d]{2}[A\d]$")


def normalize_rfc(rfc: str) -> str:
    return rfc.strip().upper().replace(" ", "").replace("-", "")


def is_valid_rfc(rfc: str) -> bool:
    return bool(RFC_PATTERN.match(normalize_rfc(rfc)))


class Organization(db.Model):
    __tablename__ = "organizations"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    legal_name: Mapped[str] = mapped_column(String(200), default="")
    rfc: Mapped[str | None] = mapped_column(String(13), unique=True)
    membership_status: Mapped[MembershipStatus] = mapped_column(
        str_enum(MembershipStatus, "membership_status"),
        default=MembershipStatus.ACTIVE,
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    members: Mapped[list[User]] = relationship(back_populates="organization")

    def __repr__(self) -> str:
        return f"<Organization {self.id} {self.name}>"
