"""Response headers, inline code in pages, cookies, production settings, passwords, login limits."""

from __future__ import annotations

import html
from datetime import date, timedelta
from html.parser import HTMLParser

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

import config
from config import DevelopmentConfig, ProductionConfig, TestingConfig
from pitchtank import create_app
from pitchtank.accounts.models import Role, User
from pitchtank.events import services as event_services
from pitchtank.extensions import db
from pitchtank.fund import services as fund_services
from pitchtank.invitations import services as invitation_services
from pitchtank.ventures import services as venture_services
from tests import factories


def browser(app, user: User | None = None) -> FlaskClient:
    client = app.test_client()
    if user is not None:
        with client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
            session["tfa_user_id"] = user.id  # as if two-factor was verified
    return client


class InlineCode(HTMLParser):
    """Collects what a strict Content-Security-Policy would block: inline scripts, styles, handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.html_lang: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "html":
            self.html_lang = attributes.get("lang")
        # A JSON data block (type=application/json) is never executed, so the policy allows it.
        data_block = (attributes.get("type") or "").lower() in {"application/json", "application/ld+json"}
        if tag == "script" and not attributes.get("src") and not data_block:
            self.problems.append("inline <script>")
        if tag == "style":
            self.problems.append("<style> element")
        for name, value in attrs:
            if name == "style":
                self.problems.append(f"style= on <{tag}>")
            if name.startswith("on"):
                self.problems.append(f"{name}= handler on <{tag}>")
            if name in {"href", "src", "action", "formaction"} and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"javascript: URL in {name} of <{tag}>")


def inline_code(body: str) -> list[str]:
    parser = InlineCode()
    parser.feed(body)
    return parser.problems


@pytest.fixture
def pages(app, db):
    """Real pages to inspect: (path, the user who looks at it)."""
    owner = factories.user(Role.ENTREPRENEUR)
    organizer = factories.user(Role.ORGANIZER)
    event = factories.event(organizer=organizer)
    session = factories.session(event)
    public = factories.venture(owner, name="Agro Bajío")
    submission = factories.submission(public, event, accepted=True)
    event_services.set_running_order(session, [submission.id])
    private = factories.venture(owner, name="Borrador")
    invitation = invitation_services.create_invitation(organizer, role=Role.JUDGE)
    judge = factories.user(Role.JUDGE)
    event_services.set_judges(session, [judge.id])
    investor = factories.user(Role.INVESTOR)
    fund = fund_services.create_fund(organizer, fund_services.FundData(
        name="Fondo Bajío", target_cents=10_000_000_00, min_pledge_cents=100_000_00,
        commitment_deadline=date.today() + timedelta(days=90), clabe="002180700123456788"))
    db.session.commit()
    pitch_id = session.pitches[0].id
    return [
        # live judging: projector, phones, tablet, console
        (f"/sessions/{session.id}/screen", None), (f"/sessions/{session.id}/vote", None),
        (f"/sessions/{session.id}/judge", judge), (f"/sessions/{session.id}/console", organizer),
        (f"/sessions/{session.id}/rubric", organizer), (f"/sessions/{session.id}/results", organizer),
        (f"/sessions/{session.id}/audit", organizer), (f"/pitches/{pitch_id}/feedback", owner),
        # the fund and offers
        ("/fund/", organizer), (f"/fund/{fund.id}", organizer), (f"/fund/{fund.id}/calls/new", organizer),
        ("/fund/new", organizer), ("/fund/dashboard", investor), (f"/fund/pitches/{pitch_id}/offer", investor),
        ("/fund/offers", owner), (f"/fund/sessions/{session.id}/offers", organizer),
        ("/", None), ("/signup", None), ("/login", None), ("/events/", None), (f"/events/{event.id}", None),
        (f"/sessions/{session.id}", None), ("/ventures/", None), (f"/ventures/{public.id}", None),
        (f"/invite/{invitation_services.invitation_token(invitation)}", None),
        ("/dashboard", owner), ("/ventures/mine", owner), ("/ventures/new", owner),
        (f"/ventures/{private.id}", owner), (f"/ventures/{private.id}/edit", owner),
        (f"/ventures/{private.id}/deck", owner), (f"/events/{event.id}/apply", owner), ("/account", owner),
        ("/dashboard", organizer), (f"/events/{event.id}/manage", organizer), ("/events/new", organizer),
        (f"/sessions/{session.id}/manage", organizer), ("/companies/", organizer), ("/users", organizer),
        ("/invitations", organizer), (f"/invitations/{invitation.id}", organizer),
    ]


def test_every_response_carries_the_security_headers(app, pages):
    for path, user in pages:
        response = browser(app, user).get(path)
        assert response.status_code == 200, path
        policy = response.headers.get("Content-Security-Policy", "")
        directives = {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}
        assert directives.get("script-src") == ["'self'"], (path, policy)
        assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy, (path, policy)
        assert directives.get("object-src") == ["'none'"], (path, policy)
        assert directives.get("frame-ancestors") == ["'none'"], (path, policy)
        assert response.headers.get("X-Content-Type-Options") == "nosniff", path
        assert response.headers.get("Referrer-Policy") == "same-origin", path
    # Error pages and JSON carry them too.
    client = browser(app)
    for response in (client.get("/no-such-page"), client.get("/api/v1/events"), client.get("/healthz")):
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_have_no_inline_scripts_or_styles(app, pages):
    problems = []
    for path, user in pages:
        response = browser(app, user).get(path)
        assert response.status_code == 200, path
        body = response.get_data(as_text=True)
        problems += [f"{path}: {problem}" for problem in inline_code(body)]
        assert '<script src="/static/js/app.js' in body, path
    # A form shown again with errors too.
    owner = factories.user(Role.ENTREPRENEUR)
    db.session.commit()
    response = browser(app, owner).post("/ventures/new", data={"name": "x" * 10_000, "ask": "abc"})
    assert response.status_code == 422
    problems += [f"/ventures/new (422): {problem}" for problem in inline_code(response.get_data(as_text=True))]
    assert problems == [], "\n".join(problems)


def test_the_inline_code_check_sees_what_it_must():
    assert inline_code('<p>ok</p><script src="/static/js/app.js" defer></script>') == []
    assert inline_code("<script>alert(1)</script>") == ["inline <script>"]
    assert inline_code('<script type="module">go()</script>') == ["inline <script>"]
    assert inline_code('<script type="application/json" id="state">{"a": 1}</script>') == []
    assert inline_code('<div style="color:red"></div><style>p{}</style>') == ["style= on <div>", "<style> element"]
    assert inline_code('<button onclick="go()">') == ["onclick= handler on <button>"]
    assert inline_code('<a href="javascript:go()">') == ["javascript: URL in href of <a>"]


def test_the_deck_is_served_sandboxed_and_uncached(app, db):
    import io

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=842, height=595)
    buffer = io.BytesIO()
    writer.write(buffer)
    owner = factories.user(Role.ENTREPRENEUR)
    venture = factories.venture(owner)
    venture_services.store_deck(venture, owner, buffer.getvalue())
    db.session.commit()
    response = browser(app, owner).get(f"/ventures/{venture.id}/deck.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Security-Policy"].startswith("sandbox")
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_session_cookie_is_httponly_and_samesite_lax(app, make):
    make.user(Role.ENTREPRENEUR, email="cookie@example.mx")
    db.session.commit()
    response = browser(app).post("/login", data={"email": "cookie@example.mx", "password": factories.PASSWORD})
    assert response.status_code == 302
    cookies = [value for key, value in response.headers.items() if key == "Set-Cookie"]
    session_cookie = next(c for c in cookies if c.startswith(app.config["SESSION_COOKIE_NAME"] + "="))
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in session_cookie.split(";")}
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "samesite=lax"


def test_production_cookies_are_secure_httponly_and_lax(app, tmp_path):
    class ProductionForTests(ProductionConfig):
        SECRET_KEY = "a-production-secret-for-this-test"  # noqa: S105
        PUBLIC_URL = "https://pitchtank.test"
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path / 'production.sqlite3'}"
        RATELIMIT_STORAGE_URI = app.config["RATELIMIT_STORAGE_URI"]

    production = create_app(ProductionForTests)
    assert production.config["SESSION_COOKIE_SECURE"] is True
    assert production.config["REMEMBER_COOKIE_SECURE"] is True
    assert production.config["SESSION_COOKIE_HTTPONLY"] is True
    assert production.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert production.config["WTF_CSRF_ENABLED"] is True
    assert production.config["DEMO_ALLOWED"] is False
    with production.test_request_context("/"):
        from flask import request

        interface = production.session_interface
        session = interface.open_session(production, request)
        session["lang"] = "en"
        response = production.response_class()
        interface.save_session(production, session, response)
        cookie = response.headers["Set-Cookie"]
    assert "; Secure" in cookie and "; HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_production_refuses_to_start_without_a_secret_key():
    class NoSecret(ProductionConfig):
        SECRET_KEY = None

    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        NoSecret.validate()
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(NoSecret)

    class EmptySecret(ProductionConfig):
        SECRET_KEY = ""

    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(EmptySecret)


def test_production_refuses_to_start_without_its_public_address():
    class NoPublicUrl(ProductionConfig):
        SECRET_KEY = "a-production-secret-for-this-test"  # noqa: S105
        PUBLIC_URL = None

    with pytest.raises(RuntimeError, match="PUBLIC_URL"):
        create_app(NoPublicUrl)


def test_an_unknown_configuration_name_is_refused(monkeypatch):
    monkeypatch.setenv("PITCHTANK_CONFIG", "prod")
    with pytest.raises(RuntimeError, match="PITCHTANK_CONFIG"):
        config.config_from_environment()
    monkeypatch.setenv("PITCHTANK_CONFIG", "production")
    assert config.config_from_environment() is ProductionConfig


def test_passwords_are_stored_as_scrypt_hashes(app, db):
    response = browser(app).post("/signup", data={
        "name": "Marta Ruiz", "email": "marta@example.mx", "password": "una clave bastante larga",
        "password_confirm": "una clave bastante larga",
    })
    assert response.status_code == 302
    user = db.session.scalar(select(User).where(User.email == "marta@example.mx"))
    assert user.password_hash.startswith("scrypt:")
    assert "una clave bastante larga" not in user.password_hash
    # Production and development hash with scrypt at werkzeug's full default work factor;
    # only the tests lower it.
    assert config.Config.PASSWORD_HASH_METHOD == "scrypt"
    assert ProductionConfig.PASSWORD_HASH_METHOD == "scrypt"
    assert DevelopmentConfig.PASSWORD_HASH_METHOD == "scrypt"
    assert TestingConfig.PASSWORD_HASH_METHOD.startswith("scrypt:")


@pytest.fixture
def strict_login_limit(app):
    previous = app.config["LOGIN_RATE_LIMIT"]
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    try:
        yield app
    finally:
        app.config["LOGIN_RATE_LIMIT"] = previous


def test_repeated_failed_logins_for_one_email_are_slowed_down(strict_login_limit, make):
    app = strict_login_limit
    make.user(Role.ENTREPRENEUR, email="target@example.mx")
    make.user(Role.ENTREPRENEUR, email="neighbour@example.mx")
    db.session.commit()
    client = browser(app)
    client.post("/language", data={"lang": "en"})
    for _ in range(3):
        assert client.post("/login", data={"email": "target@example.mx", "password": "wrong password"}).status_code == 422
    refused = client.post("/login", data={"email": "Target@Example.mx", "password": factories.PASSWORD})
    assert refused.status_code == 429
    assert "Too many attempts. Wait a moment and try again." in html.unescape(refused.get_data(as_text=True))
    assert "script-src 'self'" in refused.headers["Content-Security-Policy"]
    # Another account behind the same address (a venue's Wi-Fi) is not locked out.
    other = browser(app).post("/login", data={"email": "neighbour@example.mx", "password": factories.PASSWORD})
    assert other.status_code == 302
    # The API's token exchange counts against the same account.
    api = browser(app).post("/api/v1/tokens", json={"email": "target@example.mx", "password": factories.PASSWORD})
    assert api.status_code == 429
    # Showing the login page is never limited.
    assert client.get("/login").status_code == 200
