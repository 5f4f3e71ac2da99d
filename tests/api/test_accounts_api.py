"""API: bearer tokens (POST /tokens, DELETE /tokens/current) and GET /me."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

import pitchtank
from pitchtank.accounts.models import ApiToken, Role, hash_token
from pitchtank.core.types import utcnow
from pitchtank.extensions import limiter
from tests.factories import PASSWORD

PROBLEM_TYPE = "application/problem+json"
SPANISH_CATALOG = Path(pitchtank.__file__).parent / "translations" / "es_MX" / "LC_MESSAGES" / "messages.mo"


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_TYPE
    body = response.get_json()
    assert body["status"] == status
    assert isinstance(body["type"], str) and body["type"]
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def token_count(db) -> int:
    return db.session.scalar(select(func.count(ApiToken.id)))


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# --------------------------------------------------------------------------
# POST /tokens
# --------------------------------------------------------------------------


def test_token_for_right_credentials(client, make, db):
    org = make.organization("Softtek Bajío")
    user = make.user(Role.INVESTOR, organization_=org, name="Ana Inversora")
    db.session.commit()

    response = client.post("/api/v1/tokens", json={"email": user.email, "password": PASSWORD})

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"token", "user"}
    assert isinstance(body["token"], str) and len(body["token"]) >= 32
    assert body["user"] == {
        "id": user.id, "email": user.email, "name": "Ana Inversora", "roles": ["investor"],
        "organization": {"id": org.id, "name": "Softtek Bajío"},
    }
    stored = db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).all()
    assert len(stored) == 1
    # Only the hash is stored, and the token lives for a while but not forever.
    assert stored[0].token_hash == hash_token(body["token"]) != body["token"]
    assert stored[0].revoked_at is None
    assert utcnow() + timedelta(days=1) < stored[0].expires_at < utcnow() + timedelta(days=366)


def test_email_is_matched_case_blind(client, make, db):
    user = make.user(Role.JUDGE, email="jurado@example.mx")
    db.session.commit()
    response = client.post("/api/v1/tokens", json={"email": "  Jurado@Example.MX ", "password": PASSWORD})
    assert response.status_code == 201
    assert response.get_json()["user"]["id"] == user.id


@pytest.mark.parametrize("which", ["bad password", "unknown email"])
def test_bad_credentials_are_401_and_indistinguishable(client, make, db, which):
    user = make.user(Role.ENTREPRENEUR)
    db.session.commit()
    credentials = (
        {"email": user.email, "password": PASSWORD + "x"} if which == "bad password"
        else {"email": "nadie@example.mx", "password": PASSWORD}
    )

    response = client.post("/api/v1/tokens", json=credentials, headers={"Accept-Language": "en"})

    body = assert_problem(response, 401)
    assert body["detail"] == "The email or the password is not right."
    assert "errors" not in body
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert token_count(db) == 0


def test_inactive_user_gets_no_token(client, make, db):
    user = make.user(Role.ENTREPRENEUR)
    user.is_active_account = False
    db.session.commit()
    assert_problem(client.post("/api/v1/tokens", json={"email": user.email, "password": PASSWORD}), 401)
    assert token_count(db) == 0


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"email", "password"}),
        ({"email": "a@example.mx"}, {"password"}),
        ({"password": PASSWORD}, {"email"}),
        ({"email": 5, "password": PASSWORD}, {"email"}),
        ({"email": "a@example.mx", "password": ["x"]}, {"password"}),
        ({"email": None, "password": None}, {"email", "password"}),
        ({"email": "", "password": ""}, {"email", "password"}),
        ({"email": "a" * 10_000 + "@example.mx", "password": PASSWORD}, {"email"}),
        ({"email": "a@example.mx", "password": "p" * 10_000}, {"password"}),
        ({"email": "a@example.mx", "password": PASSWORD, "remember": True}, {"remember"}),
    ],
    ids=["empty", "no-password", "no-email", "email-int", "password-list", "nulls", "blank",
         "huge-email", "huge-password", "unknown-field"],
)
def test_invalid_token_requests_are_422_per_field(client, make, db, body, fields):
    make.user(Role.ENTREPRENEUR, email="a@example.mx")
    db.session.commit()
    response = client.post("/api/v1/tokens", json=body, headers={"Accept-Language": "en"})
    problem = assert_problem(response, 422)
    assert set(problem["errors"]) == fields
    assert all(messages and all(isinstance(m, str) and m for m in messages)
               for messages in problem["errors"].values())
    assert token_count(db) == 0


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("email=a%40example.mx&password=x", "application/x-www-form-urlencoded"),
        ('{"email": "a@example.mx", "password": ', "application/json"),
        ("[1, 2]", "application/json"),
        ('"a@example.mx"', "application/json"),
        ("42", "application/json"),
        ("", "application/json"),
        ("[" * 100_000 + "]" * 100_000, "application/json"),
        (json.dumps({"email": "a@example.mx", "password": "x" * 300_000}), "application/json"),
    ],
    ids=["form", "truncated-json", "array", "string", "number", "empty", "deep-nesting", "300kB"],
)
def test_bodies_that_are_not_a_json_object_are_422(client, db, data, content_type):
    response = client.post("/api/v1/tokens", data=data, content_type=content_type)
    problem = assert_problem(response, 422)
    # An empty body counts as {}: then the required fields are what is missing.
    assert problem["errors"]["body"] if data else {"email", "password"} <= set(problem["errors"])
    assert token_count(db) == 0


# --------------------------------------------------------------------------
# Using and revoking the token, /me
# --------------------------------------------------------------------------


def test_token_works_as_bearer_on_me(client, make, db):
    user = make.user(Role.ORGANIZER, name="Olga Organizadora")
    secret = make.enroll_two_factor(user)  # organizers get tokens only with a two-factor code
    db.session.commit()
    token = client.post("/api/v1/tokens", json={"email": user.email, "password": PASSWORD,
                                                "otp": make.totp_code(secret)}).get_json()["token"]

    response = client.get("/api/v1/me", headers=bearer(token))

    assert response.status_code == 200
    assert response.get_json() == {
        "id": user.id, "email": user.email, "name": "Olga Organizadora", "roles": ["organizer"],
        "organization": None,
    }


def test_me_with_a_login_session(client, login_as):
    user = login_as(Role.JUDGE)
    response = client.get("/api/v1/me")
    assert response.status_code == 200
    assert response.get_json()["id"] == user.id


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-real-token"}, {"Authorization": "Bearer "},
     {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "bearer"}],
    ids=["none", "unknown-token", "empty-bearer", "basic", "scheme-only"],
)
def test_me_without_valid_credentials_is_401(client, db, headers):
    response = client.get("/api/v1/me", headers=headers)
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_expired_token_is_refused(client, make, db, api_token):
    user = make.user(Role.ENTREPRENEUR)
    headers = api_token(user)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    record = db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).one()
    record.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert_problem(client.get("/api/v1/me", headers=headers), 401)


def test_delete_current_token_revokes_only_that_token(client, make, db, api_token):
    user = make.user(Role.ENTREPRENEUR)
    first, second = api_token(user), api_token(user)
    assert client.get("/api/v1/me", headers=first).status_code == 200

    response = client.delete("/api/v1/tokens/current", headers=first)

    assert response.status_code == 204
    assert response.get_data() == b""
    assert_problem(client.get("/api/v1/me", headers=first), 401)
    assert_problem(client.delete("/api/v1/tokens/current", headers=first), 401)
    assert client.get("/api/v1/me", headers=second).status_code == 200
    db.session.expire_all()
    tokens = db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).all()
    assert sorted(t.revoked_at is not None for t in tokens) == [False, True]


def test_delete_current_token_without_credentials_is_401(client, db):
    assert_problem(client.delete("/api/v1/tokens/current"), 401)


def test_delete_current_token_with_a_cookie_session_is_422(client, login_as, db):
    login_as(Role.ENTREPRENEUR)
    problem = assert_problem(client.delete("/api/v1/tokens/current"), 422)
    assert "Authorization" in problem["errors"]
    # the browser session is untouched
    assert client.get("/api/v1/me").status_code == 200


# --------------------------------------------------------------------------
# Rate limit
# --------------------------------------------------------------------------


@pytest.fixture
def login_limit_of_three(app):
    previous = app.config["LOGIN_RATE_LIMIT"]
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    limiter.reset()
    yield
    app.config["LOGIN_RATE_LIMIT"] = previous
    limiter.reset()


def test_token_requests_are_rate_limited_per_account(client, make, db, login_limit_of_three):
    user = make.user(Role.ENTREPRENEUR)
    bystander = make.user(Role.ENTREPRENEUR)
    db.session.commit()
    wrong = {"email": user.email, "password": "not the password"}
    for _ in range(3):
        assert_problem(client.post("/api/v1/tokens", json=wrong), 401)

    limited = client.post("/api/v1/tokens", json={"email": user.email, "password": PASSWORD},
                          headers={"Accept-Language": "en"})

    body = assert_problem(limited, 429)
    assert body["detail"] == "Too many attempts. Wait a moment and try again."
    assert token_count(db) == 0  # even the right password gets nothing while limited
    # Counted per account: someone else at the same address can still log in.
    other = client.post("/api/v1/tokens", json={"email": bystander.email, "password": PASSWORD})
    assert other.status_code == 201
    assert token_count(db) == 1


# --------------------------------------------------------------------------
# Language of the messages
# --------------------------------------------------------------------------

ENGLISH_MISSING = {
    "title": "Invalid data",
    "detail": "Some fields are not valid.",
    "errors": {"email": ["This field is required."], "password": ["This field is required."]},
}


def test_validation_errors_in_english_on_request(client, db):
    body = assert_problem(client.post("/api/v1/tokens", json={}, headers={"Accept-Language": "en"}), 422)
    assert {key: body[key] for key in ENGLISH_MISSING} == ENGLISH_MISSING


@pytest.mark.parametrize("accept_language", [None, "es-MX", "es", "de, fr;q=0.8"])
def test_validation_errors_in_spanish_by_default(client, db, accept_language):
    headers = {"Accept-Language": accept_language} if accept_language else {}
    body = assert_problem(client.post("/api/v1/tokens", json={}, headers=headers), 422)
    assert set(body["errors"]) == {"email", "password"}
    texts = [body["title"], body["detail"], *body["errors"]["email"], *body["errors"]["password"]]
    assert all(isinstance(text, str) and text.strip() for text in texts)
    if SPANISH_CATALOG.exists():
        assert body["title"] != ENGLISH_MISSING["title"]
        assert body["detail"] != ENGLISH_MISSING["detail"]
        assert body["errors"]["email"] != ENGLISH_MISSING["errors"]["email"]


def test_authentication_errors_follow_the_language(client, db):
    english = assert_problem(client.get("/api/v1/me", headers={"Accept-Language": "en"}), 401)
    spanish = assert_problem(client.get("/api/v1/me", headers={"Accept-Language": "es-MX"}), 401)
    assert english["title"] == "Authentication required"
    assert english["detail"] == "Please log in to continue."
    assert spanish["title"].strip() and spanish["detail"].strip()
    if SPANISH_CATALOG.exists():
        assert (spanish["title"], spanish["detail"]) != (english["title"], english["detail"])
