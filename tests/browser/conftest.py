"""Real-browser fixtures: the app served over HTTP with CSRF on, and Debian's chromium driven by Playwright.

The live server runs its own app object (CSRF enabled, so the pages' X-CSRFToken handling is
exercised for real) on the same database as the ``app`` fixture: tests arrange and check data
through ``db``/``make`` and drive the browser against ``live_server``.

Debian's chromium is used, never Playwright's own browser download. Set ``PITCHTANK_CHROMIUM``
to use another binary. Screenshots go to ``test-artifacts/<test>/`` at key steps and on failure.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright
from werkzeug.serving import make_server

from config import TestingConfig
from pitchtank import create_app
from pitchtank.extensions import db as _db
from pitchtank.judging import results

CHROMIUM = os.environ.get("PITCHTANK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
# The machine may be busy: generous waits, but always on a condition, never a fixed sleep.
TIMEOUT_MS = 15_000
NAVIGATION_TIMEOUT_MS = 30_000
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

expect.set_options(timeout=TIMEOUT_MS)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, so fixtures can tell whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


# ---------- the server ----------

@pytest.fixture(scope="session")
def live_app(app, tmp_root):
    """A second app on the ``app`` fixture's database, with CSRF enforced as in production."""
    live = create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        DECK_STORAGE_DIR=str(tmp_root / "decks"),
        WTF_CSRF_ENABLED=True,
        STREAM_MAX_SECONDS=30,
    )
    yield live
    with live.app_context():
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture(scope="session")
def live_server(live_app) -> Iterator[str]:
    """The live app over real HTTP on a free port of 127.0.0.1; yields the base URL."""
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="browser-live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        live_app.extensions["live"].close()  # end the open event streams first
        server.shutdown()
        thread.join(timeout=30)
        server.server_close()


# ---------- the browser ----------

@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright) -> Iterator[Browser]:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: the browser tests need Debian's chromium "
            "(apt-get install chromium) or PITCHTANK_CHROMIUM pointing at a chromium binary. "
            "Playwright's own browser download is not used.",
            pytrace=False,
        )
    launched = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=60_000,
    )
    yield launched
    launched.close()


@pytest.fixture
def artifacts(request) -> Path:
    """This test's folder under test-artifacts/, emptied first."""
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    folder = ARTIFACTS / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def snap(artifacts) -> Callable[[Page, str], Path]:
    """``snap(page, "step")``: a numbered screenshot of a key step."""
    counter = iter(range(1, 1000))

    def take(page: Page, step: str) -> Path:
        slug = re.sub(r"[^\w.-]+", "_", step)
        path = artifacts / f"{next(counter):02d}-{slug}.png"
        # Finite animations (a row sliding to its new rank) are shown finished, not half-way.
        page.screenshot(path=str(path), full_page=True, animations="disabled")
        return path

    return take


@pytest.fixture
def new_context(browser, live_server, db, artifacts, request) -> Iterator[Callable[..., BrowserContext]]:
    """Open browser contexts on the live server; each is screenshotted on failure and closed.

    Depends on ``db`` so that every page is closed before the tables are emptied, and clears
    the process-wide standings cache, whose keys (session id, version) repeat across tests.
    """
    results.cache.clear()
    contexts: list[tuple[str, BrowserContext]] = []

    def open_context(label: str, **options) -> BrowserContext:
        context = browser.new_context(base_url=live_server, **options)
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
        contexts.append((label, context))
        return context

    yield open_context

    failed = any(getattr(request.node, f"rep_{when}", None) is not None
                 and getattr(request.node, f"rep_{when}").failed for when in ("setup", "call"))
    for label, context in contexts:
        if failed:
            for number, page in enumerate(context.pages, start=1):
                try:
                    page.screenshot(path=str(artifacts / f"FAILED-{label}-{number}.png"), full_page=True)
                except Exception as error:  # a crashed page must not hide the real failure
                    print(f"no failure screenshot of {label}: {error}")
        context.close()
    results.cache.clear()


def login(page: Page, email: str, password: str) -> None:
    """Log in through the real login form (its hidden CSRF token included)."""
    page.goto("/login")
    form = page.locator("form:has(input[name=password])")
    expect(form.locator("input[name=csrf_token]")).to_have_count(1)
    form.locator("input[name=email]").fill(email)
    form.locator("input[name=password]").fill(password)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    if re.search(r"/login(\?|$)", page.url):
        errors = page.locator(".errors, .form-alert").all_inner_texts()
        pytest.fail(f"login as {email} failed: still on {page.url}; errors: {errors}", pytrace=False)
