"""The venture profile and deck upload forms."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField, StringField, TextAreaField, URLField
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError

from pitchtank.core.forms import REQUIRED, FiniteDecimalField
from pitchtank.core.labels import choices
from pitchtank.ventures.models import (
    LONG_TEXT_MAX,
    NAME_MAX,
    TAGLINE_MAX,
    WEBSITE_MAX,
    Sector,
    Stage,
)
from pitchtank.ventures.services import VentureData

LONG = [Optional(), Length(max=LONG_TEXT_MAX)]


class VentureForm(FlaskForm):
    name = StringField(_l("Venture name"), validators=[InputRequired(REQUIRED), Length(max=NAME_MAX)])
    tagline = StringField(
        _l("Tagline"),
        description=_l("One sentence: what you do and for whom."),
        validators=[InputRequired(REQUIRED), Length(max=TAGLINE_MAX)],
    )
    sector = SelectField(_l("Sector"), choices=lambda: choices(Sector), validators=[InputRequired(REQUIRED)])
    stage = SelectField(_l("Stage"), choices=lambda: choices(Stage), validators=[InputRequired(REQUIRED)])
    description = TextAreaField(
        _l("Description"), validators=[InputRequired(REQUIRED), Length(max=LONG_TEXT_MAX)]
    )
    problem = TextAreaField(_l("Problem"), validators=LONG)
    solution = TextAreaField(_l("Solution"), validators=LONG)
    market = TextAreaField(_l("Market"), validators=LONG)
    traction = TextAreaField(_l("Traction"), validators=LONG)
    team = TextAreaField(_l("Team"), description=_l("Who is on the team and what each person does."), validators=LONG)
    website = URLField(_l("Website"), validators=[Optional(), Length(max=WEBSITE_MAX)])
    ask = FiniteDecimalField(
        _l("Ask (MXN)"),
        description=_l("The investment you are asking for, in Mexican pesos."),
        places=2,
        validators=[InputRequired(REQUIRED), NumberRange(min=Decimal("0.01"), message=_l("The ask must be more than zero pesos."))],
    )
    equity_offered_pct = FiniteDecimalField(
        _l("Equity offered (%)"),
        places=2,
        validators=[InputRequired(REQUIRED)],
    )

    def validate_equity_offered_pct(self, field) -> None:
        # Not NumberRange: it %-formats its message, and this one contains "%".
        if field.data is not None and not 0 < field.data <= 100:
            raise ValidationError(_l("The equity offered must be more than 0 % and at most 100 %."))

    def validate_ask(self, field) -> None:
        if field.data is not None and field.data.normalize().as_tuple().exponent < -2:
            raise ValidationError(_l("Use at most two decimals for centavos."))

    def to_data(self) -> VentureData:
        return VentureData(
            name=self.name.data,
            tagline=self.tagline.data,
            sector=Sector(self.sector.data),
            stage=Stage(self.stage.data),
            description=self.description.data,
            problem=self.problem.data or "",
            solution=self.solution.data or "",
            market=self.market.data or "",
            traction=self.traction.data or "",
            team=self.team.data or "",
            website=self.website.data or "",
            ask_cents=int(self.ask.data * 100),
            equity_offered_pct=self.equity_offered_pct.data,
        )

    @classmethod
    def for_venture(cls, venture):
        return cls(obj=venture, ask=Decimal(venture.ask_cents) / 100,
                   equity_offered_pct=venture.equity_offered_pct)


# Field names the services use that the form shows under another name.
FORM_ALIASES = {"ask_cents": "ask"}


class DeckForm(FlaskForm):
    deck = FileField(_l("Pitch deck (PDF, at most 10 MB)"), validators=[FileRequired(REQUIRED)])
