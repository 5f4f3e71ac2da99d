"""CSRF: every unsafe request carried by the browser's cookie needs the token; bearer calls do not.

The test app runs with ``WTF_CSRF_ENABLED=False``; these tests switch it on for their own
duration (``csrf_on``) and back off afterwards.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from pypdf import PdfWriter
from sqlalchemy import select

from pitchtank.accounts import services as account_services
from pitchtank.accounts.models import Role, User
from pitchtank.core import security
from pitchtank.events import services as event_services
from pitchtank.events.models import Event
from pitchtank.extensions import db
from pitchtank.invitations import services as invitation_services
from tests import factories
from tests.conftest import _empty_all_tables

_numbers = itertools.count(1)
MEXICO_CITY = ZoneInfo("America/Mexico_City")
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
CSRF_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
HIDDEN_TOKEN = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')


def browser(app, user: User | None = None) -> FlaskClient:
    client = app.test_client()
    if user is not None:
        with client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
            session["tfa_user_id"] = user.id  # as if two-factor was verified
    return client


@pytest.fixture
def csrf_on(app, db):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        yield app
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def snapshot() -> dict[str, list[str]]:
    """Every row of every table, to show that a refused request changed nothing."""
    db.session.expire_all()
    return {
        table.name: sorted(repr(tuple(row)) for row in db.session.execute(select(table)))
        for table in db.metadata.sorted_tables
    }


def meta_token(client) -> str:
    page = client.get("/")
    assert page.status_code == 200
    match = CSRF_TOKEN.search(page.get_data(as_text=True))
    assert match, "the page has no <meta name=csrf-token>"
    return match.group(1)


def pdf_bytes() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=842, height=595)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def local(value) -> str:
    return value.astimezone(MEXICO_CITY).strftime("%Y-%m-%dT%H:%M")


@dataclass
class World:
    boss: User  # every role, owner of the ventures, member of a company
    other_user_id: int
    judge_id: int  # judge of the session
    free_judge_id: int  # a judge of no session
    organization_id: int
    event: Event
    session_id: int
    pitch_id: int
    pending_submission_id: int
    unplaced_submission_id: int
    fresh_venture_id: int
    owned_venture_id: int
    invitation_id: int
    invitation_token: str
    login_token: str
    login_link_id: int = 0


def build_world() -> World:
    organization = factories.organization()
    boss = account_services.register_user(
        email=f"boss{next(_numbers)}@example.mx", name="Jefa de todo",
        password=factories.PASSWORD, roles=list(Role), organization=organization, email_verified=True,
    )
    event = factories.event(organizer=boss)
    session = factories.session(event)

    def applied(accept: bool):
        submission = event_services.apply(factories.venture(boss), event, boss)
        if accept:
            event_services.decide(submission, accept=True, note="", actor=boss)
        return submission

    placed = [applied(accept=True) for _ in range(2)]
    event_services.set_running_order(session, [s.id for s in placed])
    unplaced = applied(accept=True)
    pending = applied(accept=False)
    fresh = factories.venture(boss)
    judge, free_judge = factories.user(Role.JUDGE), factories.user(Role.JUDGE)
    other = factories.user(Role.ENTREPRENEUR)
    invitation = invitation_services.create_invitation(boss, role=Role.JUDGE)
    event_services.set_judges(session, [judge.id])
    login_link = invitation_services.create_login_link(boss, judge, session)
    db.session.commit()
    return World(
        boss=boss, other_user_id=other.id, judge_id=judge.id, free_judge_id=free_judge.id, organization_id=organization.id, event=event,
        session_id=session.id, pitch_id=session.pitches[0].id, pending_submission_id=pending.id,
        unplaced_submission_id=unplaced.id, fresh_venture_id=fresh.id, owned_venture_id=placed[0].venture_id,
        invitation_id=invitation.id, invitation_token=invitation_services.invitation_token(invitation),
        login_token=invitation_services.login_link_token(login_link), login_link_id=login_link.id,
    )


VENTURE_FORM = {
    "name": "Ruta Bajío", "tagline": "Logística para PyMEs", "sector": "logistics", "stage": "mvp",
    "description": "Rutas de reparto más cortas.", "ask": "1500000.50", "equity_offered_pct": "12.5",
}
VENTURE_JSON = {
    "name": "Ruta Bajío", "tagline": "Logística para PyMEs", "sector": "logistics", "stage": "mvp",
    "description": "Rutas de reparto más cortas.", "ask_cents": 150_000_050, "equity_offered_pct": "12.5",
}
EVENT_FORM = {
    "name": "Demo Day León", "venue": "Poliforum León", "description": "",
    "starts_at": "2030-05-10T09:00", "ends_at": "2030-05-11T18:00",
    "submissions_open_at": "2030-01-10T09:00", "submissions_close_at": "2030-05-01T18:00",
}
EVENT_JSON = {
    "name": "Demo Day León", "venue": "Poliforum León",
    "starts_at": "2030-05-10T09:00:00-06:00", "ends_at": "2030-05-11T18:00:00-06:00",
    "submissions_open_at": "2030-01-10T09:00:00-06:00", "submissions_close_at": "2030-05-01T18:00:00-06:00",
}


def session_form(w: World) -> dict:
    return {"title": "Sesión de la tarde", "starts_at": local(w.event.starts_at + timedelta(hours=1)),
            "pitch_minutes": "5", "qa_minutes": "3"}


def session_json(w: World) -> dict:
    return {"title": "Sesión de la tarde", "starts_at": (w.event.starts_at + timedelta(hours=1)).isoformat(),
            "pitch_minutes": 5, "qa_minutes": 3}


@dataclass
class Unsafe:
    """One unsafe route: a request that would succeed with a token, and what success looks like."""

    request: Callable[[World], dict]
    ok: tuple[int, ...] | None = (302,)  # None: past the CSRF check, whatever the domain then says
    changes_db: bool = True
    anonymous: bool = False  # sent by a visitor who is not logged in (sign up, log in)


def form(data: dict | Callable[[World], dict] = None) -> Callable[[World], dict]:
    data = data or {}
    return lambda w: {"data": dict(data(w) if callable(data) else data)}


def json_body(data: dict | Callable[[World], dict]) -> Callable[[World], dict]:
    return lambda w: {"json": data(w) if callable(data) else data}


UNSAFE_ROUTES: dict[tuple[str, str], Unsafe] = {
    # pages
    ("core.set_language", "POST"): Unsafe(form({"lang": "en"})),  # also stored on the user
    ("accounts.logout", "POST"): Unsafe(form(), changes_db=False),
    ("accounts.signup", "POST"): Unsafe(form({
        "name": "Ana Torres", "email": "ana.torres@example.mx", "password": "una clave bastante larga",
        "password_confirm": "una clave bastante larga"}), anonymous=True),
    ("accounts.login", "POST"): Unsafe(
        lambda w: {"data": {"email": w.boss.email, "password": factories.PASSWORD}}, changes_db=False,
        anonymous=True),
    ("accounts.account", "POST"): Unsafe(form({"name": "Nombre nuevo", "language": "en"})),
    ("accounts.change_password", "POST"): Unsafe(form({
        "pw-current_password": factories.PASSWORD, "pw-new_password": "otra clave bastante larga",
        "pw-new_password_confirm": "otra clave bastante larga"})),
    ("accounts.edit_user", "POST"): Unsafe(form({"roles": ["judge"], "organization_id": "0"})),
    # email confirmation and password reset (the boss's address is already confirmed: 200)
    ("accounts.verify_email_notice", "POST"): Unsafe(form(), ok=(200,), changes_db=False),
    ("accounts.forgot_password", "POST"): Unsafe(lambda w: {"data": {"email": w.boss.email}}, anonymous=True),
    # The URL's token is not a reset token: past the CSRF check the link is refused (404).
    ("accounts.reset_password", "POST"): Unsafe(form({"password": "otra clave bastante larga",
                                                      "password_confirm": "otra clave bastante larga"}),
                                                ok=(404,), changes_db=False, anonymous=True),
    # The boss is the only organizer, so the deletion is refused (409) once past the CSRF check.
    ("privacy.delete_account", "POST"): Unsafe(form({"password": factories.PASSWORD}), ok=(409,), changes_db=False),
    ("ventures.new", "POST"): Unsafe(form(VENTURE_FORM)),
    ("ventures.edit", "POST"): Unsafe(form(VENTURE_FORM)),
    ("ventures.deck_upload", "POST"): Unsafe(
        lambda w: {"data": {"deck": (io.BytesIO(pdf_bytes()), "deck.pdf")}, "content_type": "multipart/form-data"}),
    ("events.new", "POST"): Unsafe(form(EVENT_FORM)),
    ("events.edit", "POST"): Unsafe(form(EVENT_FORM)),
    ("events.apply", "POST"): Unsafe(form(lambda w: {"venture_id": str(w.fresh_venture_id)})),
    ("events.withdraw", "POST"): Unsafe(form()),
    ("events.decide", "POST"): Unsafe(form({"decision": "accept", "note": "Bienvenidos"})),
    ("events.new_session", "POST"): Unsafe(form(session_form)),
    ("events.edit_session", "POST"): Unsafe(form(session_form)),
    ("events.add_pitch", "POST"): Unsafe(form(lambda w: {"submission_id": str(w.unplaced_submission_id)})),
    ("events.move_pitch", "POST"): Unsafe(form({"direction": "down"})),
    ("events.remove_pitch", "POST"): Unsafe(form()),
    ("events.set_judges", "POST"): Unsafe(form(lambda w: {"judge_ids": [str(w.free_judge_id)]})),
    ("organizations.new", "POST"): Unsafe(form({"name": "Bajío Soft", "legal_name": "", "rfc": "BSF150312AB1",
                                                "membership_status": "active"})),
    ("organizations.edit", "POST"): Unsafe(form({"name": "Nombre corregido", "legal_name": "", "rfc": "",
                                                 "membership_status": "active"})),
    ("invitations.index", "POST"): Unsafe(form({"role": "judge", "invitee_name": "", "organization_id": "0",
                                                "ttl_hours": "72"})),
    ("invitations.revoke", "POST"): Unsafe(form()),
    ("invitations.accept", "POST"): Unsafe(form()),
    # judges' login codes: making one, and using one (which logs this browser in as the judge)
    ("invitations.create_login_code", "POST"): Unsafe(form()),
    ("invitations.use_login_code", "POST"): Unsafe(form()),
    ("invitations.revoke_login_code", "POST"): Unsafe(form()),
    ("invitations.set_judge_logins", "POST"): Unsafe(form({"state": "off"})),
    # two-factor: the boss has not turned it on, so these pass the check and change nothing
    ("two_factor.verify", "POST"): Unsafe(form({"code": "123456"}), changes_db=False),
    ("two_factor.setup", "POST"): Unsafe(form({"code": "123456"}), ok=(422,), changes_db=False),
    ("two_factor.disable", "POST"): Unsafe(form({"off-code": "123456"}), changes_db=False),
    ("two_factor.regenerate_codes", "POST"): Unsafe(form({"new-code": "123456"}), changes_db=False),
    # the live console, the rubric editor and the audience's vote (past the CSRF check, the
    # domain may still refuse: no rubric yet, the session is not live, ...)
    ("judging_console.act", "POST"): Unsafe(form(), ok=(302,), changes_db=False),
    ("judging_console.void", "POST"): Unsafe(form(), ok=(302,), changes_db=False),
    ("judging_console.rubric", "POST"): Unsafe(form(), ok=None, changes_db=False),
    ("judging_console.copy_rubric", "POST"): Unsafe(form(), ok=(302,), changes_db=False),
    ("judging_screens.vote", "POST"): Unsafe(form(lambda w: {"pitch_id": str(w.pitch_id)}), ok=None,
                                             changes_db=False),
    # the capital fund's pages (ids that do not exist: past the CSRF check a 404 is fine)
    ("fund.new", "POST"): Unsafe(form({"name": "Fondo Bajío"}), ok=None, changes_db=False),
    ("fund.set_status", "POST"): Unsafe(form({"status": "closed"}), ok=None, changes_db=False),
    ("fund.new_call", "POST"): Unsafe(form({"percent": "10"}), ok=None, changes_db=False),
    ("fund.record_transfer", "POST"): Unsafe(form({"amount": "100"}), ok=None, changes_db=False),
    ("fund.allocate", "POST"): Unsafe(form({"amount": "100"}), ok=None, changes_db=False),
    ("fund.reverse_allocation", "POST"): Unsafe(form({"reason": "Error"}), ok=None, changes_db=False),
    ("fund.pledge", "POST"): Unsafe(form({"amount": "100000"}), ok=None, changes_db=False),
    ("fund.change_pledge", "POST"): Unsafe(form({"amount": "100000"}), ok=None, changes_db=False),
    ("fund.cancel_pledge", "POST"): Unsafe(form(), ok=None, changes_db=False),
    ("fund.save_card", "POST"): Unsafe(form(), ok=None, changes_db=False),
    ("fund.pay_line", "POST"): Unsafe(form(), ok=None, changes_db=False),
    ("fund.complete_payment", "POST"): Unsafe(form(), ok=None, changes_db=False),
    ("fund.make_offer", "POST"): Unsafe(form({"amount": "100000", "equity": "10"}), ok=None, changes_db=False),
    ("fund.decide_offer", "POST"): Unsafe(form(), ok=None, changes_db=False),
    # API, authenticated by the session cookie
    ("api.create_event", "POST"): Unsafe(json_body(EVENT_JSON), ok=(201,)),
    ("api.create_session", "POST"): Unsafe(json_body(session_json), ok=(201,)),
    ("api.create_submission", "POST"): Unsafe(json_body(lambda w: {"venture_id": w.fresh_venture_id}), ok=(201,)),
    ("api.accept_submission", "POST"): Unsafe(json_body({"note": ""}), ok=(200,)),
    ("api.reject_submission", "POST"): Unsafe(json_body({"note": "Aún no"}), ok=(200,)),
    ("api.withdraw_submission", "POST"): Unsafe(lambda w: {}, ok=(200,)),
    ("api.put_running_order", "PUT"): Unsafe(json_body(lambda w: {"submission_ids": [w.unplaced_submission_id]}),
                                             ok=(200,)),
    ("api.put_judges", "PUT"): Unsafe(json_body(lambda w: {"user_ids": [w.free_judge_id]}), ok=(200,)),
    ("api.create_venture", "POST"): Unsafe(json_body(VENTURE_JSON), ok=(201,)),
    ("api.patch_venture", "PATCH"): Unsafe(json_body({"name": "Nombre nuevo"}), ok=(200,)),
    ("api.put_venture_deck", "PUT"): Unsafe(
        lambda w: {"data": pdf_bytes(), "content_type": "application/pdf"}, ok=(200,)),
    # live judging
    ("api.put_rubric", "PUT"): Unsafe(json_body({"criteria": [
        {"key": key, "name": key.title(), "weight": 1, "min": 1, "max": 5}
        for key in ("problem", "solution", "team")]}), ok=(200,)),
    ("api.control_session", "POST"): Unsafe(json_body({"action": "start"}), ok=None, changes_db=False),
    ("api.put_my_scores", "PUT"): Unsafe(json_body({"scores": {"team": 4}, "client_seq": 1}), ok=None,
                                         changes_db=False),
    ("api.recuse", "POST"): Unsafe(json_body({"reason": "Soy socia"}), ok=None, changes_db=False),
    ("api.vote", "POST"): Unsafe(lambda w: {"json": {"pitch_id": w.pitch_id}}, ok=None, changes_db=False),
    # the capital fund (ids that do not exist: past the CSRF check a 404 is fine)
    ("api.create_fund", "POST"): Unsafe(json_body({
        "name": "Fondo Bajío 2030", "target_cents": 5_000_000_000, "min_pledge_cents": 10_000_000,
        "commitment_deadline": "2030-12-31", "clabe": "002180700123456789"}), ok=None, changes_db=False),
    ("api.create_pledge", "POST"): Unsafe(json_body({"amount_cents": 10_000_000}), ok=None, changes_db=False),
    ("api.change_pledge", "PATCH"): Unsafe(json_body({"amount_cents": 0}), ok=None, changes_db=False),
    ("api.create_capital_call", "POST"): Unsafe(json_body({"percent": "10", "due_date": "2030-06-30"}),
                                                ok=None, changes_db=False),
    ("api.record_transfer", "POST"): Unsafe(json_body({"amount_cents": 100, "paid_on": "2030-06-01",
                                                       "reference": "SPEI 123"}), ok=None, changes_db=False),
    ("api.create_allocation", "POST"): Unsafe(json_body(lambda w: {"venture_id": w.owned_venture_id,
                                                                   "amount_cents": 100}), ok=None, changes_db=False),
    ("api.reverse_allocation", "POST"): Unsafe(json_body({"reason": "Error de captura"}), ok=None,
                                               changes_db=False),
    # offers to a pitch (the boss is an investor; past the CSRF check the domain may refuse)
    ("api.create_offer", "POST"): Unsafe(json_body({"amount_cents": 50_000_000, "equity_pct": "10",
                                                    "terms": "Consejo"}), ok=None, changes_db=False),
    ("api.accept_offer", "POST"): Unsafe(lambda w: {}, ok=None, changes_db=False),
    ("api.decline_offer", "POST"): Unsafe(lambda w: {}, ok=None, changes_db=False),
    # Only meaningful with a bearer token: by cookie, past the CSRF check it says "not a token request".
    ("api.revoke_current_token", "DELETE"): Unsafe(lambda w: {}, ok=(422,), changes_db=False),
}
# Exchanging email and password for a bearer token: API clients have no CSRF token, the
# answer sets no cookie and cannot be read cross-site (see test_token_exchange_needs_no_csrf_token).
# Stripe's webhook is authenticated by its signature (test_the_stripe_webhook_is_not_csrf_checked).
EXEMPT = {("api.create_token", "POST"), ("api.stripe_webhook", "POST")}
CSRF_REFUSAL = "The form expired or was sent from elsewhere. Reload the page and try again."


def url_values(w: World) -> dict:
    return {
        "user_id": w.other_user_id, "venture_id": w.owned_venture_id, "event_id": w.event.id,
        "session_id": w.session_id, "pitch_id": w.pitch_id, "submission_id": w.pending_submission_id,
        "organization_id": w.organization_id, "invitation_id": w.invitation_id, "token": w.invitation_token,
        "action": "start", "fund_id": 999_999, "pledge_id": 999_999, "line_id": 999_999, "allocation_id": 999_999,
        "offer_id": 999_999, "payment_id": 999_999, "decision": "decline", "link_id": w.login_link_id,
    }


def unsafe_rules(app) -> dict[tuple[str, str], object]:
    found = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in rule.methods & UNSAFE:
            found[(rule.endpoint, method)] = rule
    return found


def test_every_unsafe_route_refuses_a_cookie_request_without_token(csrf_on, db):
    app = csrf_on
    rules = unsafe_rules(app)
    assert set(rules) == set(UNSAFE_ROUTES) | EXEMPT, (
        f"unsafe routes without a CSRF case: {sorted(set(rules) - set(UNSAFE_ROUTES) - EXEMPT)}; "
        f"cases without a route: {sorted((set(UNSAFE_ROUTES) | EXEMPT) - set(rules))}"
    )
    problems = []
    world, before = None, None
    for (endpoint, method), case in sorted(UNSAFE_ROUTES.items()):
        if world is None:  # a fresh world whenever the previous request changed the last one
            _empty_all_tables()  # keeps each snapshot small
            world = build_world()
            before = snapshot()
        rule = rules[(endpoint, method)]
        values = url_values(world)
        if endpoint == "invitations.use_login_code":
            values["token"] = world.login_token
        if endpoint == "invitations.create_login_code":
            values["user_id"] = world.judge_id
        path = app.url_map.bind("pitchtank.test").build(endpoint, {k: v for k, v in values.items()
                                                                    if k in rule.arguments})
        client = browser(app, None if case.anonymous else world.boss)

        refused = client.open(path, method=method, headers={"Accept-Language": "en"}, **case.request(world))
        if refused.status_code != 400:
            problems.append(f"{method} {path} without token: expected 400, got {refused.status_code}")
        if path.startswith("/api/") and (refused.mimetype != "application/problem+json"
                                         or refused.get_json().get("detail") != CSRF_REFUSAL):
            problems.append(f"{method} {path} without token: expected the CSRF problem, got {refused.data[:200]!r}")
        if snapshot() != before:
            problems.append(f"{method} {path} without token changed the database")

        # The same request with the page's token passes the check and does its work.
        token = meta_token(client)
        kwargs = case.request(world)
        if "data" in kwargs and isinstance(kwargs["data"], dict):
            kwargs["data"].update({"csrf_token": token, "pw-csrf_token": token})
        else:
            kwargs["headers"] = {"X-CSRFToken": token}
        accepted = client.open(path, method=method, **kwargs)
        if case.ok is None:
            if accepted.status_code == 400 or accepted.status_code >= 500:
                problems.append(f"{method} {path} with token: got {accepted.status_code}")
        elif accepted.status_code not in case.ok:
            problems.append(f"{method} {path} with token: expected {case.ok}, got {accepted.status_code}")
        after = snapshot()
        if case.changes_db and after == before:
            problems.append(f"{method} {path} with token changed nothing")
        if after != before or endpoint == "invitations.use_login_code":
            world = None
    assert problems == [], "\n".join(problems)


def test_a_refused_logout_keeps_the_user_logged_in(csrf_on, make):
    user = make.user(Role.ENTREPRENEUR)
    db.session.commit()
    client = browser(csrf_on, user)
    assert client.post("/logout").status_code == 400
    assert client.get("/dashboard").status_code == 200
    assert client.post("/logout", data={"csrf_token": meta_token(client)}).status_code == 302
    assert client.get("/dashboard").status_code == 302


def test_a_token_from_another_session_is_refused(csrf_on, make):
    alice, bob = make.user(Role.ORGANIZER), make.user(Role.ORGANIZER)
    db.session.commit()
    alice_client, bob_client = browser(csrf_on, alice), browser(csrf_on, bob)
    stolen = meta_token(alice_client)
    before = snapshot()
    response = bob_client.post("/events/new", data={**EVENT_FORM, "csrf_token": stolen})
    assert response.status_code == 400
    assert snapshot() == before
    assert bob_client.post("/events/new", data={**EVENT_FORM, "csrf_token": "not-a-token"}).status_code == 400
    assert snapshot() == before


def test_signup_and_login_forms_work_with_the_token_of_their_own_page(csrf_on, db):
    client = browser(csrf_on)
    page = client.get("/signup")
    assert page.status_code == 200
    match = HIDDEN_TOKEN.search(page.get_data(as_text=True))
    assert match, "the sign-up form has no hidden csrf_token input"
    response = client.post("/signup", data={
        "csrf_token": match.group(1), "name": "Luisa Pérez", "email": "luisa@example.mx",
        "password": "una clave bastante larga", "password_confirm": "una clave bastante larga",
    })
    assert response.status_code == 302
    assert db.session.scalar(select(User).where(User.email == "luisa@example.mx")) is not None

    client = browser(csrf_on)
    page = client.get("/login")
    match = HIDDEN_TOKEN.search(page.get_data(as_text=True))
    assert match, "the login form has no hidden csrf_token input"
    without = client.post("/login", data={"email": "luisa@example.mx", "password": "una clave bastante larga"})
    assert without.status_code == 400
    response = client.post("/login", data={"csrf_token": match.group(1), "email": "luisa@example.mx",
                                           "password": "una clave bastante larga"})
    assert response.status_code == 302
    assert client.get("/dashboard").status_code == 200


def test_bearer_api_calls_need_no_csrf_token(csrf_on, db):
    world = build_world()
    token = account_services.issue_token(world.boss)
    db.session.commit()
    client = browser(csrf_on)
    bearer = {"Authorization": f"Bearer {token}"}

    created = client.post("/api/v1/events", json=EVENT_JSON, headers=bearer)
    assert created.status_code == 201, created.get_json()
    assert db.session.get(Event, created.get_json()["id"]).name == "Demo Day León"
    judges = client.put(f"/api/v1/sessions/{world.session_id}/judges", json={"user_ids": [world.free_judge_id]},
                        headers=bearer)
    assert judges.status_code == 200
    assert [j["id"] for j in judges.get_json()["judges"]] == [world.free_judge_id]
    assert client.delete("/api/v1/tokens/current", headers=bearer).status_code == 204
    # The revoked token no longer authenticates; without a cookie there is nobody to forge for.
    assert client.post("/api/v1/events", json=EVENT_JSON, headers=bearer).status_code == 401


def test_token_exchange_needs_no_csrf_token(csrf_on, make):
    user = make.user(Role.ENTREPRENEUR, email="api@example.mx")
    db.session.commit()
    response = browser(csrf_on).post("/api/v1/tokens", json={"email": "api@example.mx",
                                                              "password": factories.PASSWORD})
    assert response.status_code == 201
    assert response.get_json()["user"]["id"] == user.id
    assert "Set-Cookie" not in response.headers


def test_only_endpoints_that_authenticate_otherwise_skip_the_check(csrf_on):
    assert {endpoint for endpoint, _method in EXEMPT} == security.CSRF_EXEMPT_ENDPOINTS


def test_the_stripe_webhook_is_not_csrf_checked(csrf_on, db):
    before = snapshot()
    response = browser(csrf_on).post("/api/v1/webhooks/stripe", data=b'{"id": "evt_1"}',
                                     content_type="application/json", headers={"Accept-Language": "en"})
    # Refused by the webhook itself (no secret configured, or no signature), not by the CSRF check.
    assert response.status_code == 400
    assert response.get_json()["detail"] != CSRF_REFUSAL
    assert snapshot() == before
