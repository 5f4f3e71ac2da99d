"""Two app servers that keep logins cached for a minute (AUTH_CACHE_SECONDS=60): a token
revoked, a password changed or an account deleted on one server is refused by the other at
once, because the change is announced through Redis, not because the cached copy expired.
The servers share a Redis of their own: other test runs on the shared one announce changes to
their users 1, 2, 3 ... on the same channel, which would empty these servers' caches too."""

from __future__ import annotations

import shutil
import time

import pytest
import requests

from tests.live.conftest import REDIS_SERVER_FALLBACK, RedisServer
from tests.multiserver.conftest import Browser, bearer, wait_until

CACHE_SECONDS = "60"
AT_ONCE = 1.0  # seconds; the cache would keep the old answer for 60


@pytest.fixture(scope="module")
def private_redis(service_urls):
    server = RedisServer(shutil.which("redis-server") or REDIS_SERVER_FALLBACK)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def pair(start_servers, private_redis):
    env = {"AUTH_CACHE_SECONDS": CACHE_SECONDS}
    return start_servers({"name": "auth-a", "env": env, "redis_url": private_redis.url},
                         {"name": "auth-b", "env": env, "redis_url": private_redis.url})


def token_for(server, person, password) -> str:
    answer = requests.post(server.url + "/api/v1/tokens", json={"email": person["email"], "password": password},
                           timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()["token"]


def me(server, headers=None, browser: Browser | None = None) -> int:
    if browser is not None:
        return browser.request("GET", server.url + "/api/v1/me").status_code
    return requests.get(server.url + "/api/v1/me", headers=headers, timeout=10).status_code


def cache_on(server, *headers) -> None:
    """Have ``server`` cache these logins: its first login lookup starts its Redis listener,
    and it caches only once that is subscribed."""
    for each in headers:
        assert me(server, each) == 200
    time.sleep(0.5)
    for each in headers:
        assert me(server, each) == 200


def refused_within(check, seconds: float) -> float:
    """Seconds until ``check()`` answers 401 (polling); fails if it takes ``seconds`` or more."""
    started = time.monotonic()
    assert wait_until(lambda: check() == 401, seconds, interval=0.01), f"still accepted after {seconds} s"
    return time.monotonic() - started


def log_in(server, person, password) -> Browser:
    browser = Browser()
    token = browser.csrf_token(server.url)
    answer = browser.request("POST", server.url + "/login",
                             data={"email": person["email"], "password": password, "csrf_token": token})
    assert answer.status_code == 302, answer.text[:500]
    return browser


def test_a_token_revoked_on_one_server_is_refused_by_the_other_at_once(pair, services):
    server_a, server_b = pair
    seed = services.seed
    revoked = bearer(token_for(server_a, seed["accounts"][4], seed["password"]))
    control = bearer(token_for(server_a, seed["accounts"][5], seed["password"]))
    cache_on(server_b, revoked, control)

    # B really keeps logins for its minute: a revocation nobody announces (plain SQL) goes unseen.
    services.sql("UPDATE api_tokens SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL RETURNING id",
                 (seed["accounts"][5]["id"],))
    assert me(server_b, control) == 200

    assert requests.delete(server_a.url + "/api/v1/tokens/current", headers=revoked, timeout=10).status_code == 204
    took = refused_within(lambda: me(server_b, revoked), AT_ONCE)
    assert took < AT_ONCE
    assert me(server_a, revoked) == 401


def test_a_password_changed_on_one_server_ends_sessions_and_tokens_on_the_other(pair, services):
    server_a, server_b = pair
    seed = services.seed
    person = seed["accounts"][6]
    token = bearer(token_for(server_a, person, seed["password"]))
    browser = log_in(server_b, person, seed["password"])
    other_browser = Browser()  # the same login session, kept by a second device
    other_browser.cookies = dict(browser.cookies)
    cache_on(server_b, token)
    assert me(server_b, browser=other_browser) == 200

    csrf = browser.csrf_token(server_a.url)
    new_password = "another passphrase for the cache test 8341"  # noqa: S105  # nosec B105 # a test value
    changed = browser.request("POST", server_a.url + "/account/password", data={
        "pw-current_password": seed["password"], "pw-new_password": new_password,
        "pw-new_password_confirm": new_password, "csrf_token": csrf})
    assert changed.status_code == 302, changed.text[:500]

    assert refused_within(lambda: me(server_b, token), AT_ONCE) < AT_ONCE
    assert refused_within(lambda: me(server_b, browser=other_browser), AT_ONCE) < AT_ONCE
    assert me(server_b, browser=browser) == 200  # the browser that changed it stays logged in


def test_an_account_deleted_on_one_server_is_refused_by_the_other_at_once(pair, services):
    server_a, server_b = pair
    seed = services.seed
    person = seed["accounts"][7]
    token = bearer(token_for(server_a, person, seed["password"]))
    browser = log_in(server_a, person, seed["password"])
    cache_on(server_b, token)

    csrf = browser.csrf_token(server_a.url)
    deleted = browser.request("POST", server_a.url + "/account/delete",
                              data={"password": seed["password"], "csrf_token": csrf})
    assert deleted.status_code == 302, deleted.text[:500]
    assert refused_within(lambda: me(server_b, token), AT_ONCE) < AT_ONCE
