"""Expiring invitation links that bring judges, investors and organizers in."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pitchtank.accounts.models import ROLE_ENUM, Role
from pitchtank.core.types import UTCDateTime, utcnow
from pitchtank.extensions import db

if TYPE_CHECKING:
    from pitchtank.accounts.models import User
    from pitchtank.organizations.models import Organization


class Invitation(db.Model):
    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The link's secret is derived from this nonce and the app's SECRET_KEY, so the organizer
    # can show the link again while a copy of the database alone cannot forge it.
    nonce: Mapped[str] = mapped_column(String(32))
    role: Mapped[Role] = mapped_column(ROLE_ENUM)
    invitee_name: Mapped[str] = mapped_column(String(120), default="")
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organization: Mapped[Organization | None] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    accepted_by: Mapped[User | None] = relationship(foreign_keys=[accepted_by_id])

    @staticmethod
    def new_nonce() -> str:
        return secrets.token_hex(16)

    def usable_at(self, now: datetime) -> bool:
        return self.accepted_at is None and self.revoked_at is None and now < self.expires_at

    @property
    def state(self) -> str:
        """``used``, ``revoked``, ``expired`` or ``active``, for the organizer's list."""
        if self.accepted_at is not None:
            return "used"
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if utcnow() >= self.expires_at else "active"


class LoginLink(db.Model):
    """A single-use, short-lived link (shown as a QR code) that logs a judge in on a tablet."""

    __tablename__ = "login_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    nonce: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("pitch_sessions.id", ondelete="CASCADE"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(foreign_keys=[user_id])

    @property
    def state(self) -> str:
        """``used``, ``revoked``, ``expired`` or ``active``, for the organizer's list."""
        if self.used_at is not None:
            return "used"
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if utcnow() >= self.expires_at else "active"
