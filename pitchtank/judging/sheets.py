"""Judges' scores: stored exactly once per revision, however often a flaky tablet resends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from pitchtank.accounts.models import Role, User
from pitchtank.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from pitchtank.core.types import utcnow
from pitchtank.events.models import Pitch, ScoringState, SessionJudge, SessionStatus
from pitchtank.extensions import db
from pitchtank.judging.models import COMMENT_MAX, REASON_MAX, Recusal, Score, ScoreSheet
from pitchtank.judging.rubrics import criteria_for
from pitchtank.judging.show import bump_scores_version

MAX_CLIENT_SEQ = 2**53  # what a browser's number holds exactly


@dataclass(frozen=True)
class SheetResult:
    """What the judge's tablet is told: the scores the server now holds for the pitch."""

    stored: bool  # False when the write was stale or a repeat and changed nothing
    values: dict[str, int]
    comment: str
    client_seq: int
    updated_at: datetime | None

    @classmethod
    def of(cls, sheet: ScoreSheet | None, *, stored: bool, values: dict[str, int] | None = None) -> SheetResult:
        if sheet is None:
            return cls(stored, {}, "", 0, None)
        return cls(stored, sheet.values if values is None else values, sheet.comment,
                   max(sheet.client_seq, 0), sheet.updated_at)


def get_pitch(pitch_id: int) -> Pitch:
    pitch = db.session.get(Pitch, pitch_id)
    if pitch is None:
        raise NotFound(_("That pitch does not exist."))
    return pitch


def is_recused(pitch: Pitch, judge: User) -> bool:
    return db.session.scalar(
        select(Recusal.id).where(Recusal.pitch_id == pitch.id, Recusal.judge_id == judge.id)
    ) is not None


def is_session_judge(session_id: int, judge: User) -> bool:
    """One indexed lookup, instead of loading the session and all its judges on every score."""
    return judge.has_role(Role.JUDGE) and db.session.scalar(
        select(SessionJudge.id).where(SessionJudge.session_id == session_id, SessionJudge.user_id == judge.id)
    ) is not None


def ensure_can_score(pitch: Pitch, judge: User) -> None:
    if not is_session_judge(pitch.session_id, judge):
        raise PermissionDenied(_("You are not a judge of this session."))
    if is_recused(pitch, judge):
        raise PermissionDenied(_("You declared a conflict of interest with this pitch."))


def _insert(table):
    return pg_insert(table) if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert(table)


def _check_values(pitch: Pitch, scores: dict[str, int]) -> dict[int, int]:
    criteria = {c.key: c for c in criteria_for(pitch.session_id)}
    errors: dict[str, list[str]] = {}
    for key, value in scores.items():
        criterion = criteria.get(key)
        if criterion is None:
            errors[f"scores.{key}"] = [_("This criterion is not part of the rubric.")]
        elif isinstance(value, bool) or not isinstance(value, int):
            errors[f"scores.{key}"] = [_("Enter a whole number.")]
        elif not criterion.min_value <= value <= criterion.max_value:
            errors[f"scores.{key}"] = [_("Between %(min)s and %(max)s.", min=criterion.min_value,
                                         max=criterion.max_value)]
    if errors:
        raise ValidationFailed(errors, _("Some scores are not valid."))
    return {criteria[key].id: value for key, value in scores.items()}


def submit(pitch_id: int, judge: User, *, scores: dict[str, int], comment: str, client_seq: int) -> SheetResult:
    """Store a judge's scores for a pitch; an older ``client_seq`` never overwrites a newer one."""
    pitch = get_pitch(pitch_id)
    ensure_can_score(pitch, judge)
    if not 0 <= client_seq <= MAX_CLIENT_SEQ:
        raise ValidationFailed({"client_seq": [_("Must be at least %(limit)s.", limit=0)]})
    comment = (comment or "").strip()
    if len(comment) > COMMENT_MAX:
        raise ValidationFailed({"comment": [_("Use at most %(n)s characters.", n=COMMENT_MAX)]})
    values = _check_values(pitch, scores)
    # Create the sheet if missing without racing another request from the same judge,
    # then lock it so that concurrent revisions apply one after the other.
    db.session.execute(
        _insert(ScoreSheet.__table__)
        .values(pitch_id=pitch.id, judge_id=judge.id, client_seq=-1, comment="",
                created_at=utcnow(), updated_at=utcnow(), void_reason="")
        .on_conflict_do_nothing(index_elements=["pitch_id", "judge_id"])
    )
    sheet = db.session.scalar(
        select(ScoreSheet).where(ScoreSheet.pitch_id == pitch.id, ScoreSheet.judge_id == judge.id)
        .with_for_update().execution_options(populate_existing=True)
    )
    if client_seq <= sheet.client_seq:
        return SheetResult.of(sheet, stored=False)  # a resend or a stale revision: keep the newer one
    if pitch.scoring != ScoringState.OPEN:
        raise Conflict(_("Scoring for this pitch is closed."))
    if sheet.voided_at is not None:
        raise Conflict(_("The organizer voided your scores for this pitch."))
    now_held = {**sheet.values, **scores}
    existing = {score.criterion_id: score for score in sheet.scores}
    for criterion_id, value in values.items():
        if criterion_id in existing:
            existing[criterion_id].value = value
        else:
            sheet.scores.append(Score(criterion_id=criterion_id, value=value))
    sheet.comment = comment
    sheet.client_seq = client_seq
    sheet.updated_at = utcnow()
    result = SheetResult.of(sheet, stored=True, values=now_held)
    # Last: the version row is every judge's shared lock, so it is held only until the commit.
    bump_scores_version(pitch.session_id)
    return result


def own_sheet(pitch_id: int, judge: User) -> ScoreSheet | None:
    pitch = get_pitch(pitch_id)
    if not pitch.session.has_judge(judge):
        raise PermissionDenied(_("You are not a judge of this session."))
    return db.session.scalar(select(ScoreSheet).where(ScoreSheet.pitch_id == pitch.id, ScoreSheet.judge_id == judge.id))


def recuse(pitch_id: int, judge: User, reason: str) -> Recusal:
    """Declare a conflict of interest: the judge's scores for this pitch stop counting."""
    pitch = get_pitch(pitch_id)
    if not judge.has_role(Role.JUDGE) or not pitch.session.has_judge(judge):
        raise PermissionDenied(_("You are not a judge of this session."))
    reason = (reason or "").strip()
    if len(reason) > REASON_MAX:
        raise ValidationFailed({"reason": [_("Use at most %(n)s characters.", n=REASON_MAX)]})
    if is_recused(pitch, judge):
        raise Conflict(_("You already declared a conflict of interest with this pitch."))
    if pitch.session.status == SessionStatus.PUBLISHED:
        raise Conflict(_("Published results cannot change."))
    recusal = Recusal(pitch_id=pitch.id, judge_id=judge.id, reason=reason)
    db.session.add(recusal)
    bump_scores_version(pitch.session_id)
    db.session.flush()
    return recusal
