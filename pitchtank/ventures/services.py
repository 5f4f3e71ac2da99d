"""Ventures: create and edit a profile, upload the deck, find what a user may see."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from flask_babel import gettext as _
from sqlalchemy import exists, select

from pitchtank.accounts.models import Role, User
from pitchtank.core.authz import require_login
from pitchtank.core.errors import NotFound, PermissionDenied, ValidationFailed
from pitchtank.core.transaction import on_commit, on_rollback
from pitchtank.core.types import utcnow
from pitchtank.events.models import Submission, SubmissionStatus
from pitchtank.extensions import db
from pitchtank.ventures import storage
from pitchtank.ventures.deck_check import MAX_DECK_BYTES, MAX_DECK_PAGES, DeckRejected, check_deck
from pitchtank.ventures.models import (
    ASK_MAX_CENTS,
    LONG_TEXT_MAX,
    NAME_MAX,
    TAGLINE_MAX,
    WEBSITE_MAX,
    Sector,
    Stage,
    Venture,
)


@dataclass(frozen=True)
class VentureData:
    """Everything an entrepreneur states about a venture, already parsed into types."""

    name: str
    tagline: str
    sector: Sector
    stage: Stage
    description: str
    ask_cents: int
    equity_offered_pct: Decimal
    website: str = ""
    team: str = ""
    problem: str = ""
    solution: str = ""
    market: str = ""
    traction: str = ""


TEXT_LIMITS = {
    "name": NAME_MAX,
    "tagline": TAGLINE_MAX,
    "description": LONG_TEXT_MAX,
    "team": LONG_TEXT_MAX,
    "problem": LONG_TEXT_MAX,
    "solution": LONG_TEXT_MAX,
    "market": LONG_TEXT_MAX,
    "traction": LONG_TEXT_MAX,
    "website": WEBSITE_MAX,
}
REQUIRED_TEXT = ("name", "tagline", "description")


def parse_equity(value) -> Decimal:
    """An exact percentage from text or a number; raises ValidationFailed."""
    try:
        pct = Decimal(str(value).strip().rstrip("%").strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed({"equity_offered_pct": [_("Enter a percentage such as 12.5.")]}) from None
    if not pct.is_finite():
        raise ValidationFailed({"equity_offered_pct": [_("Enter a percentage such as 12.5.")]})
    return pct


def check_venture_data(data: VentureData) -> VentureData:
    """Apply every rule of a venture profile; returns the cleaned data or raises."""
    cleaned = replace(data, **{name: getattr(data, name).strip() for name in TEXT_LIMITS})
    errors: dict[str, list[str]] = {}
    for name, limit in TEXT_LIMITS.items():
        value = getattr(cleaned, name)
        if name in REQUIRED_TEXT and not value:
            errors[name] = [_("This field is required.")]
        elif len(value) > limit:
            errors[name] = [_("Use at most %(n)s characters.", n=limit)]
    if cleaned.website and "website" not in errors:
        parts = urlsplit(cleaned.website)
        if parts.scheme not in {"http", "https"} or not parts.netloc or " " in cleaned.website:
            errors["website"] = [_("Enter a web address starting with https://")]
    if isinstance(cleaned.ask_cents, bool) or not isinstance(cleaned.ask_cents, int):
        errors["ask_cents"] = [_("Enter an amount in pesos.")]
    elif cleaned.ask_cents <= 0:
        errors["ask_cents"] = [_("The ask must be more than zero pesos.")]
    elif cleaned.ask_cents > ASK_MAX_CENTS:
        errors["ask_cents"] = [_("The ask is larger than PitchTank accepts.")]
    pct = cleaned.equity_offered_pct
    if not isinstance(pct, Decimal) or not pct.is_finite():
        errors["equity_offered_pct"] = [_("Enter a percentage such as 12.5.")]
    elif pct <= 0 or pct > 100:
        errors["equity_offered_pct"] = [_("The equity offered must be more than 0 % and at most 100 %.")]
    elif pct.as_tuple().exponent < -2:
        errors["equity_offered_pct"] = [_("Use at most two decimals for the equity.")]
    if not isinstance(cleaned.sector, Sector):
        errors["sector"] = [_("Choose a sector from the list.")]
    if not isinstance(cleaned.stage, Stage):
        errors["stage"] = [_("Choose a stage from the list.")]
    if errors:
        raise ValidationFailed(errors, _("Some fields are not valid."))
    return cleaned


def _apply(venture: Venture, data: VentureData) -> None:
    for item in fields(VentureData):
        setattr(venture, item.name, getattr(data, item.name))


def create_venture(owner: User, data: VentureData) -> Venture:
    """A new venture profile owned by an entrepreneur; the caller commits."""
    if not owner.has_role(Role.ENTREPRENEUR):
        raise PermissionDenied(_("Only entrepreneurs can create ventures."))
    data = check_venture_data(data)
    venture = Venture(owner=owner, currency="MXN")
    _apply(venture, data)
    db.session.add(venture)
    db.session.flush()
    return venture


def update_venture(venture: Venture, actor: User, data: VentureData) -> Venture:
    ensure_can_edit(venture, actor)
    _apply(venture, check_venture_data(data))
    db.session.flush()
    return venture


def venture_data(venture: Venture) -> VentureData:
    return VentureData(**{item.name: getattr(venture, item.name) for item in fields(VentureData)})


def ensure_can_edit(venture: Venture, actor: User) -> None:
    if not venture.can_edit(actor):
        # Another entrepreneur's draft must not even be confirmed to exist.
        if venture.can_view(actor):
            raise PermissionDenied(_("Only the venture's owner can change it."))
        raise NotFound(_("That venture does not exist."))


def ensure_can_view_deck(venture: Venture, viewer) -> None:
    if venture.can_view_deck(viewer):
        return
    require_login()
    raise PermissionDenied(_("Only the venture's team, organizers and its judges can read the deck."))


def get_visible_venture(venture_id: int, viewer) -> Venture:
    venture = db.session.get(Venture, venture_id)
    if venture is None or not venture.can_view(viewer):
        raise NotFound(_("That venture does not exist."))
    return venture


DECK_MESSAGES = {
    "empty": lambda: _("The file is empty."),
    "too_large": lambda: _("The deck must be at most %(mb)s MB.", mb=MAX_DECK_BYTES // (1024 * 1024)),
    "not_pdf": lambda: _("The deck must be a PDF file."),
    "malformed": lambda: _("The PDF file is damaged or incomplete."),
    "encrypted": lambda: _("The PDF is password-protected; upload it without a password."),
    "javascript": lambda: _("The PDF contains scripts, which are not allowed."),
    "too_many_pages": lambda: _("The deck can have at most %(n)s pages.", n=MAX_DECK_PAGES),
}


def store_deck(venture: Venture, actor: User, data: bytes) -> Venture:
    """Check that ``data`` really is an acceptable PDF and make it the venture's deck."""
    ensure_can_edit(venture, actor)
    try:
        pages = check_deck(data)
    except DeckRejected as rejection:
        raise ValidationFailed({"deck": [DECK_MESSAGES[rejection.code]()]}, DECK_MESSAGES[rejection.code]()) from None
    new_file = storage.write_deck(data)
    new_path = storage.deck_path(new_file)
    on_rollback(db.session, lambda: new_path.unlink(missing_ok=True))
    if venture.deck_file:
        old_path = storage.deck_path(venture.deck_file)
        on_commit(db.session, lambda: old_path.unlink(missing_ok=True))
    venture.deck_file = new_file
    venture.deck_size = len(data)
    venture.deck_pages = pages
    venture.deck_uploaded_at = utcnow()
    db.session.flush()
    return venture


def public_ventures() -> list[Venture]:
    """Ventures that an event accepted, newest first."""
    accepted = exists().where(
        Submission.venture_id == Venture.id, Submission.status == SubmissionStatus.ACCEPTED
    )
    return list(db.session.scalars(select(Venture).where(accepted).order_by(Venture.name)))


def ventures_of(owner: User) -> list[Venture]:
    return list(
        db.session.scalars(select(Venture).where(Venture.owner_id == owner.id).order_by(Venture.created_at))
    )
