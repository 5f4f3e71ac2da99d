"""Read-only lookups for the fund's pages and API."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from pitchtank.core.errors import NotFound
from pitchtank.extensions import db
from pitchtank.fund.models import CallLine, CapitalCall, Fund, Payment, Pledge


def all_funds() -> list[Fund]:
    return list(db.session.scalars(select(Fund).order_by(Fund.created_at)))


def pledges_of_organization(organization_id: int | None) -> list[Pledge]:
    if organization_id is None:
        return []
    return list(db.session.scalars(select(Pledge).where(Pledge.organization_id == organization_id).order_by(Pledge.id)))


def payments_of_pledge(pledge: Pledge) -> list[Payment]:
    return list(db.session.scalars(
        select(Payment).join(CallLine).where(CallLine.pledge_id == pledge.id).order_by(Payment.created_at, Payment.id)
    ))


def calls_of_fund(fund_id: int) -> list[CapitalCall]:
    return list(db.session.scalars(select(CapitalCall).where(CapitalCall.fund_id == fund_id).order_by(CapitalCall.number)))


def get_call(call_id: int) -> CapitalCall:
    call = db.session.get(CapitalCall, call_id)
    if call is None:
        raise NotFound(_("That capital call does not exist."))
    return call
