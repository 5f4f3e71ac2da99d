"""What decides whether a judge's score is accepted, cached per session and ``state_version``.

A score write must know, for the pitch's session: who judges it (assigned, holding the judge
role, account active), who recused from which pitch, the rubric's criteria and which pitches
are open for scoring. Reading that takes five queries; it changes a few times per pitch while
fifteen judges write hundreds of scores. So each process keeps one immutable snapshot per
session, labelled with the ``state_version`` that was read *before* the rules, and every
change to what a snapshot holds bumps ``state_version`` in the same transaction: the
``after_flush`` listener below does it for any ORM change to judges, recusals, criteria,
pitches, judge roles or accounts, whichever code makes it.

A snapshot is never trusted on its own word (see ``sheets.submit``): a write it accepts ends
with ``UPDATE pitch_sessions ... WHERE state_version = <the snapshot's>``, and when that
matches no row the rules are read again under the session's row lock before anything commits;
a refusal is confirmed against the stored version before it is given. A stale snapshot, in
this process or in another, can cost a re-read but never changes an answer.

Changes made with raw SQL that bypasses the ORM (none in the app) must bump
``pitch_sessions.state_version`` themselves.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sqlalchemy import event, inspect, select, update
from sqlalchemy.orm import Session, object_session

from pitchtank.accounts.models import Role, User, UserRole
from pitchtank.events.models import Pitch, PitchSession, ScoringState, SessionJudge
from pitchtank.extensions import db
from pitchtank.judging.models import Recusal, RubricCriterion

_CHANGED_KEY = "pitchtank_scoring_rules_changed"
_EXPIRE_KEY = "pitchtank_scoring_rules_expire"
MAX_CACHED_SESSIONS = 1000


@dataclass(frozen=True, slots=True)
class CriterionRule:
    id: int
    min: int
    max: int


@dataclass(frozen=True, slots=True)
class ScoringRules:
    """The rules of one session as they were at ``state_version``."""

    session_id: int
    state_version: int
    pitch_ids: frozenset[int]
    open_pitch_ids: frozenset[int]
    judge_ids: frozenset[int]  # assigned, with the judge role, account active
    recusals: frozenset[tuple[int, int]]  # (judge id, pitch id)
    criteria: Mapping[str, CriterionRule]

    def is_judge(self, judge_id: int) -> bool:
        return judge_id in self.judge_ids

    def is_recused(self, judge_id: int, pitch_id: int) -> bool:
        return (judge_id, pitch_id) in self.recusals

    def is_open(self, pitch_id: int) -> bool:
        return pitch_id in self.open_pitch_ids


def load(session_id: int, *, lock: bool = False) -> ScoringRules | None:
    """Read the rules of a session from the database (None: no such session).

    The version is read first: a change committed while the rest is read makes the stored
    version differ from the label, so the snapshot can only be rejected, never wrongly trusted.
    ``lock`` takes the session's row lock, which every change to the rules needs too.
    """
    query = select(PitchSession.state_version).where(PitchSession.id == session_id)
    version = db.session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if version is None:
        return None
    pitches = db.session.execute(select(Pitch.id, Pitch.scoring).where(Pitch.session_id == session_id)).all()
    judges = db.session.scalars(
        select(SessionJudge.user_id)
        .join(User, User.id == SessionJudge.user_id)
        .join(UserRole, (UserRole.user_id == SessionJudge.user_id) & (UserRole.role == Role.JUDGE))
        .where(SessionJudge.session_id == session_id, User.is_active_account.is_(True))
    ).all()
    recusals = db.session.execute(
        select(Recusal.judge_id, Recusal.pitch_id).join(Pitch, Pitch.id == Recusal.pitch_id)
        .where(Pitch.session_id == session_id)
    ).all()
    criteria = db.session.execute(
        select(RubricCriterion.key, RubricCriterion.id, RubricCriterion.min_value, RubricCriterion.max_value)
        .where(RubricCriterion.session_id == session_id)
    ).all()
    return ScoringRules(
        session_id=session_id,
        state_version=version or 0,
        pitch_ids=frozenset(p.id for p in pitches),
        open_pitch_ids=frozenset(p.id for p in pitches if p.scoring == ScoringState.OPEN),
        judge_ids=frozenset(judges),
        recusals=frozenset((r.judge_id, r.pitch_id) for r in recusals),
        criteria=MappingProxyType({c.key: CriterionRule(c.id, c.min_value, c.max_value) for c in criteria}),
    )


def stored_version(session_id: int) -> int | None:
    """The session's state version, or None if there is no such session."""
    return db.session.scalar(select(PitchSession.state_version).where(PitchSession.id == session_id))


def session_of_pitch(pitch_id: int) -> int | None:
    return db.session.scalar(select(Pitch.session_id).where(Pitch.id == pitch_id))


class RulesCache:
    """Per-process snapshots by session, and each known pitch's session."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: dict[int, ScoringRules] = {}
        self._session_of_pitch: dict[int, int] = {}

    def for_pitch(self, pitch_id: int) -> ScoringRules | None:
        session_id = self._session_of_pitch.get(pitch_id)
        rules = None if session_id is None else self._rules.get(session_id)
        return rules if rules is not None and pitch_id in rules.pitch_ids else None

    def put(self, rules: ScoringRules) -> None:
        with self._lock:
            if len(self._rules) >= MAX_CACHED_SESSIONS and rules.session_id not in self._rules:
                self._rules.clear()
                self._session_of_pitch.clear()
            self._rules[rules.session_id] = rules
            for pitch_id in rules.pitch_ids:
                self._session_of_pitch[pitch_id] = rules.session_id

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._session_of_pitch.clear()


cache = RulesCache()


def changed_in_this_transaction() -> bool:
    """True once this transaction changed some session's rules: its own uncommitted view
    must never be cached for everyone."""
    return bool(db.session.info.get(_CHANGED_KEY))


def for_pitch(pitch_id: int) -> ScoringRules | None:
    """The rules of the pitch's session, cached when possible (None: no such pitch)."""
    mine = changed_in_this_transaction()
    if not mine:
        rules = cache.for_pitch(pitch_id)
        if rules is not None:
            return rules
    return fresh_for_pitch(pitch_id, cache_it=not mine)


def fresh_for_pitch(pitch_id: int, *, lock: bool = False, cache_it: bool = False) -> ScoringRules | None:
    session_id = session_of_pitch(pitch_id)
    rules = None if session_id is None else load(session_id, lock=lock)
    if rules is None or pitch_id not in rules.pitch_ids:
        return None
    if cache_it and not changed_in_this_transaction():
        cache.put(rules)
    return rules


def confirmed(rules: ScoringRules, pitch_id: int) -> ScoringRules | None:
    """``rules`` if they are still the stored ones; otherwise the current rules (re-cached)."""
    if stored_version(rules.session_id) == rules.state_version and not changed_in_this_transaction():
        return rules
    return fresh_for_pitch(pitch_id, cache_it=True)


# --- every change to what a snapshot holds bumps the session's state_version ---


_PENDING_KEY = "pitchtank_scoring_rules_pending"


def _values(target, attribute: str) -> set:
    """The attribute's value now and before this flush (a row may move between sessions)."""
    history = inspect(target).attrs[attribute].history
    return {v for v in (*history.added, *history.unchanged, *history.deleted) if v is not None}


def _changed(target, *attributes: str) -> bool:
    state = inspect(target)
    return any(state.attrs[name].history.has_changes() for name in attributes)


def _note(target, kind: str, ids: set) -> None:
    session = object_session(target)
    if session is not None and ids:
        pending = session.info.setdefault(_PENDING_KEY, {"sessions": set(), "pitches": set(), "users": set()})
        pending[kind] |= ids


# Row-level events see every row the flush writes, orphans deleted by cascade included.
def _on_session_row(mapper, connection, target) -> None:
    _note(target, "sessions", _values(target, "session_id"))


def _on_session_row_update(mapper, connection, target) -> None:
    if any(inspect(target).attrs[c.key].history.has_changes() for c in mapper.column_attrs):
        _note(target, "sessions", _values(target, "session_id"))


def _on_pitch_update(mapper, connection, target) -> None:
    if _changed(target, "scoring", "session_id"):
        _note(target, "sessions", _values(target, "session_id"))


def _on_recusal(mapper, connection, target) -> None:
    _note(target, "pitches", _values(target, "pitch_id"))


def _on_role(mapper, connection, target) -> None:
    _note(target, "users", _values(target, "user_id"))


def _on_user_update(mapper, connection, target) -> None:
    if _changed(target, "is_active_account"):
        _note(target, "users", {target.id})


def _on_user_delete(mapper, connection, target) -> None:
    _note(target, "users", {target.id})


for _model in (SessionJudge, RubricCriterion, Pitch):
    event.listen(_model, "after_insert", _on_session_row)
    event.listen(_model, "after_delete", _on_session_row)
event.listen(SessionJudge, "after_update", _on_session_row_update)
event.listen(RubricCriterion, "after_update", _on_session_row_update)
event.listen(Pitch, "after_update", _on_pitch_update)
for _name in ("after_insert", "after_update", "after_delete"):
    event.listen(Recusal, _name, _on_recusal)
    event.listen(UserRole, _name, _on_role)
event.listen(User, "after_update", _on_user_update)
event.listen(User, "after_delete", _on_user_delete)


@event.listens_for(Session, "after_flush")
def _bump_on_flush(session: Session, flush_context) -> None:
    pending = session.info.pop(_PENDING_KEY, None)
    if not pending:
        return
    session_ids, pitch_ids, judge_user_ids = pending["sessions"], pending["pitches"], pending["users"]
    table = PitchSession.__table__
    connection = session.connection()
    if session_ids:
        connection.execute(update(table).where(table.c.id.in_(session_ids))
                           .values(state_version=table.c.state_version + 1))
    if pitch_ids:
        connection.execute(update(table).where(table.c.id.in_(
            select(Pitch.__table__.c.session_id).where(Pitch.__table__.c.id.in_(pitch_ids)).scalar_subquery()
        )).values(state_version=table.c.state_version + 1))
    if judge_user_ids:
        assignments = SessionJudge.__table__
        connection.execute(update(table).where(table.c.id.in_(
            select(assignments.c.session_id).where(assignments.c.user_id.in_(judge_user_ids)).scalar_subquery()
        )).values(state_version=table.c.state_version + 1))
    session.info[_CHANGED_KEY] = True
    session.info[_EXPIRE_KEY] = True


@event.listens_for(Session, "after_flush_postexec")
def _expire_bumped_versions(session: Session, flush_context) -> None:
    if not session.info.pop(_EXPIRE_KEY, None):
        return
    # The UPDATE above went around the ORM: reload state_version wherever it is held.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, PitchSession):
            session.expire(obj, ["state_version"])


@event.listens_for(Session, "after_commit")
def _forget_changes_on_commit(session: Session) -> None:
    session.info.pop(_CHANGED_KEY, None)


@event.listens_for(Session, "after_soft_rollback")
def _forget_changes_on_rollback(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_CHANGED_KEY, None)
        session.info.pop(_PENDING_KEY, None)
