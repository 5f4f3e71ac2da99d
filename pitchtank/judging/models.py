"""Rubrics, judges' score sheets, recusals, published results and the audience's votes."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pitchtank.core.types import UTCDateTime, utcnow
from pitchtank.extensions import db

if TYPE_CHECKING:
    from pitchtank.accounts.models import User
    from pitchtank.events.models import Pitch, PitchSession

KEY_MAX = 40
CRITERION_NAME_MAX = 120
COMMENT_MAX = 2000
REASON_MAX = 500
WEIGHT_MAX = 100
SCALE_LIMIT = 100


class RubricCriterion(db.Model):
    """One criterion of a session's rubric; weight 0 makes it a question that never ranks."""

    __tablename__ = "rubric_criteria"
    __table_args__ = (
        UniqueConstraint("session_id", "key"),
        UniqueConstraint("session_id", "position"),
        CheckConstraint("max_value > min_value", name="scale_not_empty"),
        CheckConstraint(f"weight BETWEEN 0 AND {WEIGHT_MAX}", name="weight_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("pitch_sessions.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(KEY_MAX))
    name_es: Mapped[str] = mapped_column(String(CRITERION_NAME_MAX))
    name_en: Mapped[str] = mapped_column(String(CRITERION_NAME_MAX))
    description_es: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    weight: Mapped[int] = mapped_column(Integer)
    min_value: Mapped[int] = mapped_column(Integer)
    max_value: Mapped[int] = mapped_column(Integer)
    # {"1": {"es": "Débil", "en": "Weak"}, ...}: labels anchoring values of the scale.
    anchors: Mapped[dict[str, dict[str, str]]] = mapped_column(JSON, default=dict)

    session: Mapped[PitchSession] = relationship()

    @property
    def is_question(self) -> bool:
        return self.weight == 0

    def name_in(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_es

    def description_in(self, language: str) -> str:
        return self.description_en if language == "en" else self.description_es

    def anchor_in(self, value: int, language: str) -> str:
        anchor = self.anchors.get(str(value)) or {}
        return anchor.get("en" if language == "en" else "es", "")


class ScoreSheet(db.Model):
    """One judge's scoring of one pitch; ``client_seq`` orders the tablet's revisions."""

    __tablename__ = "score_sheets"
    __table_args__ = (UniqueConstraint("pitch_id", "judge_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pitch_id: Mapped[int] = mapped_column(ForeignKey("pitches.id", ondelete="CASCADE"))
    judge_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    client_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    voided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    void_reason: Mapped[str] = mapped_column(Text, default="")

    pitch: Mapped[Pitch] = relationship()
    judge: Mapped[User] = relationship(foreign_keys=[judge_id])
    scores: Mapped[list[Score]] = relationship(
        back_populates="sheet", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def values(self) -> dict[str, int]:
        return {score.criterion.key: score.value for score in self.scores}


class Score(db.Model):
    """One value: one judge, one pitch, one criterion."""

    __tablename__ = "scores"
    __table_args__ = (UniqueConstraint("sheet_id", "criterion_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sheet_id: Mapped[int] = mapped_column(ForeignKey("score_sheets.id", ondelete="CASCADE"))
    criterion_id: Mapped[int] = mapped_column(ForeignKey("rubric_criteria.id", ondelete="CASCADE"), index=True)
    value: Mapped[int] = mapped_column(Integer)

    sheet: Mapped[ScoreSheet] = relationship(back_populates="scores")
    criterion: Mapped[RubricCriterion] = relationship(lazy="joined")


class Recusal(db.Model):
    """A judge's declared conflict of interest with one pitch."""

    __tablename__ = "recusals"
    __table_args__ = (UniqueConstraint("pitch_id", "judge_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pitch_id: Mapped[int] = mapped_column(ForeignKey("pitches.id", ondelete="CASCADE"))
    judge_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ResultSnapshot(db.Model):
    """The published results, frozen: later edits to scores never change them."""

    __tablename__ = "result_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("pitch_sessions.id", ondelete="CASCADE"), unique=True)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    leaderboard: Mapped[dict[str, Any]] = mapped_column(JSON)
    feedback: Mapped[dict[str, Any]] = mapped_column(JSON)


class AudienceVote(db.Model):
    """A People's Choice vote: one per person (account or browser) and session."""

    __tablename__ = "audience_votes"
    __table_args__ = (UniqueConstraint("session_id", "voter_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("pitch_sessions.id", ondelete="CASCADE"))
    pitch_id: Mapped[int] = mapped_column(ForeignKey("pitches.id", ondelete="CASCADE"), index=True)
    voter_key: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
