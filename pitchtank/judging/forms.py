"""Forms of the organizer's console: show actions, voiding scores and the rubric editor."""

from __future__ import annotations

import re
from collections.abc import Iterable

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    FieldList,
    Form,
    FormField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    StopValidation,
    ValidationError,
)

from pitchtank.core.forms import REQUIRED, WholeNumberField
from pitchtank.judging import rubrics
from pitchtank.judging.models import (
    CRITERION_NAME_MAX,
    KEY_MAX,
    REASON_MAX,
    SCALE_LIMIT,
    WEIGHT_MAX,
)

CRITERION_ROWS = rubrics.MAX_CRITERIA
QUESTION_ROWS = rubrics.MAX_QUESTIONS
ANCHORS_TEXT_MAX = 2000
_ANCHOR_VALUE = re.compile(r"-?[0-9]{1,4}")


# ---------- Anchored labels as one short line of text ----------

def parse_anchors(text: str | None) -> dict[str, dict[str, str]]:
    """``"1=Débil|Weak; 10=Excepcional|Outstanding"`` → ``{"1": {"es": "Débil", "en": "Weak"}, ...}``.

    A label without ``|`` serves both languages. Raises ValueError with a translated message.
    """
    anchors: dict[str, dict[str, str]] = {}
    shape = _("Write each label as value=Spanish|English, separated by ';'.")
    for part in (text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        value, sep, labels = part.partition("=")
        value = value.strip()
        if not sep or not _ANCHOR_VALUE.fullmatch(value):
            raise ValueError(shape)
        normalized = str(int(value))
        if normalized in anchors:
            raise ValueError(_("The value %(value)s has two labels.", value=normalized))
        spanish, bar, english = labels.partition("|")
        spanish = spanish.strip()
        english = english.strip() if bar else spanish
        if not spanish and not english:
            raise ValueError(shape)
        if len(spanish) > rubrics.ANCHOR_MAX or len(english) > rubrics.ANCHOR_MAX:
            raise ValueError(_("Each label has at most %(n)s characters.", n=rubrics.ANCHOR_MAX))
        anchors[normalized] = {"es": spanish, "en": english}
    return anchors


def format_anchors(anchors: dict[str, dict[str, str]] | None) -> str:
    """The inverse of ``parse_anchors``, values in numeric order."""
    items = sorted((anchors or {}).items(),
                   key=lambda item: int(item[0]) if _ANCHOR_VALUE.fullmatch(item[0]) else 0)
    parts = []
    for value, labels in items:
        spanish, english = labels.get("es", ""), labels.get("en", "")
        parts.append(f"{value}={spanish}" if spanish == english else f"{value}={spanish}|{english}")
    return "; ".join(parts)


def _required_in_a_filled_row(form, field) -> None:
    """Like Optional() in an empty row (which is left out); like InputRequired() in a filled one."""
    if field.raw_data and str(field.raw_data[0]).strip():
        return
    field.errors[:] = []
    if form.is_empty():
        raise StopValidation()
    raise StopValidation(str(REQUIRED))


def _anchors_valid(form, field) -> None:
    try:
        parse_anchors(field.data)
    except ValueError as error:
        raise ValidationError(str(error)) from error


# ---------- The show ----------

class ActionForm(FlaskForm):
    """One step of the show; ``pitch_id`` names an earlier pitch to close or reopen."""

    pitch_id = WholeNumberField(_l("Pitch"), validators=[Optional(), NumberRange(min=1)])


class VoidForm(FlaskForm):
    judge_id = SelectField(_l("Judge"), coerce=int, choices=[], validators=[InputRequired(REQUIRED)])
    pitch_id = SelectField(_l("Pitch"), coerce=int, choices=[], validators=[InputRequired(REQUIRED)])
    reason = TextAreaField(
        _l("Reason (kept in the audit log)"),
        validators=[DataRequired(_l("Give a reason for voiding these scores.")), Length(max=REASON_MAX)],
    )


# ---------- The rubric ----------

class _RowForm(Form):
    """One criterion; every field optional so that an empty row can simply be left out."""

    key = StringField(_l("Key"), validators=[Optional(), Length(max=KEY_MAX)])
    name_es = StringField(_l("Name (Spanish)"), validators=[Optional(), Length(max=CRITERION_NAME_MAX)])
    name_en = StringField(_l("Name (English)"), validators=[Optional(), Length(max=CRITERION_NAME_MAX)])
    description_es = TextAreaField(_l("Description (Spanish)"),
                                   validators=[Optional(), Length(max=rubrics.DESCRIPTION_MAX)])
    description_en = TextAreaField(_l("Description (English)"),
                                   validators=[Optional(), Length(max=rubrics.DESCRIPTION_MAX)])
    min = WholeNumberField(_l("Lowest value"),
                       validators=[_required_in_a_filled_row, NumberRange(-SCALE_LIMIT, SCALE_LIMIT)])
    max = WholeNumberField(_l("Highest value"),
                       validators=[_required_in_a_filled_row, NumberRange(-SCALE_LIMIT, SCALE_LIMIT)])
    anchors = StringField(_l("Anchored labels"), validators=[Optional(), Length(max=ANCHORS_TEXT_MAX), _anchors_valid])

    TEXT_FIELDS: tuple[str, ...] = ("key", "name_es", "name_en", "description_es", "description_en", "anchors")
    NUMBER_FIELDS: tuple[str, ...] = ("min", "max")

    def is_empty(self) -> bool:
        texts = (getattr(self, name).data for name in self.TEXT_FIELDS)
        numbers = (getattr(self, name).raw_data for name in self.NUMBER_FIELDS)
        return not any((t or "").strip() for t in texts) and not any(
            raw and str(raw[0]).strip() for raw in numbers)

    def weight_value(self) -> int:
        return 0

    def to_data(self) -> rubrics.CriterionData:
        return rubrics.CriterionData(
            key=(self.key.data or "").strip(), name_es=(self.name_es.data or "").strip(),
            name_en=(self.name_en.data or "").strip(), weight=self.weight_value(),
            min=self.min.data, max=self.max.data,
            description_es=(self.description_es.data or "").strip(),
            description_en=(self.description_en.data or "").strip(),
            anchors=parse_anchors(self.anchors.data),
        )


class CriterionRowForm(_RowForm):
    weight = WholeNumberField(_l("Weight"), validators=[_required_in_a_filled_row, NumberRange(1, WEIGHT_MAX)])
    NUMBER_FIELDS = ("weight", "min", "max")

    def weight_value(self) -> int:
        return self.weight.data


class QuestionRowForm(_RowForm):
    """A question with weight 0: recorded, never ranked (e.g. "Would you invest?")."""


def _row_data(criterion) -> dict:
    """Form data for one row from a RubricCriterion or a CriterionData."""
    is_row = hasattr(criterion, "min_value")
    return {
        "key": criterion.key, "name_es": criterion.name_es, "name_en": criterion.name_en,
        "description_es": criterion.description_es, "description_en": criterion.description_en,
        "weight": criterion.weight,
        "min": criterion.min_value if is_row else criterion.min,
        "max": criterion.max_value if is_row else criterion.max,
        "anchors": format_anchors(criterion.anchors),
    }


class RubricForm(FlaskForm):
    criteria = FieldList(FormField(CriterionRowForm), min_entries=CRITERION_ROWS, max_entries=CRITERION_ROWS)
    questions = FieldList(FormField(QuestionRowForm), min_entries=QUESTION_ROWS, max_entries=QUESTION_ROWS)

    @classmethod
    def prefilled(cls, criteria: Iterable) -> RubricForm:
        """The editor showing ``criteria`` (rubric rows or CriterionData): weighted ones first, then questions."""
        weighted = [_row_data(c) for c in criteria if (c.weight or 0) > 0]
        questions = [_row_data(c) for c in criteria if (c.weight or 0) == 0]
        return cls(data={"criteria": weighted[:CRITERION_ROWS], "questions": questions[:QUESTION_ROWS]})

    def filled_rows(self) -> list[FormField]:
        """The rows to save, in order: criteria first, then questions; empty rows are left out."""
        return [row for row in (*self.criteria, *self.questions) if not row.form.is_empty()]

    def to_data(self) -> list[rubrics.CriterionData]:
        return [row.form.to_data() for row in self.filled_rows()]


class CopyRubricForm(FlaskForm):
    source_session_id = SelectField(_l("Session to copy from"), coerce=int, choices=[],
                                    validators=[InputRequired(REQUIRED)])
