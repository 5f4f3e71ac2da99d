"""Parse JSON bodies and query strings with pydantic; explain failures in the user's language."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TypeVar

from flask import request
from flask_babel import gettext as _
from pydantic import BaseModel, ValidationError

from pitchtank.core.errors import ValidationFailed
from pitchtank.core.input_guard import nul_message, nul_paths

M = TypeVar("M", bound=BaseModel)
MAX_JSON_BYTES = 256 * 1024


def _translate(error: dict) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return _("This field is required.")
    if kind in {"value_error", "assertion_error"} and "error" in ctx:
        return str(ctx["error"])
    if kind.startswith("int_") or kind == "int_from_float":
        return _("Enter a whole number.")
    if kind.startswith("decimal_"):
        if kind == "decimal_max_places":
            return _("Use at most %(places)s decimal places.", places=ctx.get("decimal_places"))
        return _("Enter a number.")
    if kind.startswith("string_"):
        if kind == "string_too_long":
            return _("Use at most %(n)s characters.", n=ctx.get("max_length"))
        if kind == "string_too_short":
            return _("Use at least %(n)s characters.", n=ctx.get("min_length"))
        if kind == "string_pattern_mismatch":
            return _("This value does not have the expected format.")
        return _("Enter text.")
    if kind.startswith("datetime_") or kind.startswith("timezone_"):
        return _("Enter a date and time with its UTC offset (RFC 3339).")
    if kind.startswith("date_"):
        return _("Enter a date as YYYY-MM-DD.")
    if kind.startswith("bool"):
        return _("Enter true or false.")
    if kind in {"greater_than", "greater_than_equal"}:
        return _("Must be at least %(limit)s.", limit=ctx.get("gt", ctx.get("ge")))
    if kind in {"less_than", "less_than_equal"}:
        return _("Must be at most %(limit)s.", limit=ctx.get("lt", ctx.get("le")))
    if kind == "enum" or kind == "literal_error":
        return _("Choose one of: %(choices)s.", choices=ctx.get("expected", ""))
    if kind in {"list_type", "too_long", "too_short"}:
        return _("Enter a list of the allowed length.")
    if kind == "extra_forbidden":
        return _("This field is not recognised.")
    if kind in {"model_type", "dict_type", "model_attributes_type"}:
        return _("The request body must be a JSON object.")
    if kind == "email" or "email" in kind:
        return _("Enter a valid email address.")
    return _("Enter a valid value.")


def validation_errors(exc: ValidationError) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "body"
        errors.setdefault(field, []).append(_translate(error))
    return errors


def parse_json(model: type[M]) -> M:
    """Validate the request's JSON body against ``model`` or raise ``ValidationFailed``.

    An empty body counts as ``{}``, so endpoints whose fields are all optional need none.
    """
    if request.content_length and not request.is_json:
        raise ValidationFailed(
            {"body": [_("Send the data as JSON (Content-Type: application/json).")]},
            _("The request body is not JSON."),
        )
    raw = request.get_data(cache=True)
    if len(raw) > MAX_JSON_BYTES:
        raise ValidationFailed({"body": [_("The request body is too large.")]})
    if not raw.strip():
        data = {}
    else:
        try:
            # Decimals, not floats, so that equity such as 12.5 stays exact.
            data = json.loads(raw, parse_float=Decimal)
        except (ValueError, RecursionError):
            message = _("The request body is not valid JSON.")
            raise ValidationFailed({"body": [message]}, message) from None
    if not isinstance(data, dict):
        raise ValidationFailed({"body": [_("The request body must be a JSON object.")]})
    if hidden := nul_paths(data):
        raise ValidationFailed({path: [nul_message()] for path in hidden}, nul_message())
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(validation_errors(exc), _("Some fields are not valid.")) from None
