"""The fund's ledger as a CSV or Excel file: one row per entry, straight from the ledger.

Every text cell goes through ``safe_cell`` so that a company name or a transfer reference such
as ``=HYPERLINK(...)`` stays text when the file is opened in a spreadsheet; signed amounts
(``-1500.00``) are numbers, not formulas, and stay as they are.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from pitchtank.core.spreadsheets import (
    Table,
    local_time,
)
from pitchtank.extensions import db
from pitchtank.fund import ledger
from pitchtank.fund.forms import cents_to_pesos_text
from pitchtank.fund.models import CallLine, Fund, Payment
from pitchtank.organizations.models import Organization
from pitchtank.ventures.models import Venture


def ledger_table(fund: Fund) -> Table:
    """Every entry of every transaction, oldest first, with what it refers to."""
    transactions = ledger.transactions(fund.id)
    org_ids = {e.organization_id for t in transactions for e in t.entries if e.organization_id}
    venture_ids = {e.venture_id for t in transactions for e in t.entries if e.venture_id}
    line_ids = {t.call_line_id for t in transactions if t.call_line_id}
    payment_ids = {t.payment_id for t in transactions if t.payment_id}
    companies = {o.id: o.name for o in db.session.scalars(select(Organization).where(Organization.id.in_(org_ids)))} \
        if org_ids else {}
    ventures = {v.id: v.name for v in db.session.scalars(select(Venture).where(Venture.id.in_(venture_ids)))} \
        if venture_ids else {}
    lines = {line.id: line.reference for line in db.session.scalars(select(CallLine).where(CallLine.id.in_(line_ids)))} \
        if line_ids else {}
    payments = {p.id: p.reference for p in db.session.scalars(select(Payment).where(Payment.id.in_(payment_ids)))} \
        if payment_ids else {}
    headers = [
        _("Transaction"), _("Kind"), _("Date (America/Mexico_City)"), _("Entry"), _("Account"),
        _("Company"), _("Venture"), _("Amount (centavos)"), _("Amount (pesos)"), _("Currency"),
        _("Call line reference"), _("Payment reference"), _("Reverses transaction"), _("Memo"),
    ]
    rows: list[list[Any]] = []
    for transaction in transactions:
        for entry in transaction.entries:
            rows.append([
                transaction.id, transaction.kind.value, local_time(transaction.created_at), entry.id, entry.account,
                companies.get(entry.organization_id, ""), ventures.get(entry.venture_id, ""),
                entry.amount_cents, cents_to_pesos_text(entry.amount_cents), entry.currency,
                lines.get(transaction.call_line_id, ""), payments.get(transaction.payment_id, ""),
                transaction.reverses_id or "", transaction.memo,
            ])
    return Table(title=_("Ledger"), headers=headers, rows=rows)


def filename(fund: Fund, extension: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", fund.name).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")[:40] or "fund"
    return f"ledger-{fund.id}-{slug}.{extension}"
