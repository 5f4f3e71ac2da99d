"""Offers through the API: an investor offers money for equity once a venture took the stage;
the venture's owner accepts or declines, once."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from pitchtank.accounts.models import Role
from pitchtank.events.models import PitchStatus
from pitchtank.fund.models import Offer, OfferStatus
from pitchtank.judging import rubrics, show

API = "/api/v1"
OFFER = {"amount_cents": 2_000_000_00, "equity_pct": "12.5", "terms": "  SAFE con 20 % de descuento  "}


def expect(response, status: int):
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    return response.get_json()


def expect_problem(response, status: int, *fields: str):
    body = expect(response, status)
    assert response.mimetype == "application/problem+json" and body["status"] == status
    for name in fields:
        assert body["errors"][name], body
    return body


def offer_count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Offer))


@pytest.fixture
def stage(make, db, api_token):
    """A live session: the first pitch is on stage, the second still scheduled; plus a session
    that has not started, and everyone's tokens."""
    live, [judge] = make.pitching_session(pitches=2, judges=1)
    rubrics.set_rubric(live, rubrics.default_rubric())
    organizer = make.user(Role.ORGANIZER)
    show.control(live.id, "start", organizer)
    waiting, _judges = make.pitching_session(pitches=1, judges=1)
    investor = make.user(Role.INVESTOR)
    db.session.commit()
    on_stage, next_up = live.pitches
    assert (on_stage.status, next_up.status) == (PitchStatus.CURRENT, PitchStatus.SCHEDULED)
    return SimpleNamespace(
        live=live, on_stage=on_stage, next_up=next_up, not_started=waiting.pitches[0],
        owner=on_stage.venture.owner, investor=investor, organizer=organizer,
        as_investor=api_token(investor), as_other_investor=api_token(Role.INVESTOR),
        as_owner=api_token(on_stage.venture.owner), as_other_owner=api_token(next_up.venture.owner),
        as_entrepreneur=api_token(Role.ENTREPRENEUR), as_judge=api_token(judge),
        as_organizer=api_token(organizer),
    )


def offer_on(client, pitch, headers, **overrides):
    return client.post(f"{API}/pitches/{pitch.id}/offers", json={**OFFER, **overrides}, headers=headers)


def test_an_investor_offers_to_the_venture_on_stage(client, db, stage):
    body = expect(offer_on(client, stage.on_stage, stage.as_investor), 201)
    assert body | {"id": 0, "created_at": ""} == {
        "id": 0, "created_at": "", "pitch_id": stage.on_stage.id, "venture_id": stage.on_stage.venture.id,
        "investor_id": stage.investor.id,
        "organization": {"id": stage.investor.organization_id, "name": stage.investor.organization.name},
        "amount_cents": 2_000_000_00, "currency": "MXN", "equity_pct": "12.50",
        "terms": "SAFE con 20 % de descuento", "status": "pending", "decided_at": None,
    }
    offer = db.session.get(Offer, body["id"])
    assert (offer.equity_bp, offer.amount_cents, offer.status, offer.organization_id) == (
        1250, 2_000_000_00, OfferStatus.PENDING, stage.investor.organization_id)


@pytest.mark.parametrize("equity, shown", [("0.01", "0.01"), ("100", "100.00"), (33.33, "33.33"), (7, "7.00")])
def test_equity_boundaries_are_accepted(client, db, stage, equity, shown):
    assert expect(offer_on(client, stage.on_stage, stage.as_investor, equity_pct=equity), 201)["equity_pct"] == shown


def test_offers_stay_open_after_the_pitch(client, db, stage):
    show.control(stage.live.id, "next", stage.organizer)
    db.session.commit()
    assert stage.on_stage.status == PitchStatus.DONE
    expect(offer_on(client, stage.on_stage, stage.as_investor), 201)


def test_no_offer_before_the_venture_takes_the_stage(client, db, stage):
    expect_problem(offer_on(client, stage.next_up, stage.as_investor), 409)
    expect_problem(offer_on(client, stage.not_started, stage.as_investor), 409)
    assert offer_count(db) == 0


@pytest.mark.parametrize("who, status", [
    ("entrepreneur", 403), ("owner", 403), ("judge", 403), ("organizer", 403), (None, 401)])
def test_only_investors_make_offers(client, db, stage, who, status):
    headers = getattr(stage, f"as_{who}") if who else {}
    expect_problem(offer_on(client, stage.on_stage, headers), status)
    assert offer_count(db) == 0


@pytest.mark.parametrize("overrides, field", [
    ({"equity_pct": 0}, "equity_pct"),
    ({"equity_pct": "0.00"}, "equity_pct"),
    ({"equity_pct": 150}, "equity_pct"),
    ({"equity_pct": "100.01"}, "equity_pct"),
    ({"equity_pct": "12.345"}, "equity_pct"),
    ({"equity_pct": 12.345}, "equity_pct"),
    ({"equity_pct": -5}, "equity_pct"),
    ({"equity_pct": "doce"}, "equity_pct"),
    ({"equity_pct": "NaN"}, "equity_pct"),
    ({"equity_pct": None}, "equity_pct"),
    ({"amount_cents": 0}, "amount_cents"),
    ({"amount_cents": -100}, "amount_cents"),
    ({"amount_cents": 1.5}, "amount_cents"),
    ({"amount_cents": "100"}, "amount_cents"),
    ({"amount_cents": 10**13}, "amount_cents"),
    ({"terms": "x" * 4001}, "terms"),
])
def test_invalid_offers_are_422_with_field_errors(client, db, stage, overrides, field):
    expect_problem(offer_on(client, stage.on_stage, stage.as_investor, **overrides), 422, field)
    assert offer_count(db) == 0


def test_an_unknown_pitch_is_404(client, db, stage):
    expect_problem(client.post(f"{API}/pitches/987654/offers", json=OFFER, headers=stage.as_investor), 404)


def test_a_repeated_offer_with_the_same_key_is_one_offer(client, db, stage):
    headers = {**stage.as_investor, "Idempotency-Key": "offer-1"}
    first = offer_on(client, stage.on_stage, headers)
    again = offer_on(client, stage.on_stage, headers)
    assert expect(first, 201) == expect(again, 201) and offer_count(db) == 1
    expect_problem(offer_on(client, stage.on_stage, headers, amount_cents=1_00), 422, "Idempotency-Key")
    assert offer_count(db) == 1


# --------------------------------------------------------------------------
# Accept / decline
# --------------------------------------------------------------------------


@pytest.fixture
def offer(client, db, stage):
    return expect(offer_on(client, stage.on_stage, stage.as_investor), 201)


def answer(client, offer_id, verb, headers):
    return client.post(f"{API}/offers/{offer_id}/{verb}", headers=headers)


@pytest.mark.parametrize("verb, status", [("accept", OfferStatus.ACCEPTED), ("decline", OfferStatus.DECLINED)])
def test_the_owner_answers_an_offer(client, db, stage, offer, verb, status):
    body = expect(answer(client, offer["id"], verb, stage.as_owner), 200)
    assert body["status"] == status.value and body["decided_at"] is not None
    assert {k: body[k] for k in ("id", "amount_cents", "equity_pct")} == {
        k: offer[k] for k in ("id", "amount_cents", "equity_pct")}
    stored = db.session.get(Offer, offer["id"])
    assert stored.status == status and stored.decided_at is not None


@pytest.mark.parametrize("first, second", [("accept", "accept"), ("accept", "decline"), ("decline", "accept"),
                                           ("decline", "decline")])
def test_an_offer_is_answered_once(client, db, stage, offer, first, second):
    decided = expect(answer(client, offer["id"], first, stage.as_owner), 200)
    expect_problem(answer(client, offer["id"], second, stage.as_owner), 409)
    stored = db.session.get(Offer, offer["id"])
    assert stored.status.value == decided["status"]
    assert stored.decided_at == datetime.fromisoformat(decided["decided_at"])  # the first answer stands


@pytest.mark.parametrize("who, status", [
    ("other_owner", 404),  # another entrepreneur may not know the offer exists
    ("entrepreneur", 404),
    ("other_investor", 404),
    ("judge", 404),
    ("investor", 403),  # the investor who made it knows it, but cannot answer it
    ("organizer", 403),
    (None, 401),
])
@pytest.mark.parametrize("verb", ["accept", "decline"])
def test_only_the_owner_answers(client, db, stage, offer, who, status, verb):
    headers = getattr(stage, f"as_{who}") if who else {}
    expect_problem(answer(client, offer["id"], verb, headers), status)
    stored = db.session.get(Offer, offer["id"])
    assert (stored.status, stored.decided_at) == (OfferStatus.PENDING, None)


def test_an_unknown_offer_is_404(client, db, stage):
    expect_problem(answer(client, 987654, "accept", stage.as_owner), 404)
