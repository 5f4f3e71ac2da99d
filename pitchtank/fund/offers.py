"""Offers: an investor proposes money for equity during or after a live pitch; the owner decides once."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import select

from pitchtank.accounts.models import Role, User
from pitchtank.accounts.verification import require_verified_email
from pitchtank.audit.services import record
from pitchtank.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from pitchtank.core.types import utcnow
from pitchtank.events.models import Pitch, PitchStatus, SessionStatus
from pitchtank.extensions import db
from pitchtank.fund.models import Offer, OfferStatus
from pitchtank.fund.services import MAX_AMOUNT_CENTS
from pitchtank.notices import facts
from pitchtank.ventures.models import Venture, equity_pct_to_bp

TERMS_MAX = 4000


def make_offer(pitch_id: int, investor: User, *, amount_cents: int, equity_pct: Decimal, terms: str = "") -> Offer:
    """Offer money for equity to the venture of a pitch that is on stage or has pitched."""
    if not investor.has_role(Role.INVESTOR) or investor.organization is None:
        raise PermissionDenied(_("Only investors of a member company can make offers."))
    require_verified_email(investor)
    pitch = db.session.get(Pitch, pitch_id)
    if pitch is None:
        raise NotFound(_("That pitch does not exist."))
    if pitch.session.status == SessionStatus.SCHEDULED or pitch.status == PitchStatus.SCHEDULED:
        raise Conflict(_("Offers open once the venture has taken the stage."))
    errors: dict[str, list[str]] = {}
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or not 0 < amount_cents <= MAX_AMOUNT_CENTS:
        errors["amount_cents"] = [_("The amount must be more than zero.")]
    if not isinstance(equity_pct, Decimal) or not equity_pct.is_finite() or not 0 < equity_pct <= 100:
        errors["equity_pct"] = [_("The equity must be more than 0 % and at most 100 %.")]
    elif equity_pct.as_tuple().exponent < -2:
        errors["equity_pct"] = [_("Use at most two decimals for the equity.")]
    terms = (terms or "").strip()
    if len(terms) > TERMS_MAX:
        errors["terms"] = [_("Use at most %(n)s characters.", n=TERMS_MAX)]
    if errors:
        raise ValidationFailed(errors, _("Some fields are not valid."))
    equity_bp = equity_pct_to_bp(equity_pct)
    offer = Offer(pitch_id=pitch.id, venture_id=pitch.venture.id, investor_id=investor.id,
                  organization_id=investor.organization_id, amount_cents=amount_cents, equity_bp=equity_bp,
                  terms=terms)
    db.session.add(offer)
    db.session.flush()
    facts.offer_made(offer)
    return offer


def get_offer(offer_id: int, *, for_update: bool = False) -> Offer:
    statement = select(Offer).where(Offer.id == offer_id)
    if for_update:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    offer = db.session.scalar(statement)
    if offer is None:
        raise NotFound(_("That offer does not exist."))
    return offer


def decide_offer(offer_id: int, owner: User, *, accept: bool) -> Offer:
    """The venture's owner accepts or declines, once; an accepted offer becomes a deal."""
    offer = get_offer(offer_id, for_update=True)
    if offer.venture.owner_id != owner.id:
        if owner.has_role(Role.ORGANIZER) or offer.investor_id == owner.id:
            raise PermissionDenied(_("Only the venture's owner can answer an offer."))
        raise NotFound(_("That offer does not exist."))
    if offer.status != OfferStatus.PENDING:
        raise Conflict(_("This offer was already answered."))
    offer.status = OfferStatus.ACCEPTED if accept else OfferStatus.DECLINED
    offer.decided_at = utcnow()
    record("offer.accepted" if accept else "offer.declined", actor=owner, subject_type="offer", subject_id=offer.id)
    db.session.flush()
    facts.offer_decided(offer)
    return offer


def offers_for_venture_owner(owner: User) -> list[Offer]:
    return list(db.session.scalars(
        select(Offer).join(Venture, Offer.venture_id == Venture.id).where(Venture.owner_id == owner.id)
        .order_by(Offer.created_at.desc())
    ))


def offers_of_investor(investor: User) -> list[Offer]:
    """The company's offers, so colleagues see each other's deals."""
    return list(db.session.scalars(
        select(Offer).where(Offer.organization_id == investor.organization_id).order_by(Offer.created_at.desc())
    ))


def offers_of_session(session_id: int) -> list[Offer]:
    return list(db.session.scalars(
        select(Offer).join(Pitch).where(Pitch.session_id == session_id).order_by(Offer.created_at)
    ))


def deals_of_venture(venture_id: int) -> list[Offer]:
    """Accepted offers: the venture's deals, shown on its public page."""
    return list(db.session.scalars(
        select(Offer).where(Offer.venture_id == venture_id, Offer.status == OfferStatus.ACCEPTED)
        .order_by(Offer.decided_at)
    ))
