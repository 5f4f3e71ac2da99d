"""Form fields for times typed in Mexico City local time and stored in UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import current_app
from wtforms import DateTimeLocalField


def local_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def local_today() -> date:
    """Today's date in Mexico City: due dates and deadlines are the cluster's calendar days."""
    return datetime.now(local_zone()).date()


def to_local_input(value: datetime | None) -> datetime | None:
    return value.astimezone(local_zone()).replace(tzinfo=None) if value else None


class LocalDateTimeField(DateTimeLocalField):
    """``<input type=datetime-local>`` read as America/Mexico_City, handed on as aware UTC."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("format", ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"])
        super().__init__(*args, **kwargs)

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None and self.data.tzinfo is None:
            try:
                self.data = self.data.replace(tzinfo=local_zone()).astimezone(UTC)
            except OverflowError:  # 9999-12-31T23:59 in Mexico City is past year 9999 in UTC
                self.data = None
                raise ValueError(self.gettext("Not a valid datetime value.")) from None

    def _value(self):
        if self.raw_data:
            return " ".join(self.raw_data)
        local = to_local_input(self.data) if self.data and self.data.tzinfo else self.data
        return local.strftime("%Y-%m-%dT%H:%M") if local else ""
