"""Events, their pitch sessions, applications (submissions) and running orders."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pitchtank.core.types import UTCDateTime, str_enum, utcnow
from pitchtank.extensions import db

if TYPE_CHECKING:
    from pitchtank.accounts.models import User
    from pitchtank.ventures.models import Venture

EVENT_NAME_MAX = 200
VENUE_MAX = 200
SESSION_TITLE_MAX = 200
NOTE_MAX = 2000
PITCH_MINUTES_MAX = 60
QA_MINUTES_MAX = 60


class EventStatus(enum.StrEnum):
    """Derived from the calendar, never stored."""

    UPCOMING = "upcoming"
    SUBMISSIONS_OPEN = "submissions_open"
    SUBMISSIONS_CLOSED = "submissions_closed"
    IN_PROGRESS = "in_progress"
    PAST = "past"


class Event(db.Model):
    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint("ends_at >= starts_at", name="ends_after_start"),
        CheckConstraint(
            "submissions_close_at > submissions_open_at", name="window_closes_after_open"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(EVENT_NAME_MAX))
    venue: Mapped[str] = mapped_column(String(VENUE_MAX))
    description: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submissions_open_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submissions_close_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    sessions: Mapped[list[PitchSession]] = relationship(
        back_populates="event", order_by="PitchSession.starts_at", cascade="all, delete-orphan"
    )
    submissions: Mapped[list[Submission]] = relationship(
        back_populates="event", cascade="all, delete-orphan"
    )

    def status_at(self, now: datetime) -> EventStatus:
        if now >= self.ends_at:
            return EventStatus.PAST
        if now >= self.starts_at:
            return EventStatus.IN_PROGRESS
        if self.submissions_open_at <= now < self.submissions_close_at:
            return EventStatus.SUBMISSIONS_OPEN
        if now >= self.submissions_close_at:
            return EventStatus.SUBMISSIONS_CLOSED
        return EventStatus.UPCOMING

    @property
    def status(self) -> EventStatus:
        return self.status_at(utcnow())

    def accepts_submissions_at(self, now: datetime) -> bool:
        return self.submissions_open_at <= now < self.submissions_close_at

    def __repr__(self) -> str:
        return f"<Event {self.id} {self.name}>"


class SessionStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"
    PUBLISHED = "published"


class LivePhase(enum.StrEnum):
    """Where the current pitch is in its cycle while a session is live."""

    PITCH = "pitch"
    QA = "qa"
    SCORING = "scoring"
    SCORING_CLOSED = "scoring_closed"


class PitchSession(db.Model):
    __tablename__ = "pitch_sessions"
    __table_args__ = (
        CheckConstraint(
            f"pitch_minutes BETWEEN 1 AND {PITCH_MINUTES_MAX}", name="pitch_minutes_range"
        ),
        CheckConstraint(f"qa_minutes BETWEEN 0 AND {QA_MINUTES_MAX}", name="qa_minutes_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(SESSION_TITLE_MAX))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    pitch_minutes: Mapped[int] = mapped_column(Integer)
    qa_minutes: Mapped[int] = mapped_column(Integer)
    status: Mapped[SessionStatus] = mapped_column(
        str_enum(SessionStatus, "session_status"), default=SessionStatus.SCHEDULED
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The live show. ``state_version`` grows with every phase change and ``scores_version``
    # with every change to what the leaderboard counts; screens use them as event ids.
    current_pitch_id: Mapped[int | None] = mapped_column(
        ForeignKey("pitches.id", ondelete="SET NULL", use_alter=True)
    )
    phase: Mapped[LivePhase | None] = mapped_column(str_enum(LivePhase, "live_phase"))
    phase_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_remaining_seconds: Mapped[int | None] = mapped_column(Integer)
    leaderboard_public: Mapped[bool] = mapped_column(default=True)
    # Off while the organizer pauses new judge logins by QR code; judges already in keep going.
    judge_logins_open: Mapped[bool] = mapped_column(default=True)
    state_version: Mapped[int] = mapped_column(Integer, default=0)
    scores_version: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    event: Mapped[Event] = relationship(back_populates="sessions")
    current_pitch: Mapped[Pitch | None] = relationship(foreign_keys=[current_pitch_id], post_update=True)
    pitches: Mapped[list[Pitch]] = relationship(
        back_populates="session", order_by="Pitch.position", cascade="all, delete-orphan",
        foreign_keys="Pitch.session_id",
    )
    judge_assignments: Mapped[list[SessionJudge]] = relationship(
        back_populates="session", cascade="all, delete-orphan"
    )

    def has_judge(self, user) -> bool:
        return any(a.user_id == user.id for a in self.judge_assignments)

    @property
    def judges(self) -> list[User]:
        return [a.user for a in self.judge_assignments]

    def __repr__(self) -> str:
        return f"<PitchSession {self.id} {self.title}>"


class SubmissionStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class Submission(db.Model):
    """A venture's application to an event."""

    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("venture_id", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    venture_id: Mapped[int] = mapped_column(ForeignKey("ventures.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    status: Mapped[SubmissionStatus] = mapped_column(
        str_enum(SubmissionStatus, "submission_status"), default=SubmissionStatus.PENDING
    )
    decision_note: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    venture: Mapped[Venture] = relationship(back_populates="submissions")
    event: Mapped[Event] = relationship(back_populates="submissions")
    pitch: Mapped[Pitch | None] = relationship(back_populates="submission")

    def __repr__(self) -> str:
        return f"<Submission {self.id} venture={self.venture_id} event={self.event_id}>"


class PitchStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    CURRENT = "current"
    DONE = "done"


class ScoringState(enum.StrEnum):
    NOT_OPENED = "not_opened"
    OPEN = "open"
    CLOSED = "closed"


class Pitch(db.Model):
    """One accepted venture's slot in a session's running order."""

    __tablename__ = "pitches"
    __table_args__ = (
        UniqueConstraint("session_id", "position"),
        CheckConstraint("position >= 1", name="position_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("pitch_sessions.id", ondelete="CASCADE"), index=True
    )
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), unique=True
    )
    position: Mapped[int] = mapped_column(Integer)
    status: Mapped[PitchStatus] = mapped_column(
        str_enum(PitchStatus, "pitch_status"), default=PitchStatus.SCHEDULED
    )
    scoring: Mapped[ScoringState] = mapped_column(
        str_enum(ScoringState, "scoring_state"), default=ScoringState.NOT_OPENED
    )

    session: Mapped[PitchSession] = relationship(back_populates="pitches", foreign_keys=[session_id])
    submission: Mapped[Submission] = relationship(back_populates="pitch")

    @property
    def venture(self) -> Venture:
        return self.submission.venture

    def __repr__(self) -> str:
        return f"<Pitch {self.id} session={self.session_id} #{self.position}>"


class SessionJudge(db.Model):
    __tablename__ = "session_judges"
    __table_args__ = (UniqueConstraint("session_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("pitch_sessions.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)

    session: Mapped[PitchSession] = relationship(back_populates="judge_assignments")
    user: Mapped[User] = relationship()
