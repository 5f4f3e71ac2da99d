"""Who may call which JSON API endpoint: one table, checked against every ``/api/v1`` route of the app.

The sibling of ``tests/test_authorization.py`` (the pages), on the same world of real objects
and the same eight kinds of caller. API.md's rules: 401 without valid credentials, 403 for a
role or ownership that does not allow the action, 404 for what the caller may not know exists
(another entrepreneur's draft, another company's pledge). Every caller authenticates with a
bearer token of its own; refusals are sent with a *valid* body, so that a missing check
shows as a success rather than hiding behind a validation error. An ``/api/`` endpoint and
method that the table does not cover makes the test fail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, timedelta

import pytest

from pitchtank.accounts import services as accounts
from pitchtank.accounts.models import Role, User
from pitchtank.events import services as event_services
from pitchtank.events.models import Event
from pitchtank.extensions import db
from pitchtank.fund.models import CallLine
from pitchtank.judging import rubrics, show
from tests import factories
from tests.test_authorization import (
    PRINCIPALS,
    ROLE_OF,
    World,
    access,
    build_world,
    pdf_bytes,
    principal_users,
)

ALLOW, UNAUTHORIZED, FORBIDDEN, NOT_FOUND, BAD_SIGNATURE = "allow", "401", "403", "404", "400 (signature)"
STATUS = {UNAUTHORIZED: 401, FORBIDDEN: 403, NOT_FOUND: 404, BAD_SIGNATURE: 400}
# What "the call got through" may look like: done, not modified, or refused on the merits
# (the state does not allow it, the data is not valid) — never a refusal of the caller.
ALLOWED_STATUSES = {200, 201, 204, 304, 409, 422}
PROBLEM = "application/problem+json"


PUBLIC = access(ALLOW)
USERS = access(ALLOW, anonymous=UNAUTHORIZED)
ORGANIZERS = access(FORBIDDEN, anonymous=UNAUTHORIZED, organizer=ALLOW)
ENTREPRENEURS = access(FORBIDDEN, anonymous=UNAUTHORIZED, entrepreneur=ALLOW, owner=ALLOW)
INVESTORS = access(FORBIDDEN, anonymous=UNAUTHORIZED, investor=ALLOW)
FUND_VIEWERS = access(FORBIDDEN, anonymous=UNAUTHORIZED, investor=ALLOW, organizer=ALLOW)
# Another entrepreneur's draft (or its application) is not even confirmed to exist.
OWNER_OF_PRIVATE = access(FORBIDDEN, anonymous=UNAUTHORIZED, owner=ALLOW, entrepreneur=NOT_FOUND)
# A public venture exists for everyone; only its owner may change it.
OWNER_OF_PUBLIC = access(FORBIDDEN, anonymous=UNAUTHORIZED, owner=ALLOW)
# A score sheet: only the judges of the session; other judges and other roles are refused.
SESSION_JUDGES = access(FORBIDDEN, anonymous=UNAUTHORIZED, session_judge=ALLOW)
# A company's pledge: its investors. Nobody else but organizers is told that it exists (as
# tests/fund/test_fund_api.py requires); organizers see it, but may not change it.
COMPANY_PLEDGE = access(NOT_FOUND, anonymous=UNAUTHORIZED, company_investor=ALLOW, organizer=FORBIDDEN)
# An offer is private to the investor who made it and the venture's owner: the investor and
# the organizers (who know it exists) are refused, anyone else is not told it exists.
OFFER_OWNER = access(NOT_FOUND, anonymous=UNAUTHORIZED, owner=ALLOW, company_investor=FORBIDDEN,
                     organizer=FORBIDDEN)


@dataclass
class ApiWorld:
    """The pages' world, plus what only the API rows need."""

    base: World
    draft_venture_id: int  # the owner's venture that has not applied anywhere
    live_session_id: int  # a started session: its leaderboard is public
    call_id: int  # the capital call of the base world's call line
    password: str

    def __getattr__(self, name):
        return getattr(self.base, name)


@dataclass
class Row:
    endpoint: str
    method: str
    access: dict[str, str]
    params: Callable[[ApiWorld], dict] = lambda world: {}
    body: Callable[[ApiWorld], object] | None = None  # JSON, or bytes sent as a PDF
    note: str = ""


def _at(days: int, hour: int = 10) -> str:
    return f"{date.today() + timedelta(days=days)}T{hour:02d}:00:00-06:00"


def _venture_body(world: ApiWorld) -> dict:
    return {"name": "Nueva idea", "tagline": "Algo nuevo para el Bajío", "sector": "fashion_textiles_footwear",
            "stage": "mvp", "description": "Una descripción suficiente.", "ask_cents": 1_000_000_00,
            "equity_offered_pct": "10"}


def _rubric_body(world: ApiWorld) -> dict:
    return {"criteria": [
        {"key": "problema", "name": "Problema", "weight": 40, "min": 1, "max": 10},
        {"key": "mercado", "name": "Mercado", "weight": 30, "min": 1, "max": 10},
        {"key": "equipo", "name": "Equipo", "weight": 30, "min": 1, "max": 10},
    ]}


def _session_body(world: ApiWorld) -> dict:
    starts = db.session.get(Event, world.event_id).starts_at
    if starts.tzinfo is None:
        starts = starts.replace(tzinfo=UTC)
    return {"title": "Tarde", "starts_at": (starts + timedelta(hours=1)).isoformat(), "pitch_minutes": 5,
            "qa_minutes": 3}


SESSION = lambda w: {"session_id": w.session_id}  # noqa: E731
PITCH = lambda w: {"pitch_id": w.pitch_id}  # noqa: E731
FUND = lambda w: {"fund_id": w.fund_id}  # noqa: E731

ACCESS: list[Row] = [
    # the API itself and accounts
    Row("api.openapi_document", "GET", PUBLIC),
    Row("api.create_token", "POST", PUBLIC,
        body=lambda w: {"email": w.owner.email, "password": w.password}, note="the owner's credentials"),
    Row("api.revoke_current_token", "DELETE", USERS),
    Row("api.me", "GET", USERS),
    # events, sessions and applications
    Row("api.list_events", "GET", PUBLIC),
    Row("api.get_event", "GET", PUBLIC, lambda w: {"event_id": w.event_id}),
    Row("api.create_event", "POST", ORGANIZERS, body=lambda w: {
        "name": "Pitch Day", "venue": "León", "starts_at": _at(60), "ends_at": _at(60, 18),
        "submissions_open_at": _at(1), "submissions_close_at": _at(30)}),
    Row("api.create_session", "POST", ORGANIZERS, lambda w: {"event_id": w.event_id},
        body=_session_body),
    Row("api.create_submission", "POST", OWNER_OF_PRIVATE, lambda w: {"event_id": w.event_id},
        body=lambda w: {"venture_id": w.draft_venture_id}),
    Row("api.list_submissions", "GET", ORGANIZERS, lambda w: {"event_id": w.event_id}),
    Row("api.accept_submission", "POST", ORGANIZERS, lambda w: {"submission_id": w.pending_submission_id},
        body=lambda w: {}),
    Row("api.reject_submission", "POST", ORGANIZERS, lambda w: {"submission_id": w.pending_submission_id},
        body=lambda w: {"note": "Gracias"}),
    Row("api.withdraw_submission", "POST", OWNER_OF_PRIVATE, lambda w: {"submission_id": w.pending_submission_id}),
    Row("api.get_session", "GET", PUBLIC, SESSION),
    Row("api.put_running_order", "PUT", ORGANIZERS, SESSION, body=lambda w: {"submission_ids": []}),
    Row("api.put_judges", "PUT", ORGANIZERS, SESSION, body=lambda w: {"user_ids": [w.session_judge.id]}),
    # ventures and decks
    Row("api.list_ventures", "GET", PUBLIC),
    Row("api.create_venture", "POST", ENTREPRENEURS, body=_venture_body),
    Row("api.get_venture", "GET", access(NOT_FOUND, owner=ALLOW, organizer=ALLOW),
        lambda w: {"venture_id": w.private_venture_id}, note="private"),
    Row("api.get_venture", "GET", PUBLIC, lambda w: {"venture_id": w.public_venture_id}, note="public"),
    Row("api.patch_venture", "PATCH", OWNER_OF_PRIVATE, lambda w: {"venture_id": w.private_venture_id},
        body=lambda w: {"tagline": "Otra frase"}, note="private"),
    Row("api.patch_venture", "PATCH", OWNER_OF_PUBLIC, lambda w: {"venture_id": w.public_venture_id},
        body=lambda w: {"tagline": "Otra frase"}, note="public"),
    Row("api.put_venture_deck", "PUT", OWNER_OF_PRIVATE, lambda w: {"venture_id": w.private_venture_id},
        body=lambda w: pdf_bytes(), note="private"),
    Row("api.put_venture_deck", "PUT", OWNER_OF_PUBLIC, lambda w: {"venture_id": w.public_venture_id},
        body=lambda w: pdf_bytes(), note="public"),
    # A draft's deck: only its team and the organizers; nobody else learns that it exists.
    Row("api.get_venture_deck", "GET", access(NOT_FOUND, owner=ALLOW, organizer=ALLOW),
        lambda w: {"venture_id": w.private_venture_id}, note="private"),
    # A public venture's deck: its team, organizers, the judges of its session, investors.
    Row("api.get_venture_deck", "GET",
        access(FORBIDDEN, anonymous=UNAUTHORIZED, owner=ALLOW, organizer=ALLOW, session_judge=ALLOW,
               investor=ALLOW),
        lambda w: {"venture_id": w.public_venture_id}, note="public"),
    # live judging
    Row("api.put_rubric", "PUT", ORGANIZERS, SESSION, body=_rubric_body),
    Row("api.control_session", "POST", ORGANIZERS, SESSION, body=lambda w: {"action": "start"}),
    Row("api.put_my_scores", "PUT", SESSION_JUDGES, PITCH, body=lambda w: {"scores": {}, "client_seq": 1},
        note="scoring not open: the session's judge gets 409"),
    Row("api.get_my_scores", "GET", SESSION_JUDGES, PITCH),
    Row("api.recuse", "POST", SESSION_JUDGES, PITCH, body=lambda w: {"reason": "Soy socio"}),
    Row("api.get_leaderboard", "GET", access(FORBIDDEN, organizer=ALLOW), SESSION,
        note="not started: hidden from everyone but organizers, logged in or not"),
    Row("api.get_leaderboard", "GET", PUBLIC, lambda w: {"session_id": w.live_session_id}, note="live"),
    Row("api.stream", "GET", PUBLIC, SESSION),
    Row("api.vote", "POST", PUBLIC, SESSION, body=lambda w: {"pitch_id": w.pitch_id},
        note="voting not open: 409 for everyone"),
    # the capital fund
    Row("api.create_fund", "POST", ORGANIZERS, body=lambda w: {
        "name": "Fondo Dos", "target_cents": 5_000_000_00, "min_pledge_cents": 100_000_00,
        "commitment_deadline": str(date.today() + timedelta(days=60)), "clabe": "002180700123456788"}),
    Row("api.list_funds", "GET", FUND_VIEWERS),
    Row("api.get_fund", "GET", FUND_VIEWERS, FUND),
    Row("api.create_pledge", "POST", INVESTORS, FUND, body=lambda w: {"amount_cents": 200_000_00},
        note="the company that pledged gets 409"),
    Row("api.change_pledge", "PATCH", COMPANY_PLEDGE, lambda w: {"pledge_id": w.pledge_id},
        body=lambda w: {"amount_cents": 1_500_000_00}),
    Row("api.my_pledges", "GET", INVESTORS),
    Row("api.create_capital_call", "POST", ORGANIZERS, FUND,
        body=lambda w: {"percent": "10", "due_date": str(date.today() + timedelta(days=20))}),
    # An investor sees every call, with only their own company's lines.
    Row("api.list_capital_calls", "GET", FUND_VIEWERS, FUND),
    Row("api.get_capital_call", "GET", FUND_VIEWERS, lambda w: {"call_id": w.call_id}),
    Row("api.record_transfer", "POST", ORGANIZERS, lambda w: {"line_id": w.line_id},
        body=lambda w: {"amount_cents": 10_000_00, "paid_on": str(date.today()), "reference": "SPEI 0002"}),
    Row("api.create_allocation", "POST", ORGANIZERS, FUND,
        body=lambda w: {"venture_id": w.public_venture_id, "amount_cents": 1_000_00}),
    Row("api.reverse_allocation", "POST", ORGANIZERS, lambda w: {"allocation_id": w.allocation_id},
        body=lambda w: {"reason": "Error de captura"}),
    Row("api.get_ledger", "GET", ORGANIZERS, FUND),
    # offers
    Row("api.create_offer", "POST", INVESTORS, PITCH, body=lambda w: {"amount_cents": 500_000_00, "equity_pct": "5"},
        note="not on stage yet: 409 for investors"),
    Row("api.accept_offer", "POST", OFFER_OWNER, lambda w: {"offer_id": w.offer_id}),
    Row("api.decline_offer", "POST", OFFER_OWNER, lambda w: {"offer_id": w.offer_id}),
    # Stripe authenticates by its signature: no user's credentials stand in for it.
    Row("api.stripe_webhook", "POST", access(BAD_SIGNATURE),
        body=lambda w: {"id": "evt_1", "type": "payment_intent.succeeded"}),
]


def api_endpoints(app) -> set[tuple[str, str]]:
    return {
        (rule.endpoint, method) for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def build_api_world() -> ApiWorld:
    base = build_world()
    draft = factories.venture(base.owner, name="Idea sin postular")
    event = db.session.get(Event, base.event_id)
    live = factories.session(event)
    shown = factories.submission(factories.venture(factories.user(Role.ENTREPRENEUR)), event, accepted=True)
    event_services.set_running_order(live, [shown.id])
    rubrics.set_rubric(live, rubrics.default_rubric())
    event_services.set_judges(live, [base.session_judge.id])
    organizer = factories.user(Role.ORGANIZER)
    db.session.commit()
    show.control(live.id, "start", organizer)
    db.session.commit()
    return ApiWorld(base=base, draft_venture_id=draft.id, live_session_id=live.id,
                    call_id=db.session.get(CallLine, base.line_id).call_id, password=factories.PASSWORD)


def call(app, user: User | None, row: Row, path: str, world: ApiWorld):
    headers = {"Accept-Language": "en"}
    if user is not None:
        headers["Authorization"] = f"Bearer {accounts.issue_token(user)}"
        db.session.commit()
    if row.method == "POST" and row.endpoint == "api.stripe_webhook":
        headers["Stripe-Signature"] = "t=1,v1=forged"
    body = row.body(world) if row.body else None
    client = app.test_client()
    if isinstance(body, bytes):
        return client.open(path, method=row.method, data=body, content_type="application/pdf", headers=headers)
    if body is None and row.method in ("POST", "PUT", "PATCH"):
        body = {}
    return client.open(path, method=row.method, json=body, headers=headers)


def check(response, expected: str) -> str | None:
    status = response.status_code
    if status >= 500:
        return f"server error {status}"
    if expected == ALLOW:
        if status not in ALLOWED_STATUSES:
            return f"expected the call to get through ({sorted(ALLOWED_STATUSES)}), got {status}"
        return None
    if status != STATUS[expected]:
        return f"expected {STATUS[expected]}, got {status}"
    if response.mimetype != PROBLEM:
        return f"a {status} must be {PROBLEM}, got {response.mimetype}"
    return None


@pytest.fixture
def webhook_secret(app, monkeypatch):
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", "whsec_authorization_table")


def test_every_api_endpoint_enforces_its_access_table(app, db, webhook_secret):
    # 1. The table covers exactly the app's API endpoints and methods.
    covered = {(row.endpoint, row.method) for row in ACCESS}
    routes = api_endpoints(app)
    assert routes - covered == set(), f"API endpoints missing from the access table: {sorted(routes - covered)}"
    assert covered - routes == set(), f"the access table names endpoints that no longer exist: {sorted(covered - routes)}"

    problems: list[str] = []
    world: ApiWorld | None = None
    users: dict[str, User | None] = {}
    plain = {principal: factories.user(role) for principal, role in ROLE_OF.items()}
    db.session.commit()
    for row in ACCESS:
        assert set(row.access) == set(PRINCIPALS), row.endpoint
        if world is None:
            world = build_api_world()
            users = principal_users(world.base, plain)
        path = app.url_map.bind("pitchtank.test").build(row.endpoint, row.params(world), method=row.method)
        # 2. Every caller gets what the table says, refusals first (allowed calls may change things).
        for principal in sorted(PRINCIPALS, key=lambda p: row.access[p] == ALLOW):
            expected = row.access[principal]
            response = call(app, users[principal], row, path, world)
            try:
                problem = check(response, expected)
            finally:
                response.close()  # an event stream ends here
            if problem:
                label = f"{row.endpoint}{f' ({row.note})' if row.note else ''}"
                problems.append(f"{row.method} {path} [{label}] as {principal}: {problem}")
        if row.method != "GET":
            world = None  # an allowed call may have changed the objects: start afresh
    assert problems == [], "\n".join(problems)
