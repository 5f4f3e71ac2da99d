"""Forms for events, sessions, applications and decisions."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import AnyOf, InputRequired, Length, NumberRange, Optional

from pitchtank.accounts.forms import MultiCheckboxField
from pitchtank.core.forms import REQUIRED, WholeNumberField
from pitchtank.core.timefields import LocalDateTimeField
from pitchtank.events.models import (
    EVENT_NAME_MAX,
    NOTE_MAX,
    PITCH_MINUTES_MAX,
    QA_MINUTES_MAX,
    SESSION_TITLE_MAX,
    VENUE_MAX,
)
from pitchtank.events.services import EventData, SessionData
from pitchtank.ventures.models import LONG_TEXT_MAX


class EventForm(FlaskForm):
    name = StringField(_l("Event name"), validators=[InputRequired(REQUIRED), Length(max=EVENT_NAME_MAX)])
    venue = StringField(_l("Venue"), validators=[InputRequired(REQUIRED), Length(max=VENUE_MAX)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=LONG_TEXT_MAX)])
    starts_at = LocalDateTimeField(_l("Starts"), validators=[InputRequired(REQUIRED)])
    ends_at = LocalDateTimeField(_l("Ends"), validators=[InputRequired(REQUIRED)])
    submissions_open_at = LocalDateTimeField(_l("Applications open"), validators=[InputRequired(REQUIRED)])
    submissions_close_at = LocalDateTimeField(_l("Applications close"), validators=[InputRequired(REQUIRED)])

    def to_data(self) -> EventData:
        return EventData(
            name=self.name.data, venue=self.venue.data, description=self.description.data or "",
            starts_at=self.starts_at.data, ends_at=self.ends_at.data,
            submissions_open_at=self.submissions_open_at.data,
            submissions_close_at=self.submissions_close_at.data,
        )


class SessionForm(FlaskForm):
    title = StringField(_l("Title"), validators=[InputRequired(REQUIRED), Length(max=SESSION_TITLE_MAX)])
    starts_at = LocalDateTimeField(_l("Scheduled start"), validators=[InputRequired(REQUIRED)])
    pitch_minutes = WholeNumberField(
        _l("Pitch minutes"), default=5,
        validators=[InputRequired(REQUIRED), NumberRange(1, PITCH_MINUTES_MAX)],
    )
    qa_minutes = WholeNumberField(
        _l("Q&A minutes"), default=3,
        validators=[InputRequired(REQUIRED), NumberRange(0, QA_MINUTES_MAX)],
    )

    def to_data(self) -> SessionData:
        return SessionData(title=self.title.data, starts_at=self.starts_at.data,
                           pitch_minutes=self.pitch_minutes.data, qa_minutes=self.qa_minutes.data)


class ApplyForm(FlaskForm):
    venture_id = SelectField(_l("Venture"), coerce=int, choices=[], validators=[InputRequired(REQUIRED)])


class DecisionForm(FlaskForm):
    decision = HiddenField(validators=[InputRequired(REQUIRED), AnyOf(["accept", "reject"])])
    note = TextAreaField(_l("Note to the entrepreneur (optional)"), validators=[Optional(), Length(max=NOTE_MAX)])


class AddPitchForm(FlaskForm):
    submission_id = SelectField(_l("Accepted venture"), coerce=int, choices=[], validators=[InputRequired(REQUIRED)])


class MovePitchForm(FlaskForm):
    direction = HiddenField(validators=[InputRequired(REQUIRED), AnyOf(["up", "down"])])


class JudgesForm(FlaskForm):
    judge_ids = MultiCheckboxField(_l("Judges"), coerce=int, choices=[], validators=[Optional()])
