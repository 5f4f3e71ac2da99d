"""Rubrics: the criteria a session's judges score, frozen once any score exists."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import exists, select

from pitchtank.core.errors import Conflict, ValidationFailed
from pitchtank.events.models import Pitch, PitchSession, SessionStatus
from pitchtank.extensions import db
from pitchtank.judging import scoring
from pitchtank.judging.models import (
    CRITERION_NAME_MAX,
    KEY_MAX,
    SCALE_LIMIT,
    WEIGHT_MAX,
    RubricCriterion,
    ScoreSheet,
)

MIN_CRITERIA = 3
MAX_CRITERIA = 8
MAX_QUESTIONS = 4
DESCRIPTION_MAX = 1000
ANCHOR_MAX = 60
ANCHOR_VALUE = re.compile(r"^-?[0-9]{1,3}$")
KEY_PATTERN = re.compile(rf"^[a-z][a-z0-9_]{{0,{KEY_MAX - 1}}}$")


@dataclass(frozen=True)
class CriterionData:
    key: str
    name_es: str
    name_en: str
    weight: int
    min: int
    max: int
    description_es: str = ""
    description_en: str = ""
    anchors: dict[str, dict[str, str]] = field(default_factory=dict)


def criteria_of(session: PitchSession) -> list[RubricCriterion]:
    return criteria_for(session.id)


def criteria_for(session_id: int) -> list[RubricCriterion]:
    return list(db.session.scalars(
        select(RubricCriterion).where(RubricCriterion.session_id == session_id).order_by(RubricCriterion.position)
    ))


def scoring_criteria(criteria: list[RubricCriterion]) -> list[scoring.Criterion]:
    return [scoring.Criterion(key=c.key, weight=c.weight, min=c.min_value, max=c.max_value) for c in criteria]


def has_scores(session: PitchSession) -> bool:
    return bool(db.session.scalar(select(exists().where(
        ScoreSheet.pitch_id == Pitch.id, Pitch.session_id == session.id
    ))))


def _check(criteria: list[CriterionData]) -> None:
    errors: dict[str, list[str]] = {}
    weighted = [c for c in criteria if c.weight > 0]
    questions = [c for c in criteria if c.weight == 0]
    if not MIN_CRITERIA <= len(weighted) <= MAX_CRITERIA:
        errors["criteria"] = [_("A rubric has between %(min)s and %(max)s weighted criteria.",
                                min=MIN_CRITERIA, max=MAX_CRITERIA)]
    if len(questions) > MAX_QUESTIONS:
        errors.setdefault("criteria", []).append(
            _("At most %(n)s questions without weight.", n=MAX_QUESTIONS))
    seen: set[str] = set()
    for index, criterion in enumerate(criteria):
        problems: list[str] = []
        if not KEY_PATTERN.match(criterion.key):
            problems.append(_("The key uses lowercase letters, digits and _ and starts with a letter."))
        elif criterion.key in seen:
            problems.append(_("Each criterion needs its own key."))
        seen.add(criterion.key)
        for name in (criterion.name_es, criterion.name_en):
            if not name.strip() or len(name) > CRITERION_NAME_MAX:
                problems.append(_("Give the criterion a name in Spanish and in English (at most %(n)s characters).",
                                  n=CRITERION_NAME_MAX))
                break
        if len(criterion.description_es) > DESCRIPTION_MAX or len(criterion.description_en) > DESCRIPTION_MAX:
            problems.append(_("Use at most %(n)s characters.", n=DESCRIPTION_MAX))
        if not 0 <= criterion.weight <= WEIGHT_MAX:
            problems.append(_("The weight is between 0 and %(n)s.", n=WEIGHT_MAX))
        if not (-SCALE_LIMIT <= criterion.min < criterion.max <= SCALE_LIMIT):
            problems.append(_("The scale needs a minimum below its maximum, both between -100 and 100."))
        for value, labels in criterion.anchors.items():
            if not ANCHOR_VALUE.match(value) or not criterion.min <= int(value) <= criterion.max:
                problems.append(_("Anchored labels must belong to values on the scale."))
                break
            if not isinstance(labels, dict) or any(
                not isinstance(labels.get(lang, ""), str) or len(labels.get(lang, "")) > ANCHOR_MAX
                for lang in ("es", "en")
            ):
                problems.append(_("Anchored labels are short texts in Spanish and English."))
                break
        if problems:
            errors[f"criteria.{index}"] = problems
    if errors:
        raise ValidationFailed(errors, _("The rubric is not valid."))


def set_rubric(session: PitchSession, criteria: list[CriterionData]) -> list[RubricCriterion]:
    """Replace a session's rubric; refused once any score exists or the session is over."""
    if session.status in {SessionStatus.ENDED, SessionStatus.PUBLISHED} or has_scores(session):
        raise Conflict(_("The rubric cannot change once judges have scored."))
    _check(criteria)
    for existing in criteria_of(session):
        db.session.delete(existing)
    db.session.flush()
    rows = [
        RubricCriterion(
            session_id=session.id, position=position, key=c.key, name_es=c.name_es.strip(),
            name_en=c.name_en.strip(), description_es=c.description_es.strip(),
            description_en=c.description_en.strip(), weight=c.weight, min_value=c.min, max_value=c.max,
            anchors={k: {"es": v.get("es", ""), "en": v.get("en", "")} for k, v in c.anchors.items()},
        )
        for position, c in enumerate(criteria, start=1)
    ]
    db.session.add_all(rows)
    db.session.flush()
    return rows


def copy_rubric(source: PitchSession, target: PitchSession) -> list[RubricCriterion]:
    """Give ``target`` the same rubric as ``source``."""
    return set_rubric(target, [
        CriterionData(key=c.key, name_es=c.name_es, name_en=c.name_en, weight=c.weight, min=c.min_value,
                      max=c.max_value, description_es=c.description_es, description_en=c.description_en,
                      anchors=dict(c.anchors))
        for c in criteria_of(source)
    ])


def default_rubric() -> list[CriterionData]:
    """A proven starting point for a cluster pitch session: five criteria and one question."""
    scale = {"1": {"es": "Débil", "en": "Weak"}, "5": {"es": "Aceptable", "en": "Fair"},
             "10": {"es": "Excepcional", "en": "Outstanding"}}
    return [
        CriterionData("problem", "Problema y oportunidad", "Problem and opportunity", 20, 1, 10,
                      "¿Es un problema real y relevante?", "Is it a real, relevant problem?", scale),
        CriterionData("solution", "Solución e innovación", "Solution and innovation", 20, 1, 10,
                      "¿La solución es original y viable?", "Is the solution original and feasible?", scale),
        CriterionData("market", "Mercado y modelo de negocio", "Market and business model", 20, 1, 10,
                      "¿Hay mercado y una forma clara de ganar dinero?", "Is there a market and a clear way to earn money?", scale),
        CriterionData("team", "Equipo", "Team", 25, 1, 10,
                      "¿El equipo puede ejecutar?", "Can the team execute?", scale),
        CriterionData("pitch", "Presentación", "Pitch delivery", 15, 1, 10,
                      "Claridad y manejo de preguntas.", "Clarity and handling of questions.", scale),
        CriterionData("would_invest", "¿Invertiría?", "Would you invest?", 0, 0, 1, "", "",
                      {"0": {"es": "No", "en": "No"}, "1": {"es": "Sí", "en": "Yes"}}),
    ]
