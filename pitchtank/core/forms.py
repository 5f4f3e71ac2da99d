"""Helpers shared by every page form."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from flask import flash, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DecimalField, Form, IntegerField

from pitchtank.core.errors import ValidationFailed
from pitchtank.core.routing import MAX_ID

REQUIRED = _l("This field is required.")


def apply_errors(form: Form, error: ValidationFailed, aliases: Mapping[str, str] | None = None) -> None:
    """Show a service's field errors beside the form's own fields."""
    aliases = aliases or {}
    for field_name, messages in error.errors.items():
        field = getattr(form, aliases.get(field_name, field_name), None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*field.errors, *messages]
        else:
            for message in messages:
                flash(message, "error")
    if error.message:
        flash(error.message, "error")


def safe_next_url(default: str) -> str:
    """A same-site path from ``?next=``; anything else falls back to ``default``."""
    target = request.args.get("next") or request.form.get("next") or ""
    parts = urlsplit(target)
    # Browsers read "/\\host" as "//host", and drop tabs and newlines from URLs.
    looks_local = target.startswith("/") and not target.startswith("//") and "\\" not in target
    if looks_local and target.isprintable() and not parts.netloc and not parts.scheme:
        return target
    return default


class FiniteDecimalField(DecimalField):
    """A DecimalField that refuses NaN and infinity, which would break every comparison."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None and not self.data.is_finite():
            self.data = None
            raise ValueError(self.gettext("Not a valid decimal value."))


class ConfirmForm(FlaskForm):
    """Nothing but the CSRF token, for buttons that change something."""


class WholeNumberField(IntegerField):
    """An IntegerField that refuses numbers beyond ±MAX_ID: WTForms' NumberRange cannot compare
    a huge integer (it overflows a float) and the database's INTEGER columns cannot store one."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None and abs(self.data) > MAX_ID:
            self.data = None
            raise ValueError(self.gettext("Not a valid integer value."))
