"""Refuse text that no database column can hold: the NUL character (PostgreSQL's text types
reject it, so it would otherwise fail deep inside a write instead of at the door)."""

from __future__ import annotations

from flask import Flask, request
from flask_babel import gettext as _

from pitchtank.core.errors import ValidationFailed

NUL = "\x00"


def nul_message() -> str:
    return _("Remove the invisible control character (NUL) from this text.")


def refuse_nul_in_fields() -> None:
    """Query strings and submitted form fields (uploaded files are bytes, and are not text)."""
    fields = [*request.args.items(multi=True)]
    if request.method in {"POST", "PUT", "PATCH", "DELETE"} and request.mimetype in {
        "application/x-www-form-urlencoded", "multipart/form-data"}:
        fields += request.form.items(multi=True)
    bad = sorted({name for name, value in fields if NUL in name or NUL in value})
    if bad:
        message = nul_message()
        raise ValidationFailed({name.replace(NUL, "") or "body": [message] for name in bad}, message)


def nul_paths(value, path: str = "") -> list[str]:
    """Where a NUL hides in parsed JSON: ``["name", "criteria.0.key"]``."""
    if isinstance(value, str):
        return [path or "body"] if NUL in value else []
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            found += [here.replace(NUL, "")] if NUL in str(key) else nul_paths(item, here)
        return found
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in nul_paths(item, f"{path}.{i}" if path else str(i))]
    return []


def init_app(app: Flask) -> None:
    app.before_request(refuse_nul_in_fields)
