"""Judges' scores: stored exactly once per revision, however often a flaky tablet resends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Integer, bindparam, case, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from pitchtank.accounts.models import Role, User
from pitchtank.core.errors import (
    Conflict,
    DomainError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from pitchtank.core.metrics import SCORES_STORED
from pitchtank.core.transaction import on_commit
from pitchtank.core.types import utcnow
from pitchtank.events.models import Pitch, PitchSession, SessionStatus
from pitchtank.extensions import db
from pitchtank.judging import broadcast, scoring_rules
from pitchtank.judging.models import (
    COMMENT_MAX,
    REASON_MAX,
    Recusal,
    RubricCriterion,
    Score,
    ScoreSheet,
)
from pitchtank.judging.scoring_rules import ScoringRules
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


def _refusal(rules: ScoringRules, pitch_id: int, judge: User, scores: dict[str, int]) -> DomainError | None:
    """Why these rules refuse the write (scoring closed aside), or None."""
    if not rules.is_judge(judge.id):  # assigned, with the judge role, account active: all stored
        return PermissionDenied(_("You are not a judge of this session."))
    if rules.is_recused(judge.id, pitch_id):
        return PermissionDenied(_("You declared a conflict of interest with this pitch."))
    errors: dict[str, list[str]] = {}
    for key, value in scores.items():
        criterion = rules.criteria.get(key)
        if criterion is None:
            errors[f"scores.{key}"] = [_("This criterion is not part of the rubric.")]
        elif isinstance(value, bool) or not isinstance(value, int):
            errors[f"scores.{key}"] = [_("Enter a whole number.")]
        elif not criterion.min <= value <= criterion.max:
            errors[f"scores.{key}"] = [_("Between %(min)s and %(max)s.", min=criterion.min, max=criterion.max)]
    if errors:
        return ValidationFailed(errors, _("Some scores are not valid."))
    return None


def _closed() -> Conflict:
    return Conflict(_("Scoring for this pitch is closed."))


class _Statements:
    """The score write's statements, built once per dialect (building them costs more CPU
    than running them): parameters are bound at execution."""

    def __init__(self, dialect: str) -> None:
        self._insert = pg_insert if dialect == "postgresql" else sqlite_insert
        sheets = ScoreSheet.__table__
        upsert = self._insert(sheets).values(
            pitch_id=bindparam("p_pitch"), judge_id=bindparam("p_judge"), client_seq=bindparam("p_seq"),
            comment=bindparam("p_comment"), created_at=bindparam("now", type_=sheets.c.created_at.type),
            updated_at=bindparam("now", type_=sheets.c.updated_at.type), void_reason="",
        )
        self.sheet_upsert = upsert.on_conflict_do_update(
            index_elements=["pitch_id", "judge_id"],
            set_={"client_seq": upsert.excluded.client_seq, "comment": upsert.excluded.comment,
                  "updated_at": upsert.excluded.updated_at},
            where=(sheets.c.client_seq < upsert.excluded.client_seq) & sheets.c.voided_at.is_(None),
        ).returning(sheets.c.id)
        sessions = PitchSession.__table__
        self.guarded_bump = (
            update(sessions)
            .where(sessions.c.id == bindparam("p_session"), sessions.c.state_version == bindparam("p_version"))
            .values(scores_version=sessions.c.scores_version + 1)
        )
        self._scores: dict[tuple[int, ...], Any] = {}

    def scores_upsert(self, criterion_ids: tuple[int, ...]):
        """Upsert one value per criterion, joined with the stored criteria: a snapshot older than
        a rubric change writes nothing for criteria that are gone (instead of failing), and the
        guarded version bump then refuses the write."""
        statement = self._scores.get(criterion_ids)
        if statement is None:
            criteria = RubricCriterion.__table__
            values = self._insert(Score.__table__).from_select(
                ["sheet_id", "criterion_id", "value"],
                select(bindparam("p_sheet", type_=Integer), criteria.c.id,
                       case({cid: bindparam(f"v{cid}", type_=Integer) for cid in criterion_ids},
                            value=criteria.c.id))
                .where(criteria.c.id.in_(criterion_ids)),
            )
            statement = values.on_conflict_do_update(index_elements=["sheet_id", "criterion_id"],
                                                     set_={"value": values.excluded.value})
            if len(self._scores) > 1000:
                self._scores.clear()
            self._scores[criterion_ids] = statement
        return statement


_built: dict[str, _Statements] = {}


def _statements() -> _Statements:
    dialect = db.session.get_bind().dialect.name
    if dialect not in _built:
        _built[dialect] = _Statements(dialect)
    return _built[dialect]


def _locked_sheet(pitch_id: int, judge_id: int) -> ScoreSheet | None:
    return db.session.scalar(
        select(ScoreSheet).where(ScoreSheet.pitch_id == pitch_id, ScoreSheet.judge_id == judge_id)
        .with_for_update().execution_options(populate_existing=True)
    )


def submit(pitch_id: int, judge: User, *, scores: dict[str, int], comment: str, client_seq: int) -> SheetResult:
    """Store a judge's scores for a pitch; an older ``client_seq`` never overwrites a newer one.

    The rules come from the per-process snapshot (``scoring_rules``); a refusal is confirmed
    against the stored rules version first, and an accepted write bumps the scores version
    only while the rules version is still the snapshot's, or else re-checks the rules under the
    session's row lock. The sheet is written by one guarded upsert, its values by another.
    """
    rules = scoring_rules.for_pitch(pitch_id)
    if rules is None:
        raise NotFound(_("That pitch does not exist."))
    if not 0 <= client_seq <= MAX_CLIENT_SEQ:
        raise ValidationFailed({"client_seq": [_("Must be at least %(limit)s.", limit=0)]})
    comment = (comment or "").strip()
    if len(comment) > COMMENT_MAX:
        raise ValidationFailed({"comment": [_("Use at most %(n)s characters.", n=COMMENT_MAX)]})
    if _refusal(rules, pitch_id, judge, scores) is not None or not rules.is_open(pitch_id):
        # A refusal is given only by the stored rules, never by a stale snapshot.
        rules = scoring_rules.confirmed(rules, pitch_id)
        if rules is None:
            raise NotFound(_("That pitch does not exist."))
        if (refusal := _refusal(rules, pitch_id, judge, scores)) is not None:
            raise refusal
        if not rules.is_open(pitch_id):
            sheet = _locked_sheet(pitch_id, judge.id)
            if sheet is not None and client_seq <= sheet.client_seq:
                return SheetResult.of(sheet, stored=False)  # a resend of what was stored before closing
            raise _closed()
    now = utcnow()
    statements = _statements()
    # Applied only when newer and not voided; concurrent writes of one sheet queue on its row.
    sheet_id = db.session.execute(statements.sheet_upsert, {
        "p_pitch": pitch_id, "p_judge": judge.id, "p_seq": client_seq, "p_comment": comment, "now": now,
    }).scalar_one_or_none()
    if sheet_id is None:
        sheet = _locked_sheet(pitch_id, judge.id)
        if client_seq <= sheet.client_seq:
            return SheetResult.of(sheet, stored=False)  # a resend or a stale revision: keep the newer one
        raise Conflict(_("The organizer voided your scores for this pitch."))
    if scores:
        by_criterion = {rules.criteria[key].id: value for key, value in scores.items()}
        db.session.execute(statements.scores_upsert(tuple(sorted(by_criterion))),
                           {"p_sheet": sheet_id} | {f"v{cid}": value for cid, value in by_criterion.items()})
    if scores.keys() >= rules.criteria.keys():
        held = dict(scores)
    else:  # a partial sheet: answer with everything the server now holds
        held = dict(db.session.execute(
            select(RubricCriterion.key, Score.value).join(Score, Score.criterion_id == RubricCriterion.id)
            .where(Score.sheet_id == sheet_id)
        ).all())
    result = SheetResult(True, held, comment, client_seq, now)
    on_commit(db.session, SCORES_STORED.inc)  # counted once the database holds it
    # Last: the version row is every judge's shared lock, so it is held only until the commit.
    if db.session.execute(statements.guarded_bump, {
        "p_session": rules.session_id, "p_version": rules.state_version,
    }).rowcount == 1:
        broadcast.after_commit_leaderboard_changed(rules.session_id)
    else:
        # The rules changed since the snapshot: decide again on the stored ones, holding the
        # session's row lock so that no further change can slip in before this commits.
        rules = scoring_rules.fresh_for_pitch(pitch_id, lock=True)
        if rules is None:
            raise NotFound(_("That pitch does not exist."))
        if (refusal := _refusal(rules, pitch_id, judge, scores)) is not None:
            raise refusal
        if not rules.is_open(pitch_id):
            raise _closed()
        bump_scores_version(rules.session_id)
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
