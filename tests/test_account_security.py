"""Accounts that stay safe: lock-out with back-off, password change, two-factor authentication.

Everything goes through the test client, as a browser or an API client would; messages are
checked in English (the msgids), after POST /language.
"""

from __future__ import annotations

import html
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from pitchtank.accounts import services as account_services
from pitchtank.accounts import two_factor
from pitchtank.accounts.models import ApiToken, LoginThrottle, RecoveryCode, Role, User
from pitchtank.audit.models import AuditEntry
from pitchtank.core.types import utcnow
from pitchtank.events.models import Event
from pitchtank.extensions import db, limiter
from tests import factories
from tests.factories import PASSWORD, enroll_two_factor, totp_code

WRONG = "not the password at all"
GENERIC = "The email or the password is not right."
LOCKED = "Too many failed attempts. For your safety, logging in with this email is paused"


def browser(app, user: User | None = None, *, verified: bool = True) -> FlaskClient:
    """A browser in English, logged in as ``user`` (its second factor verified unless told otherwise)."""
    client = app.test_client()
    if user is not None:
        with client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
            if verified:
                session["tfa_user_id"] = user.id
    assert client.post("/language", data={"lang": "en"}).status_code == 302
    return client


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def location(response) -> str:
    return response.headers.get("Location", "")


def login(client, email: str, password: str = PASSWORD):
    return client.post("/login", data={"email": email, "password": password})


def audit(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def throttle(email: str) -> LoginThrottle | None:
    from pitchtank.accounts.lockout import email_key

    db.session.expire_all()
    return db.session.scalar(select(LoginThrottle).where(LoginThrottle.email_key == email_key(email)))


def end_lock(email: str) -> None:
    """As if the lock had run out."""
    from pitchtank.accounts.lockout import email_key

    db.session.execute(update(LoginThrottle).where(LoginThrottle.email_key == email_key(email))
                       .values(locked_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()


def logged_in(client) -> bool:
    return client.get("/account").status_code == 200


def secret_being_enrolled(client) -> str:
    with client.session_transaction() as session:
        return session[two_factor.ENROLL_KEY]


def token_count(user: User, live_only: bool = True) -> int:
    statement = select(func.count(ApiToken.id)).where(ApiToken.user_id == user.id)
    if live_only:
        statement = statement.where(ApiToken.revoked_at.is_(None))
    return db.session.scalar(statement)


@pytest.fixture
def person(make):
    user = make.user(Role.ENTREPRENEUR, email="persona@example.mx")
    db.session.commit()
    return user


# --------------------------------------------------------------------------
# Lock-out with back-off
# --------------------------------------------------------------------------


def test_five_failed_logins_lock_the_account_even_for_the_right_password(app, person):
    client = browser(app)
    for _ in range(4):
        response = login(client, person.email, WRONG)
        assert response.status_code == 422 and GENERIC in text(response)
    locking = login(client, person.email, WRONG)
    assert locking.status_code == 429
    assert LOCKED in text(locking) and "try again in 1 minute" in text(locking)

    refused = login(client, "PERSONA@example.mx", PASSWORD)  # the right password, any spelling of the email
    assert refused.status_code == 429 and LOCKED in text(refused)
    assert not logged_in(client)
    (entry,) = audit("account.locked")
    assert entry.subject_type == "user" and entry.subject_id == person.id
    assert entry.details["seconds"] == 60 and entry.details["known_account"] is True

    end_lock(person.email)
    assert login(client, person.email, PASSWORD).status_code == 302
    assert logged_in(client)
    assert throttle(person.email) is None  # a success forgets the failures and the locks


def test_an_unknown_email_gets_exactly_the_same_answers(app, person):
    known, unknown = browser(app), browser(app)
    for attempt in range(6):
        a = login(known, person.email, WRONG)
        b = login(unknown, "nadie@example.mx", WRONG)
        assert a.status_code == b.status_code == (422 if attempt < 4 else 429)
        strip = re.compile(r'name="email"[^>]*>|<meta name="csrf-token"[^>]*>|name="csrf_token"[^>]*>')
        assert strip.sub("", text(a)).replace(person.email, "X") == strip.sub("", text(b)).replace("nadie@example.mx", "X")
    entries = audit("account.locked")
    assert [(e.subject_id, e.details["known_account"]) for e in entries] == [(person.id, True), (None, False)]
    assert entries[1].details["email"] == "nadie@example.mx"


def test_each_further_lock_doubles_up_to_the_cap_and_a_success_starts_afresh(app, person):
    client = browser(app)
    for expected_seconds in (60, 120, 240):
        for _ in range(5):
            login(client, person.email, WRONG)
        row = throttle(person.email)
        assert row.locked_until is not None
        assert abs((row.locked_until - utcnow()).total_seconds() - expected_seconds) < 5
        end_lock(person.email)
    db.session.execute(update(LoginThrottle).values(lock_count=40))
    db.session.commit()
    for _ in range(5):
        login(client, person.email, WRONG)
    assert audit("account.locked")[-1].details["seconds"] == app.config["LOGIN_LOCKOUT_MAX_SECONDS"]
    end_lock(person.email)

    # Four misses, a success, four misses: never five in a row, so no lock.
    for _ in range(4):
        login(client, person.email, WRONG)
    assert login(browser(app), person.email, PASSWORD).status_code == 302
    for _ in range(4):
        assert login(client, person.email, WRONG).status_code == 422
    assert throttle(person.email).lock_count == 0


def test_failures_a_day_old_are_forgotten(app, person):
    client = browser(app)
    for _ in range(4):
        login(client, person.email, WRONG)
    db.session.execute(update(LoginThrottle).values(last_failure_at=utcnow() - timedelta(days=2)))
    db.session.commit()
    assert login(client, person.email, WRONG).status_code == 422  # the count restarted at one
    assert throttle(person.email).failures == 1


def test_the_api_and_the_login_page_share_the_lock(app, client, person):
    wrong = {"email": person.email, "password": WRONG}
    headers = {"Accept-Language": "en"}
    for _ in range(4):
        assert client.post("/api/v1/tokens", json=wrong, headers=headers).status_code == 401
    locked = client.post("/api/v1/tokens", json=wrong, headers=headers)
    assert locked.status_code == 429 and locked.mimetype == "application/problem+json"
    assert locked.get_json()["detail"].startswith(LOCKED)
    assert 55 <= int(locked.headers["Retry-After"]) <= 60
    right = client.post("/api/v1/tokens", json={"email": person.email, "password": PASSWORD}, headers=headers)
    assert right.status_code == 429 and token_count(person) == 0
    assert login(browser(app), person.email, PASSWORD).status_code == 429
    # Someone else is not affected.
    other = factories.user(Role.ENTREPRENEUR)
    db.session.commit()
    assert client.post("/api/v1/tokens", json={"email": other.email, "password": PASSWORD}).status_code == 201


# --------------------------------------------------------------------------
# Password change
# --------------------------------------------------------------------------


def change(client, current: str, new: str, confirm: str | None = None):
    return client.post("/account/password", data={
        "pw-current_password": current, "pw-new_password": new,
        "pw-new_password_confirm": new if confirm is None else confirm})


def test_a_password_change_asks_for_the_new_one_twice_and_the_current_one(app, person):
    here = browser(app, person)
    page = here.get("/account")
    assert 'name="pw-new_password_confirm"' in text(page)
    mismatch = change(here, PASSWORD, "otra clave bastante larga", "otra clave distinta!!")
    assert mismatch.status_code == 422 and "The passwords do not match." in text(mismatch)
    wrong = change(here, WRONG, "otra clave bastante larga")
    assert wrong.status_code == 422 and "The current password is not right." in text(wrong)
    short = change(here, PASSWORD, "corta")
    assert short.status_code == 422
    same = change(here, PASSWORD, PASSWORD)
    assert same.status_code == 422 and "Choose a password different from the current one." in text(same)
    db.session.refresh(person)
    assert person.session_version == 1


def test_a_password_change_ends_every_other_session_and_api_token_but_not_this_one(app, make):
    organizer = make.user(Role.ORGANIZER)
    db.session.commit()
    here, elsewhere = browser(app, organizer), browser(app, organizer)
    tokens = [account_services.issue_token(organizer) for _ in range(2)]
    db.session.commit()
    assert app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {tokens[0]}"}).status_code == 200

    response = change(here, PASSWORD, "otra clave bastante larga")
    assert response.status_code == 302 and location(response).endswith("/account")
    assert "Your other sessions and API tokens were ended." in text(here.get("/account"))
    # This browser stays in, its second factor still verified: organizer pages open.
    assert here.get("/events/new").status_code == 200
    assert elsewhere.get("/account").status_code == 302
    for token in tokens:
        assert app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert token_count(organizer) == 0
    assert login(browser(app), organizer.email, PASSWORD).status_code == 422
    assert login(browser(app), organizer.email, "otra clave bastante larga").status_code == 302


# --------------------------------------------------------------------------
# Two-factor authentication: enrolment
# --------------------------------------------------------------------------


def test_enrolment_shows_a_qr_code_and_turns_on_only_with_a_right_code(app, person):
    client = browser(app, person)
    page = client.get("/account/two-factor/setup")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert re.search(r'<img[^>]+src="data:image/svg\+xml', text(page))
    secret = secret_being_enrolled(client)
    assert " ".join(secret[i:i + 4] for i in range(0, 32, 4)) in text(page)  # the key to type by hand
    assert client.get("/account/two-factor/setup").status_code == 200
    assert secret_being_enrolled(client) == secret  # reloading keeps the same key

    wrong = client.post("/account/two-factor/setup", data={"code": "000000"})
    assert wrong.status_code == 422 and "The code is not right." in text(wrong)
    assert client.post("/account/two-factor/setup", data={"code": "12ab"}).status_code == 422
    db.session.refresh(person)
    assert not person.two_factor_enabled and audit("two_factor.enabled") == []

    done = client.post("/account/two-factor/setup", data={"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200 and done.headers["Cache-Control"] == "no-store"
    codes = re.findall(r"<code>([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})</code>", text(done))
    assert len(codes) == 10 and len(set(codes)) == 10
    db.session.refresh(person)
    assert person.two_factor_enabled and person.totp_secret == secret
    stored = db.session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == person.id)).all()
    assert len(stored) == 10 and not set(stored) & {c.replace("-", "") for c in codes}  # only hashes
    assert [e.subject_id for e in audit("two_factor.enabled")] == [person.id]
    overview = client.get("/account/two-factor")
    assert "Recovery codes left" in text(overview) and ">10<" in text(overview)
    again = client.get("/account/two-factor/setup")
    assert again.status_code == 302 and "Two-factor authentication is already on" in text(client.get("/account"))


def test_two_factor_is_optional_for_people_who_are_not_organizers(app, make):
    for role in (Role.ENTREPRENEUR, Role.JUDGE, Role.INVESTOR):
        user = make.user(role, language="en")
        db.session.commit()
        client = browser(app)
        assert login(client, user.email).status_code == 302
        assert client.get("/dashboard").status_code == 200
        assert "Off. Turn it on" in text(client.get("/account"))


# --------------------------------------------------------------------------
# Two-factor authentication: logging in
# --------------------------------------------------------------------------


@pytest.fixture
def enrolled(make):
    user = make.user(Role.ENTREPRENEUR, email="doble@example.mx")
    secret = enroll_two_factor(user)
    db.session.commit()
    return user, secret


def test_the_login_asks_for_the_code_before_the_session_starts(app, enrolled):
    user, secret = enrolled
    client = browser(app)
    response = login(client, user.email)
    assert response.status_code == 302 and urlsplit(location(response)).path == "/login/two-factor"
    assert not logged_in(client)  # the password alone opened nothing
    page = client.get("/login/two-factor")
    assert page.status_code == 200 and 'autocomplete="one-time-code"' in text(page)

    wrong = client.post("/login/two-factor", data={"code": "000000"})
    assert wrong.status_code == 422 and "The code is not right." in text(wrong)
    assert not logged_in(client)
    right = client.post("/login/two-factor", data={"code": totp_code(secret)})
    assert right.status_code == 302 and location(right).endswith("/dashboard")
    assert logged_in(client)

    # The same code, within its time step, does not open a second login.
    other = browser(app)
    login(other, user.email)
    replay = other.post("/login/two-factor", data={"code": totp_code(secret)})
    assert replay.status_code == 422 and "This code was already used." in text(replay)
    assert not logged_in(other)
    fresh = other.post("/login/two-factor", data={"code": totp_code(secret, steps_ahead=1)})
    assert fresh.status_code == 302 and logged_in(other)


def test_the_login_keeps_its_next_page_through_the_second_step(app, enrolled):
    user, secret = enrolled
    client = browser(app)
    response = client.post("/login?next=/ventures/mine", data={"email": user.email, "password": PASSWORD})
    assert urlsplit(location(response)).path == "/login/two-factor"
    done = client.post("/login/two-factor", data={"code": totp_code(secret)})
    assert location(done).endswith("/ventures/mine")


def test_a_recovery_code_logs_in_once(app, make):
    user = make.user(Role.ENTREPRENEUR)
    secret = two_factor.new_secret()
    codes = two_factor.enable(user, secret, pyotp.TOTP(secret).now())
    db.session.commit()

    client = browser(app)
    login(client, user.email)
    used = client.post("/login/two-factor", data={"code": codes[3].lower().replace("-", " ")})
    assert used.status_code == 302 and logged_in(client)
    (entry,) = audit("two_factor.recovery_code_used")
    assert entry.subject_id == user.id and entry.details["codes_left"] == 9

    other = browser(app)
    login(other, user.email)
    again = other.post("/login/two-factor", data={"code": codes[3]})
    assert again.status_code == 422 and not logged_in(other)
    assert len(audit("two_factor.recovery_code_used")) == 1


def test_wrong_codes_count_toward_the_lock_out(app, enrolled):
    user, secret = enrolled
    client = browser(app)
    login(client, user.email)
    for _ in range(4):
        assert client.post("/login/two-factor", data={"code": "000000"}).status_code == 422
    locked = client.post("/login/two-factor", data={"code": "000000"})
    assert locked.status_code == 429 and LOCKED in text(locked)
    assert audit("account.locked")[0].subject_id == user.id
    # The waiting login is dropped, and the password is refused too while locked.
    assert urlsplit(location(client.get("/login/two-factor"))).path == "/login"
    assert login(client, user.email).status_code == 429
    assert not logged_in(client)


def test_the_second_step_is_rate_limited(app, enrolled):
    user, _secret = enrolled
    previous = app.config["LOGIN_RATE_LIMIT"]
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    limiter.reset()
    try:
        client = browser(app)
        login(client, user.email)
        statuses = [client.post("/login/two-factor", data={"code": "000000"}).status_code for _ in range(4)]
        assert statuses == [422, 422, 422, 429]
    finally:
        app.config["LOGIN_RATE_LIMIT"] = previous
        limiter.reset()


def test_a_waiting_login_expires(app, enrolled):
    user, secret = enrolled
    client = browser(app)
    login(client, user.email)
    with client.session_transaction() as session:
        pending = dict(session[two_factor.PENDING_KEY])
        pending["started"] -= two_factor.PENDING_SECONDS + 1
        session[two_factor.PENDING_KEY] = pending
    response = client.post("/login/two-factor", data={"code": totp_code(secret)})
    assert response.status_code == 302 and urlsplit(location(response)).path == "/login"
    assert not logged_in(client)


def test_turning_two_factor_on_elsewhere_asks_older_sessions_for_a_code(app, make):
    user = make.user(Role.ENTREPRENEUR)
    db.session.commit()
    older = browser(app, user, verified=False)
    assert older.get("/dashboard").status_code == 200
    secret = enroll_two_factor(user)
    db.session.commit()
    response = older.get("/ventures/mine")
    assert response.status_code == 302
    assert urlsplit(location(response)).path == "/login/two-factor"
    assert parse_qs(urlsplit(location(response)).query)["next"] == ["/ventures/mine"]
    done = older.post(location(response), data={"code": totp_code(secret)})
    assert location(done).endswith("/ventures/mine")
    assert older.get("/ventures/mine").status_code == 200


# --------------------------------------------------------------------------
# Two-factor authentication: turning it off, new recovery codes
# --------------------------------------------------------------------------


def test_turning_off_needs_a_code_and_revokes_api_tokens(app, enrolled):
    user, secret = enrolled
    token = {"Authorization": f"Bearer {account_services.issue_token(user)}"}
    db.session.commit()
    assert app.test_client().get("/api/v1/me", headers=token).status_code == 200
    client, elsewhere = browser(app, user), browser(app, user)
    wrong = client.post("/account/two-factor/disable", data={"off-code": "000000"})
    assert wrong.status_code == 422 and "The code is not right." in text(wrong)
    db.session.refresh(user)
    assert user.two_factor_enabled and token_count(user) == 1

    done = client.post("/account/two-factor/disable", data={"off-code": totp_code(secret)})
    assert done.status_code == 302
    db.session.refresh(user)
    assert not user.two_factor_enabled and user.totp_secret is None
    assert db.session.scalar(select(func.count(RecoveryCode.id)).where(RecoveryCode.user_id == user.id)) == 0
    assert token_count(user) == 0
    assert app.test_client().get("/api/v1/me", headers=token).status_code == 401
    assert logged_in(client) and not logged_in(elsewhere)  # other browsers are logged out
    assert audit("two_factor.disabled")[0].details["method"] == "totp"
    # Logging in asks for the password only again.
    assert login(browser(app), user.email).status_code == 302
    assert client.post("/account/two-factor/disable", data={"off-code": "000000"}).status_code == 302


def test_new_recovery_codes_need_a_code_and_replace_the_old_ones(app, make):
    user = make.user(Role.ENTREPRENEUR)
    secret = two_factor.new_secret()
    old_codes = two_factor.enable(user, secret, pyotp.TOTP(secret).now())
    user.totp_last_step = None
    db.session.commit()
    client = browser(app, user)
    refused = client.post("/account/two-factor/recovery-codes", data={"new-code": "000000"})
    assert refused.status_code == 422
    made = client.post("/account/two-factor/recovery-codes", data={"new-code": old_codes[0]})
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    new_codes = re.findall(r"<code>([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})</code>", text(made))
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    assert len(audit("two_factor.recovery_codes_regenerated")) == 1

    other = browser(app)
    login(other, user.email)
    assert other.post("/login/two-factor", data={"code": old_codes[1]}).status_code == 422
    assert other.post("/login/two-factor", data={"code": new_codes[1]}).status_code == 302


# --------------------------------------------------------------------------
# Two-factor authentication: required for organizers
# --------------------------------------------------------------------------


def organizer_pages(app, world) -> list[tuple[str, str]]:
    """(method, path) of every organizer-only row of the authorization table."""
    from tests.test_authorization import ACCESS, ALLOW, FORBIDDEN

    pages = []
    for row in ACCESS:
        if row.access["organizer"] == ALLOW and row.access["entrepreneur"] == FORBIDDEN \
                and row.access["investor"] == FORBIDDEN:
            pages.append((row.method, app.url_map.bind("pitchtank.test").build(row.endpoint, row.params(world))))
    return pages


def test_an_organizer_without_two_factor_is_sent_to_enrolment_from_every_organizer_page(app, make):
    from tests.test_authorization import build_world

    world = build_world()
    organizer = make.user(Role.ORGANIZER)
    db.session.commit()
    client = browser(app, organizer, verified=False)
    pages = organizer_pages(app, world)
    assert len(pages) > 40
    for method, path in pages:
        response = client.open(path, method=method, data={})
        target = urlsplit(location(response))
        assert response.status_code == 302 and target.path == "/account/two-factor/setup", (method, path)
        if method == "GET":
            assert parse_qs(target.query)["next"] == [path]
    assert client.post("/events/new", data={"name": "Nunca"}).status_code == 302
    assert db.session.scalar(select(func.count(Event.id)).where(Event.name == "Nunca")) == 0
    # With the session cookie, the API refuses too, with a problem saying what to do.
    problem = client.post("/api/v1/events", json={}, headers={"Accept-Language": "en"})
    assert problem.status_code == 403 and "two-factor" in problem.get_json()["detail"]
    # The account, logging out and the enrolment page itself stay reachable.
    assert client.get("/account/two-factor/setup").status_code == 200

    secret = secret_being_enrolled(client)
    enrolled = client.post("/account/two-factor/setup?next=/events/new", data={"code": pyotp.TOTP(secret).now()})
    assert enrolled.status_code == 200 and 'href="/events/new"' in text(enrolled)
    assert client.get("/events/new").status_code == 200


def test_an_organizer_logs_in_with_the_password_then_must_enrol(app, make):
    organizer = make.user(Role.ORGANIZER, language="en")
    db.session.commit()
    client = browser(app)
    response = login(client, organizer.email)
    assert response.status_code == 302
    sent = client.get("/dashboard")
    assert urlsplit(location(sent)).path == "/account/two-factor/setup"
    page = client.get("/account/two-factor/setup")
    assert "Organizers move money and publish results" in text(page)
    (entry,) = audit("account.login")
    assert entry.subject_id == organizer.id and entry.details == {"channel": "page", "second_factor": "none"}


def test_an_enrolled_organizer_logs_in_with_a_code_and_it_is_audited(app, make):
    organizer = make.user(Role.ORGANIZER)
    secret = enroll_two_factor(organizer)
    db.session.commit()
    client = browser(app)
    login(client, organizer.email)
    assert client.post("/login/two-factor", data={"code": totp_code(secret)}).status_code == 302
    assert client.get("/events/new").status_code == 200
    (entry,) = audit("account.login")
    assert entry.actor_id == organizer.id and entry.details == {"channel": "page", "second_factor": "totp"}
    # People who are not organizers are not logged in the audit.
    person = make.user(Role.ENTREPRENEUR)
    db.session.commit()
    login(browser(app), person.email)
    assert len(audit("account.login")) == 1


def test_an_organizer_who_turns_two_factor_off_must_set_it_up_again(app, make):
    organizer = make.user(Role.ORGANIZER)
    secret = enroll_two_factor(organizer)
    db.session.commit()
    client = browser(app, organizer)
    assert client.get("/events/new").status_code == 200
    client.post("/account/two-factor/disable", data={"off-code": totp_code(secret)})
    response = client.get("/events/new")
    assert response.status_code == 302 and urlsplit(location(response)).path == "/account/two-factor/setup"


def test_organizer_api_tokens_need_two_factor(app, client, make):
    organizer = make.user(Role.ORGANIZER)
    db.session.commit()
    headers = {"Accept-Language": "en"}
    credentials = {"email": organizer.email, "password": PASSWORD}
    refused = client.post("/api/v1/tokens", json=credentials, headers=headers)
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"
    assert "set it up under My account" in refused.get_json()["detail"]
    assert token_count(organizer, live_only=False) == 0

    secret = enroll_two_factor(organizer)
    db.session.commit()
    missing = client.post("/api/v1/tokens", json=credentials, headers=headers)
    assert missing.status_code == 401 and "otp" in missing.get_json()["errors"]
    assert "two-factor authentication" in missing.get_json()["detail"]
    wrong = client.post("/api/v1/tokens", json={**credentials, "otp": "000000"}, headers=headers)
    assert wrong.status_code == 401 and wrong.get_json()["detail"] == "The two-factor code is not right."
    right = client.post("/api/v1/tokens", json={**credentials, "otp": totp_code(secret)}, headers=headers)
    assert right.status_code == 201
    replay = client.post("/api/v1/tokens", json={**credentials, "otp": totp_code(secret)}, headers=headers)
    assert replay.status_code == 401 and "already used" in replay.get_json()["errors"]["otp"][0]
    assert token_count(organizer) == 1
    token = right.get_json()["token"]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    entries = audit("account.login")
    assert [e.details for e in entries] == [{"channel": "api", "second_factor": "totp"}]
    # A wrong password is answered as before, without saying that a code would be needed.
    bad = client.post("/api/v1/tokens", json={"email": organizer.email, "password": WRONG}, headers=headers)
    assert bad.status_code == 401 and "errors" not in bad.get_json()


def test_api_codes_count_toward_the_lock_out(app, client, enrolled):
    user, _secret = enrolled
    body = {"email": user.email, "password": PASSWORD, "otp": "000000"}
    for _ in range(4):
        assert client.post("/api/v1/tokens", json=body).status_code == 401
    assert client.post("/api/v1/tokens", json=body).status_code == 429


def test_becoming_an_organizer_revokes_older_api_tokens(app, make):
    boss = make.user(Role.ORGANIZER)
    user = make.user(Role.JUDGE)
    account_services.issue_token(user)
    db.session.commit()
    account_services.set_roles(user, [Role.JUDGE], actor=boss)
    assert token_count(user) == 1  # no new organizer role: tokens stay
    account_services.set_roles(user, [Role.JUDGE, Role.ORGANIZER], actor=boss)
    db.session.commit()
    assert token_count(user) == 0


def test_the_api_token_fixture_still_serves_organizers(client, api_token):
    headers = api_token(Role.ORGANIZER)
    assert client.get("/api/v1/me", headers=headers).status_code == 200


# --------------------------------------------------------------------------
# Many workers at once
# --------------------------------------------------------------------------


@pytest.mark.skipif(not (os.environ.get("DATABASE_URL") or "").startswith("postgres"),
                    reason="needs PostgreSQL: SQLite serialises every writer, so there is no race to test")
def test_failures_arriving_at_once_are_all_counted_and_lock_once(app, person):
    count, email = 12, person.email
    barrier = threading.Barrier(count)

    def one(_i: int) -> int:
        client = app.test_client()
        barrier.wait(timeout=120)
        return client.post("/api/v1/tokens", json={"email": email, "password": WRONG}).status_code

    with ThreadPoolExecutor(max_workers=count) as pool:
        statuses = list(pool.map(one, range(count)))
    assert set(statuses) <= {401, 429} and 429 in statuses
    entries = audit("account.locked")
    assert len(entries) == 1
    row = throttle(person.email)
    assert row.lock_count == 1 and row.locked_until > utcnow()
    # No failure lost: the fifth counted one locked (its answer is a 429), the other counted ones
    # answered 401 and those after the lock count towards the next; the rest were refused unread.
    counted = statuses.count(401) + 1
    assert row.failures == counted - 5
