"""Forms of the fund pages: amounts are typed in pesos and handed to the services in centavos."""

from __future__ import annotations

import enum
import re
from datetime import datetime
from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from pitchtank.core.forms import REQUIRED, FiniteDecimalField, WholeNumberField
from pitchtank.core.timefields import local_zone
from pitchtank.fund.models import (
    FUND_NAME_MAX,
    REFERENCE_MAX,
    FundStatus,
    OfferStatus,
    PaymentMethod,
    PaymentStatus,
    PledgeStatus,
)
from pitchtank.fund.offers import TERMS_MAX
from pitchtank.fund.services import FundData

# "1500000.50" or "1,500,000.50" (commas only in groups of three); "$" and "MXN" may frame it.
_PLAIN = re.compile(r"\d+(?:\.\d+)?")
_GROUPED = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")
REASON_MAX = 255  # the reversal's reason goes into a ledger memo of 255 characters
NOTE_MAX = 2000


class AmountError(ValueError):
    """An amount in pesos that cannot be turned into centavos exactly."""


def pesos_to_cents(value: str | Decimal | int) -> int:
    """Pesos typed by a person (``"1,500,000.50"``, ``"1500000.5"``, ``Decimal("12.30")``) as
    exact integer centavos. Refuses negatives, more than two decimals, NaN and infinity, and
    commas that are not thousands separators (``"1,5"`` is not a Mexican amount)."""
    if isinstance(value, bool):
        raise AmountError(_("Type an amount in pesos, like 1,500,000.50."))
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        text = value.replace("\u00a0", " ").strip()
        if text.startswith("$"):
            text = text[1:].strip()
        if text.upper().endswith("MXN"):
            text = text[:-3].strip()
        if not (_PLAIN.fullmatch(text) or _GROUPED.fullmatch(text)):
            raise AmountError(_("Type an amount in pesos, like 1,500,000.50."))
        try:
            amount = Decimal(text.replace(",", ""))
        except InvalidOperation as error:  # pragma: no cover - the patterns above admit only digits
            raise AmountError(_("Type an amount in pesos, like 1,500,000.50.")) from error
    else:
        raise AmountError(_("Type an amount in pesos, like 1,500,000.50."))
    if not amount.is_finite():
        raise AmountError(_("Type an amount in pesos, like 1,500,000.50."))
    if amount < 0:
        raise AmountError(_("The amount cannot be negative."))
    if amount.normalize().as_tuple().exponent < -2:
        raise AmountError(_("Use at most two decimals for centavos."))
    return int(amount * 100)


def cents_to_pesos_text(cents: int | None) -> str:
    """``150000050`` → ``"1500000.50"``: how an amount goes back into a form field."""
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"


class PesosField(StringField):
    """A text field for an amount in pesos whose ``data`` is integer centavos (or None)."""

    def __init__(self, *args, **kwargs):
        render_kw = kwargs.setdefault("render_kw", {})
        render_kw.setdefault("inputmode", "decimal")
        render_kw.setdefault("autocomplete", "off")
        render_kw.setdefault("spellcheck", "false")
        super().__init__(*args, **kwargs)

    def process_formdata(self, valuelist):
        if not valuelist or not valuelist[0].strip():
            self.data = None
            return
        try:
            self.data = pesos_to_cents(valuelist[0])
        except AmountError as error:
            self.data = None
            raise ValueError(str(error)) from error

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return cents_to_pesos_text(self.data) if isinstance(self.data, int) else ""


def local_today():
    return datetime.now(local_zone()).date()


class FundForm(FlaskForm):
    name = StringField(_l("Fund name"), validators=[InputRequired(REQUIRED), Length(max=FUND_NAME_MAX)])
    target = PesosField(_l("Target (MXN)"), description=_l("In pesos, e.g. 25,000,000.00"),
                        validators=[InputRequired(REQUIRED)])
    min_pledge = PesosField(_l("Minimum pledge (MXN)"), description=_l("The smallest commitment a company may make."),
                            validators=[InputRequired(REQUIRED)])
    commitment_deadline = DateField(_l("Commitment deadline"), validators=[InputRequired(REQUIRED)])
    clabe = StringField(_l("CLABE for transfers"),
                        description=_l("The fund's 18-digit CLABE: companies send their SPEI transfers to it."),
                        validators=[InputRequired(REQUIRED), Length(max=18)],
                        filters=[lambda value: re.sub(r"[\s-]", "", value) if value else value],
                        render_kw={"inputmode": "numeric", "autocomplete": "off", "spellcheck": "false"})
    cooling_off_days = WholeNumberField(
        _l("Cooling-off period (days)"),
        description=_l("How many days after pledging a company may still lower or cancel its pledge."),
        default=7, validators=[InputRequired(REQUIRED), NumberRange(min=0, max=90)],
        render_kw={"inputmode": "numeric", "min": 0, "max": 90})

    def to_data(self) -> FundData:
        return FundData(name=self.name.data, target_cents=self.target.data, min_pledge_cents=self.min_pledge.data,
                        commitment_deadline=self.commitment_deadline.data, clabe=self.clabe.data,
                        cooling_off_days=self.cooling_off_days.data)


FUND_ALIASES = {"target_cents": "target", "min_pledge_cents": "min_pledge"}
AMOUNT_ALIASES = {"amount_cents": "amount"}


class PledgeForm(FlaskForm):
    """A new commitment, or the new amount of an existing one (raise or lower)."""

    amount = PesosField(_l("Amount (MXN)"), validators=[InputRequired(REQUIRED)])


class FundStatusForm(FlaskForm):
    status = SelectField(_l("Status"), choices=lambda: [(s.value, fund_label(s)) for s in FundStatus])


class CapitalCallForm(FlaskForm):
    percent = FiniteDecimalField(_l("Percent of each commitment"), places=None,
                                 description=_l("Between 0.01 and 100; each company is called pro rata."),
                                 validators=[InputRequired(REQUIRED)], render_kw={"inputmode": "decimal"})
    notice_date = DateField(_l("Notice date"), default=local_today, validators=[InputRequired(REQUIRED)])
    due_date = DateField(_l("Due date"), validators=[InputRequired(REQUIRED)])


class TransferForm(FlaskForm):
    """A SPEI transfer seen on the fund's bank account, recorded against one call line."""

    amount = PesosField(_l("Amount received (MXN)"), validators=[InputRequired(REQUIRED)])
    paid_on = DateField(_l("Date received"), default=local_today, validators=[InputRequired(REQUIRED)])
    reference = StringField(_l("Transfer reference"), validators=[InputRequired(REQUIRED), Length(max=REFERENCE_MAX)])


class AllocationForm(FlaskForm):
    venture_id = SelectField(_l("Venture"), coerce=int, validate_choice=True, validators=[InputRequired(REQUIRED)])
    amount = PesosField(_l("Amount (MXN)"), validators=[InputRequired(REQUIRED)])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=NOTE_MAX)])


class ReversalForm(FlaskForm):
    reason = StringField(_l("Reason for the reversal"), validators=[InputRequired(REQUIRED), Length(max=REASON_MAX)])


class OfferForm(FlaskForm):
    amount = PesosField(_l("Amount offered (MXN)"), validators=[InputRequired(REQUIRED)])
    equity = FiniteDecimalField(_l("Equity asked for (%)"), places=None, validators=[InputRequired(REQUIRED)],
                                render_kw={"inputmode": "decimal"})
    terms = TextAreaField(_l("Terms"), description=_l("Conditions of the offer: instrument, milestones, board seat…"),
                          validators=[Optional(), Length(max=TERMS_MAX)])


OFFER_ALIASES = {"amount_cents": "amount", "equity_pct": "equity"}


# ---------- Human names for the fund's states, on pages and in the PDFs ----------

def fund_label(value) -> str:
    """The user's-language name of a fund, pledge, line, payment or offer state, or a method."""
    names = {
        (FundStatus, "open"): _("Open for commitments"),
        (FundStatus, "closed"): _("Closed"),
        (FundStatus, "wound_down"): _("Wound down"),
        (PledgeStatus, "active"): _("Active"),
        (PledgeStatus, "cancelled"): _("Cancelled"),
        (PaymentMethod, "transfer"): _("Bank transfer (SPEI), recorded"),
        (PaymentMethod, "card"): _("Card"),
        (PaymentMethod, "oxxo"): _("OXXO"),
        (PaymentMethod, "spei"): _("SPEI"),
        (PaymentStatus, "pending"): _("Pending"),
        (PaymentStatus, "processing"): _("Processing"),
        (PaymentStatus, "requires_action"): _("Needs the card holder"),
        (PaymentStatus, "succeeded"): _("Paid"),
        (PaymentStatus, "failed"): _("Failed"),
        (PaymentStatus, "canceled"): _("Canceled"),
        (PaymentStatus, "refunded"): _("Refunded"),
        (PaymentStatus, "disputed"): _("Disputed"),
        (OfferStatus, "pending"): _("Awaiting answer"),
        (OfferStatus, "accepted"): _("Accepted"),
        (OfferStatus, "declined"): _("Declined"),
        (str, "paid"): _("Paid"),
        (str, "partial"): _("Partly paid"),
        (str, "unpaid"): _("Unpaid"),
        (str, "overdue"): _("Overdue"),
        (str, "overpaid"): _("Overpaid"),
    }
    kind = type(value) if isinstance(value, enum.Enum) else str
    key = value.value if isinstance(value, enum.Enum) else str(value)
    return str(names.get((kind, key), key))
