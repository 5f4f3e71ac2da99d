"""Sign-up's confirmation link, what waits for it, and the forgotten-password link."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from pitchtank.accounts import recovery, services, verification
from pitchtank.accounts.models import Role, User
from pitchtank.audit.models import AuditEntry
from pitchtank.core.errors import PermissionDenied
from pitchtank.events import services as events
from pitchtank.fund import offers
from pitchtank.fund import services as fund
from tests import factories

PASSWORD = "una clave bastante larga"
NEW_PASSWORD = "otra clave todavía más larga"


def browser(app, user: User | None = None, *, english: bool = True) -> FlaskClient:
    client = app.test_client()
    if user is not None:
        with client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
    if english:
        client.post("/language", data={"lang": "en"})
    return client


def text(response) -> str:
    return response.get_data(as_text=True)


def link_in(message, path: str) -> str:
    """The path of the first link to ``path`` in the plain text, checked against the HTML too."""
    body = message.get_body(("plain",)).get_content()
    url = re.search(rf"http://pitchtank\.test{path}/\S+", body).group(0)
    assert f'href="{url}"' in message.get_body(("html",)).get_content()
    return url.removeprefix("http://pitchtank.test")


def sign_up(app, email="ana.torres@example.mx") -> FlaskClient:
    client = browser(app, english=False)
    response = client.post("/signup", data={"name": "Ana Torres", "email": email, "password": PASSWORD,
                                            "password_confirm": PASSWORD})
    assert response.status_code == 302
    return client


def test_sign_up_mails_a_spanish_link_that_confirms_the_address_once(app, db, smtp_server):
    client = sign_up(app)
    [message] = smtp_server.messages
    assert message["To"] == "ana.torres@example.mx" and message["X-PitchTank-Kind"] == "email_verification"
    assert message["Subject"] == "Confirma tu correo electrónico para PitchTank"
    assert message["Content-Language"] == "es-MX"
    user = db.session.scalar(select(User).where(User.email == "ana.torres@example.mx"))
    assert user.email_verified_at is None
    page = client.get("/ventures/mine")
    assert "Confirma tu correo electrónico: enviamos un enlace a ana.torres@example.mx" in text(page)

    path = link_in(message, "/verify-email")
    confirmed = client.get(path)
    assert confirmed.status_code == 200 and "quedó confirmado" in text(confirmed)
    db.session.expire_all()
    assert db.session.get(User, user.id).email_verified_at is not None
    again = client.get(path)  # harmless: already confirmed
    assert again.status_code == 200 and "ya estaba confirmado" in text(again)
    assert "Confirma tu correo electrónico: enviamos" not in text(client.get("/ventures/mine"))


def test_forged_and_expired_confirmation_links_are_refused(app, db, smtp_server, monkeypatch):
    sign_up(app)
    path = link_in(smtp_server.messages[0], "/verify-email")
    client = browser(app)
    # Another signature (its first character changed: the last one's low bits are padding).
    head, _, signature = path.rpartition(".")
    forged = client.get(f"{head}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}")
    assert forged.status_code == 404 and "This confirmation link is not valid." in text(forged)
    other_purpose = client.get(f"/verify-email/{recovery.reset_token(factories.user(Role.ENTREPRENEUR))}")
    assert other_purpose.status_code == 404
    monkeypatch.setattr(verification, "VERIFY_MAX_AGE", timedelta(seconds=-1))
    expired = client.get(path)
    assert expired.status_code == 409 and "This confirmation link has expired" in text(expired)
    # Two accounts exist now: ask for the one that signed up (row order is not defined).
    assert db.session.scalar(select(User.email_verified_at).where(User.email == "ana.torres@example.mx")) is None


def test_the_link_can_be_sent_again_a_few_times_an_hour(app, db, smtp_server):
    user = factories.user(Role.ENTREPRENEUR, email_verified=False, language="en")
    db.session.commit()
    smtp_server.clear()
    client = browser(app, user)
    assert client.get("/account/verify").status_code == 200
    for _ in range(3):
        response = client.post("/account/verify")
        assert response.status_code == 302
    assert len(smtp_server.of_kind("email_verification")) == 3
    assert client.post("/account/verify").status_code == 429
    assert len(smtp_server.of_kind("email_verification")) == 3
    # Each mailed link works (they differ, and each confirms the same address).
    paths = {link_in(m, "/verify-email") for m in smtp_server.messages}
    assert len(paths) == 3
    assert client.get(paths.pop()).status_code == 200


def test_until_confirmed_no_applying_pledging_offers_or_tokens(app, db, client, smtp_server):
    entrepreneur = factories.user(Role.ENTREPRENEUR, email_verified=False)
    investor = factories.user(Role.INVESTOR, email_verified=False)
    organizer = factories.user(Role.ORGANIZER)
    venture = factories.venture(entrepreneur)
    event = factories.event()
    the_fund = fund.create_fund(organizer, fund.FundData(
        name="Fondo", target_cents=50_000_000_00, min_pledge_cents=100_000_00,
        commitment_deadline=event.starts_at.date() + timedelta(days=90), clabe="002010077777777771",
        cooling_off_days=7))
    session, _judges = factories.pitching_session(pitches=1, judges=1)
    from pitchtank.judging import rubrics, show

    rubrics.set_rubric(session, rubrics.default_rubric())
    show.control(session.id, "start", organizer)
    db.session.commit()

    # Services refuse, with the reason (in Spanish, the default language).
    refusal = "Primero confirma tu correo electrónico"
    with pytest.raises(PermissionDenied, match=refusal):
        events.apply(venture, event, entrepreneur)
    with pytest.raises(PermissionDenied, match=refusal):
        fund.pledge(the_fund.id, investor, 100_000_00)
    with pytest.raises(PermissionDenied, match=refusal):
        offers.make_offer(session.pitches[0].id, investor, amount_cents=1_000_00, equity_pct=Decimal("1"))
    with pytest.raises(PermissionDenied, match=refusal):
        services.issue_token(entrepreneur)
    db.session.rollback()

    # Pages and the API say so too.
    page = browser(app, entrepreneur).post(f"/events/{event.id}/apply", data={"venture_id": str(venture.id)})
    assert page.status_code == 403 and "Confirm your email address first" in text(page)
    pledge = browser(app, investor).post(f"/fund/{the_fund.id}/pledge",
                                         data={f"fund{the_fund.id}-amount": "100,000.00"})
    assert pledge.status_code == 403 and "Confirm your email address first" in text(pledge)
    token = client.post("/api/v1/tokens", json={"email": entrepreneur.email, "password": factories.PASSWORD},
                        headers={"Accept-Language": "en"})
    assert token.status_code == 403 and "Confirm your email address first" in token.get_json()["detail"]

    # Once confirmed, the same requests work.
    for user in (entrepreneur, investor):
        verification.confirm(verification.verification_token(user))
    db.session.commit()
    assert events.apply(venture, event, entrepreneur).id
    assert fund.pledge(the_fund.id, investor, 100_000_00).id
    assert client.post("/api/v1/tokens", json={"email": entrepreneur.email,
                                               "password": factories.PASSWORD}).status_code == 201


def test_forgotten_password_link_resets_once_ends_sessions_and_is_audited(app, db, smtp_server):
    user = factories.user(Role.ENTREPRENEUR, language="en")
    bearer = {"Authorization": f"Bearer {services.issue_token(user)}"}
    db.session.commit()
    other_browser = browser(app, user)
    assert other_browser.get("/account").status_code == 200
    assert app.test_client().get("/api/v1/me", headers=bearer).status_code == 200
    client = browser(app)
    assert client.get("/login").status_code == 200 and "/forgot-password" in text(client.get("/login"))
    response = client.post("/forgot-password", data={"email": user.email.upper()})
    assert response.status_code == 302
    asked = text(client.get(response.headers["Location"]))
    [message] = smtp_server.messages
    assert message["To"] == user.email and message["Subject"] == "Reset your PitchTank password"
    path = link_in(message, "/reset-password")

    form = client.get(path)
    assert form.status_code == 200 and "Choose a new password" in text(form)
    short = client.post(path, data={"password": "corta", "password_confirm": "corta"})
    assert short.status_code == 422
    mismatch = client.post(path, data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD + "x"})
    assert mismatch.status_code == 422 and "The passwords do not match." in text(mismatch)
    done = client.post(path, data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert done.status_code == 302 and done.headers["Location"].endswith("/login")

    db.session.expire_all()
    user = db.session.get(User, user.id)
    assert user.session_version == 2
    assert services.authenticate(user.email, NEW_PASSWORD) is not None
    assert services.authenticate(user.email, factories.PASSWORD) is None
    assert other_browser.get("/account").status_code == 302  # the other session ended
    assert app.test_client().get("/api/v1/me", headers=bearer).status_code == 401  # and every API token
    [entry] = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "password.reset")).all()
    assert entry.actor_id == user.id and entry.subject_id == user.id

    used = client.get(path)
    assert used.status_code == 409 and "already used" in text(used)
    again = client.post(path, data={"password": PASSWORD, "password_confirm": PASSWORD})
    assert again.status_code == 409
    assert services.authenticate(user.email, NEW_PASSWORD) is not None
    assert "If an account uses" in asked


def test_the_request_page_never_says_whether_the_address_has_an_account(app, db, smtp_server):
    user = factories.user(Role.ENTREPRENEUR)
    db.session.commit()
    client = browser(app)
    answers = []
    for email in (user.email, "nadie@example.mx"):
        response = client.post("/forgot-password", data={"email": email})
        page = text(client.get(response.headers["Location"]))
        answers.append((response.status_code, page.replace(email, "EMAIL")))
    assert answers[0] == answers[1]
    assert [m["To"] for m in smtp_server.messages] == [user.email]


def test_reset_links_point_to_the_public_address_whatever_the_host_header(app, db, smtp_server):
    user = factories.user(Role.ENTREPRENEUR)
    db.session.commit()
    client = browser(app)
    client.post("/forgot-password", data={"email": user.email}, headers={"Host": "evil.example"})
    [message] = smtp_server.messages
    assert "evil.example" not in message.as_string()
    assert "http://pitchtank.test/reset-password/" in message.get_body(("plain",)).get_content()


def test_expired_and_forged_reset_links_are_refused(app, db, smtp_server, monkeypatch):
    user = factories.user(Role.ENTREPRENEUR)
    db.session.commit()
    token = recovery.reset_token(user)
    client = browser(app)
    head, _, signature = token.rpartition(".")
    assert client.get(f"/reset-password/{head}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}").status_code == 404
    assert client.get(f"/reset-password/{verification.verification_token(user)}").status_code == 404
    monkeypatch.setattr(recovery, "RESET_MAX_AGE", timedelta(seconds=-1))
    expired = client.post(f"/reset-password/{token}", data={"password": NEW_PASSWORD,
                                                             "password_confirm": NEW_PASSWORD})
    assert expired.status_code == 409 and "expired" in text(expired)
    assert services.authenticate(user.email, factories.PASSWORD) is not None


def test_reset_requests_are_rate_limited_per_address(app, db, smtp_server):
    user = factories.user(Role.ENTREPRENEUR)
    db.session.commit()
    client = browser(app)
    for _ in range(5):
        assert client.post("/forgot-password", data={"email": user.email}).status_code == 302
    assert client.post("/forgot-password", data={"email": user.email}).status_code == 429
    assert len(smtp_server.messages) == 5
    # Another address is not held back by this one's limit.
    assert client.post("/forgot-password", data={"email": "otra@example.mx"}).status_code == 302
