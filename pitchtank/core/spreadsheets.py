"""Tables as CSV or Excel files that open safely in a spreadsheet.

Every text cell goes through ``safe_cell`` so that a comment, a company name or a transfer
reference such as ``=HYPERLINK(...)`` stays text; signed amounts (``-1500.00``) are numbers,
not formulas, and stay as they are.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pitchtank.core.timefields import local_zone

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")
CSV_MIMETYPE = "text/csv; charset=utf-8"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def safe_cell(value: Any) -> Any:
    """Text a spreadsheet would read as a formula (starting with = + - @ tab or CR) gets a
    leading apostrophe; numbers, dates, None and plain signed numbers pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


@dataclass(frozen=True)
class Table:
    """What one export holds: a sheet title, the column headers and the rows."""

    title: str
    headers: list[str]
    rows: list[list[Any]]


def local_time(value: datetime | None) -> datetime | None:
    """An aware UTC time as naive America/Mexico_City wall-clock time (what Excel can hold)."""
    return value.astimezone(local_zone()).replace(tzinfo=None, microsecond=0) if value else None


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime(DATE_FORMAT)
    if value is None:
        return ""
    return safe_cell(value)


def to_csv(table: Table) -> bytes:
    """UTF-8 with a byte-order mark, so that Excel reads accents right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([safe_cell(h) for h in table.headers])
    for row in table.rows:
        writer.writerow([_csv_value(v) for v in row])
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(table: Table) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    def cell(value: Any) -> Any:
        if isinstance(value, str):
            # Control characters are not allowed in the file's XML; a formula must stay text.
            return safe_cell(ILLEGAL_CHARACTERS_RE.sub("", value))
        return value

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = (table.title or "Sheet")[:31]
    sheet.append([cell(h) for h in table.headers])
    for header in sheet[1]:
        header.font = Font(bold=True)
    widths = [len(str(h)) for h in table.headers]
    for row in table.rows:
        sheet.append([cell(v) for v in row])
        for index, value in enumerate(row):
            if isinstance(value, datetime):
                sheet.cell(row=sheet.max_row, column=index + 1).number_format = "yyyy-mm-dd hh:mm:ss"
                length = 19
            else:
                length = len(str(value)) if value is not None else 0
            widths[index] = max(widths[index], min(length, 60))
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width + 2
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def download(table: Table, extension: str, filename: str):
    """The table as a private, uncached file download (``csv`` or ``xlsx``)."""
    from flask import Response

    if extension == "csv":
        response = Response(to_csv(table), mimetype=CSV_MIMETYPE)
    else:
        response = Response(to_xlsx(table), mimetype=XLSX_MIMETYPE)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response
