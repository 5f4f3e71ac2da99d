"""Language and time zone choice, and the Mexican formats for money and dates."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from babel.numbers import format_decimal
from flask import Flask, current_app, has_request_context, request, session
from flask_babel import format_date, format_datetime, get_locale
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

LANGUAGE_NAMES = {"es_MX": "Español", "en": "English"}


def select_locale() -> str:
    """API: the request's Accept-Language. Pages: the visitor's choice, then the account's.

    Spanish unless someone asked for English.
    """
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    if not has_request_context():  # the command line speaks the default language
        return default
    if request.path.startswith("/api/"):
        best = request.accept_languages.best_match(["es-MX", "es", "en"])
        return "en" if best == "en" else default
    # ?lang= lets a projector page be opened in a language without touching the session.
    chosen = request.args.get("lang") or session.get("lang")
    if chosen in current_app.config["LANGUAGES"]:
        return chosen
    try:
        if current_user.is_authenticated and current_user.language in current_app.config["LANGUAGES"]:
            return current_user.language
    except SQLAlchemyError:  # rendering the "database unavailable" page must not need it
        return default
    return default


def select_timezone() -> str:
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]


def current_language() -> str:
    return str(get_locale() or "es_MX")


def format_money(cents: int | None, currency: str = "MXN") -> str:
    """``$1,234,567.89 MXN``: the Mexican format, in both languages."""
    if cents is None:
        return ""
    amount = Decimal(cents) / 100
    return f"${format_decimal(amount, format='#,##0.00', locale='es_MX')}\u00a0{currency}"


def format_percent(value: Decimal) -> str:
    return f"{format_decimal(value, format='#,##0.##', locale='es_MX')}\u00a0%"


def format_when(value: datetime | None) -> str:
    """Day, abbreviated month, year and time to the minute, in Mexico City time."""
    return format_datetime(value, "d MMM y, HH:mm") if value else ""


def format_day(value: datetime | None) -> str:
    return format_date(value, "long") if value else ""


def html_lang() -> str:
    return "es-MX" if current_language() == "es_MX" else "en"


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(
        money=format_money, percent=format_percent, when=format_when, day=format_day
    )
    from pitchtank.accounts.models import Role
    from pitchtank.core.labels import label

    app.jinja_env.filters["label"] = label
    app.jinja_env.globals.update(
        html_lang=html_lang, current_language=current_language, LANGUAGE_NAMES=LANGUAGE_NAMES, Role=Role
    )
