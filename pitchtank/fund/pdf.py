"""PDF documents for member companies: a capital call notice and a payment receipt.

A4, in the reader's language (Spanish or English), amounts as ``$1,234.50 MXN`` and dates in
America/Mexico_City. Text is set in DejaVu Sans, embedded, when the system has it (accents,
ñ, bullets and dashes all render); otherwise in the built-in Helvetica, whose Latin-1
alphabet still covers Spanish.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from flask_babel import format_date, format_datetime
from flask_babel import gettext as _
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from pitchtank.core.i18n import current_language, format_money, format_percent
from pitchtank.core.types import utcnow
from pitchtank.fund.forms import fund_label
from pitchtank.fund.models import CallLine, Fund, Payment

FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
    Path("/usr/local/share/fonts"),
)
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
MONO_FILE = "DejaVuSansMono.ttf"
PDF_MIMETYPE = "application/pdf"


@dataclass(frozen=True)
class Fonts:
    body: str
    mono: str
    unicode: bool


@lru_cache(maxsize=1)
def _font_paths() -> dict[str, Path] | None:
    """The DejaVu files, or None when the system has none (then the core fonts serve)."""
    for directory in FONT_DIRS:
        found = {style: directory / name for style, name in FONT_FILES.items()}
        if all(path.is_file() for path in found.values()):
            mono = directory / MONO_FILE
            if mono.is_file():
                found["mono"] = mono
            return found
    return None


def money(cents: int, currency: str = "MXN") -> str:
    """``$1,234.50 MXN`` with an ordinary space (a PDF line never breaks inside it anyway)."""
    return format_money(cents, currency).replace("\u00a0", " ")


def long_day(value: date) -> str:
    return format_date(value, "long")


class _Document(FPDF):
    """A4 with PitchTank's header line and a footer with the page number."""

    def __init__(self, title: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.doc_title = title
        paths = _font_paths()
        if paths:
            self.add_font("DejaVu", "", str(paths[""]))
            self.add_font("DejaVu", "B", str(paths["B"]))
            mono = "DejaVuMono" if "mono" in paths else "DejaVu"
            if "mono" in paths:
                self.add_font("DejaVuMono", "", str(paths["mono"]))
            self.fonts_used = Fonts("DejaVu", mono, True)
        else:
            self.fonts_used = Fonts("helvetica", "courier", False)
        self.set_margins(20, 18, 20)
        self.set_auto_page_break(auto=True, margin=20)
        self.set_title(self.text(title))
        self.set_author("PitchTank")
        self.set_creator("PitchTank")
        self.set_lang("es-MX" if current_language() == "es_MX" else "en")
        self.add_page()

    def text(self, value: object) -> str:
        """Core fonts know Latin-1 only: anything else becomes "?" rather than an error."""
        text = str(value).replace("\u00a0", " ")
        if self.fonts_used.unicode:
            return text
        return text.replace("\u2014", "-").replace("\u2022", "*").encode("latin-1", "replace").decode("latin-1")

    def header(self) -> None:
        self.set_font(self.fonts_used.body, "", 9)
        self.set_text_color(79, 91, 103)
        self.cell(0, 5, self.text(_("PitchTank · Cluster capital fund")), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_draw_color(13, 59, 84)
        self.set_line_width(0.6)
        self.line(self.l_margin, self.get_y() + 1, self.w - self.r_margin, self.get_y() + 1)
        self.ln(6)
        self.set_text_color(23, 33, 43)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(self.fonts_used.body, "", 8)
        self.set_text_color(79, 91, 103)
        generated = format_datetime(utcnow(), "d MMM y, HH:mm")
        self.cell(0, 5, self.text(_("Issued %(when)s (Mexico City time) · page %(page)s",
                                    when=generated, page=self.page_no())), align="C")

    def heading(self, text: str, subtitle: str = "") -> None:
        self.set_font(self.fonts_used.body, "B", 18)
        self.multi_cell(0, 9, self.text(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if subtitle:
            self.set_font(self.fonts_used.body, "", 11)
            self.set_text_color(79, 91, 103)
            self.multi_cell(0, 6, self.text(subtitle), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            self.set_text_color(23, 33, 43)
        self.ln(4)

    def facts(self, rows: list[tuple[str, str]], *, mono: frozenset[int] = frozenset()) -> None:
        """Label and value rows; values in ``mono`` (row indexes) are set in a monospaced font."""
        label_width = 62
        for index, (label, value) in enumerate(rows):
            self.set_font(self.fonts_used.body, "B", 10.5)
            label_lines = self.multi_cell(label_width, 6.5, self.text(label), align="L", dry_run=True,
                                          output="LINES")
            y = self.get_y()
            self.multi_cell(label_width, 6.5, self.text(label), align="L", new_x=XPos.RIGHT, new_y=YPos.TOP)
            if index in mono:
                self.set_font(self.fonts_used.mono, "", 11)
            else:
                self.set_font(self.fonts_used.body, "", 10.5)
            self.multi_cell(0, 6.5, self.text(value), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            self.set_y(max(self.get_y(), y + 6.5 * len(label_lines)) + 1.2)

    def box(self, title: str, lines: list[str], *, emphasis: list[str] | None = None) -> None:
        """A framed block: a bold title, ordinary lines, then large monospaced ones (CLABE, reference)."""
        self.ln(3)
        self.set_draw_color(11, 99, 168)
        self.set_fill_color(227, 238, 250)
        self.set_line_width(0.4)
        top = self.get_y()
        self.set_x(self.l_margin + 4)
        self.set_font(self.fonts_used.body, "B", 12)
        self.multi_cell(self.epw - 8, 7, self.text(title), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(self.fonts_used.body, "", 10.5)
        for line in lines:
            self.set_x(self.l_margin + 4)
            self.multi_cell(self.epw - 8, 6, self.text(line), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        for line in emphasis or []:
            self.set_x(self.l_margin + 4)
            self.set_font(self.fonts_used.mono, "", 14)
            self.multi_cell(self.epw - 8, 8, self.text(line), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        bottom = self.get_y() + 3
        self.rect(self.l_margin, top - 3, self.epw, bottom - top + 3)
        self.set_y(bottom + 3)

    def paragraph(self, text: str, size: float = 10) -> None:
        self.set_font(self.fonts_used.body, "", size)
        self.multi_cell(0, 5.5, self.text(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(2)

    def bytes(self) -> bytes:
        return bytes(self.output())


def call_notice(line: CallLine, *, outstanding_cents: int, status: str) -> bytes:
    """The notice of one company's share of a capital call, with how to pay it by SPEI."""
    call = line.call
    fund: Fund = call.fund
    title = _("Capital call notice")
    document = _Document(title)
    document.heading(title, _("%(fund)s · call number %(number)s", fund=fund.name, number=call.number))
    document.facts([
        (_("Fund"), fund.name),
        (_("Company"), line.organization.name),
        (_("Call number"), str(call.number)),
        (_("Percent called"), format_percent(Decimal(call.percent_bp) / 100).replace("\u00a0", " ")),
        (_("Notice date"), long_day(call.notice_date)),
        (_("Due date"), long_day(call.due_date)),
        (_("Amount called"), money(line.amount_cents, fund.currency)),
        (_("Still to pay"), money(max(outstanding_cents, 0), fund.currency)),
        (_("Status"), fund_label(status)),
        (_("Payment reference"), line.reference),
    ], mono=frozenset({9}))
    document.box(
        _("How to pay by bank transfer (SPEI)"),
        [
            _("Transfer %(amount)s by %(due)s to the fund's CLABE below.",
              amount=money(max(outstanding_cents, 0), fund.currency), due=long_day(call.due_date)),
            _("Write the payment reference in the transfer's concept or reference field, exactly as shown: "
              "it is how the fund recognises your payment."),
        ],
        emphasis=[f"CLABE: {fund.clabe}", _("Reference: %(reference)s", reference=line.reference)],
    )
    document.paragraph(_("A partial payment leaves the rest outstanding; a payment above the amount called is "
                         "recorded as a credit for your company. Questions: write to the cluster's fund team."), 9)
    return document.bytes()


def payment_receipt(payment: Payment) -> bytes:
    """A receipt for money the fund received from a company against a call line."""
    line = payment.call_line
    fund: Fund = line.call.fund
    title = _("Payment receipt")
    document = _Document(title)
    document.heading(title, _("%(fund)s · receipt number %(number)s", fund=fund.name, number=payment.id))
    # A recorded transfer has the day it arrived; a card payment its time, shown in Mexico City.
    when = format_date(payment.paid_on or payment.created_at, "long")
    rows = [
        (_("Receipt (payment) number"), str(payment.id)),
        (_("Fund"), fund.name),
        (_("Company"), line.organization.name),
        (_("Capital call"), _("Number %(number)s, due %(due)s", number=line.call.number,
                              due=long_day(line.call.due_date))),
        (_("Call line reference"), line.reference),
        (_("Payment method"), fund_label(payment.method)),
        (_("Amount received"), money(payment.amount_cents, payment.currency)),
        (_("Date received"), when),
    ]
    if payment.reference:
        rows.append((_("Payment reference"), payment.reference))
    if payment.refunded_cents:
        rows.append((_("Refunded"), money(payment.refunded_cents, payment.currency)))
    rows.append((_("Status"), fund_label(payment.status)))
    document.facts(rows, mono=frozenset({4}))
    document.paragraph(_("The fund received this amount for the company named above. This receipt is not a "
                         "tax invoice (CFDI)."), 9)
    return document.bytes()
