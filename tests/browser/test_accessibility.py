"""Accessibility of the main pages, checked with axe-core in the real browser.

Each page is loaded in Debian's chromium at phone, tablet (landscape and portrait) and
projector sizes, axe-core (from the npm registry, pinned in ``tests/browser/axe/``, installed
by ``make axe``) is injected and run, and the test fails on any violation of impact
"serious" or "critical". Lesser violations are printed and written to the report beside the
screenshots, one full-page screenshot per page and size, under
``test-artifacts/accessibility/``.

axe is injected into the page by Playwright; the browser contexts of this test (only) bypass
the app's Content-Security-Policy, which rightly forbids scripts the app did not ship.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from pitchtank.accounts.models import Role
from pitchtank.events import services as events
from pitchtank.fund import services as fund
from pitchtank.judging import rubrics, show
from tests.browser.conftest import ARTIFACTS, login

AXE_JS = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
REPORTS = ARTIFACTS / "accessibility"
PASSWORD = "accessible pass 1"
BLOCKING = ("serious", "critical")

SIZES: dict[str, dict] = {
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
              "device_scale_factor": 2},
    "tablet": {"viewport": {"width": 1024, "height": 768}, "has_touch": True},
    "tablet-portrait": {"viewport": {"width": 820, "height": 1180}, "is_mobile": True, "has_touch": True},
    "projector": {"viewport": {"width": 1920, "height": 1080}},
}
# The checks axe makes against WCAG 2.2 A and AA, plus its best practices (landmarks, headings).
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa",
                                                     "best-practice"]}}


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE_JS.is_file():
        pytest.fail(f"axe-core is not installed at {AXE_JS}: run `make axe` (npm ci in tests/browser/axe).",
                    pytrace=False)
    return AXE_JS.read_text(encoding="utf-8")


@dataclass
class Scene:
    """Who looks at which page, and what must be on it before axe runs."""

    path: str
    email: str | None = None
    ready: str = "main"  # a selector that is visible once the page (and its script) is ready


@pytest.fixture
def show_world(make, db):
    """An event open for applications, a live session with scoring open, a fund with a company's pledge."""
    organizer = make.user(Role.ORGANIZER)
    event = make.event()
    session = make.session(event)
    submissions = [make.submission(event_=event, accepted=True) for _ in range(3)]
    events.set_running_order(session, [s.id for s in submissions])
    judge = make.user(Role.JUDGE, password=PASSWORD, name="Jueza Ana")
    events.set_judges(session, [judge.id])
    rubrics.set_rubric(session, rubrics.default_rubric())
    entrepreneur = make.user(Role.ENTREPRENEUR, password=PASSWORD)
    make.venture(entrepreneur, name="Agua Clara")
    investor = make.user(Role.INVESTOR, password=PASSWORD)
    money = fund.create_fund(organizer, fund.FundData(
        name="Fondo Bajío", target_cents=10_000_000_00, min_pledge_cents=100_000_00,
        commitment_deadline=date.today() + timedelta(days=90), clabe="002180700123456788"))
    fund.pledge(money.id, investor, 1_000_000_00)
    fund.issue_capital_call(money.id, organizer, percent=Decimal("25"), due_date=date.today() + timedelta(days=30))
    db.session.commit()
    for action in ("start", "open_scoring"):
        show.control(session.id, action, organizer)
    db.session.commit()
    return {"session": session, "judge": judge, "entrepreneur": entrepreneur, "investor": investor}


def _scenes(world) -> dict[str, Scene]:
    session = world["session"]
    return {
        "home": Scene("/"),
        "login": Scene("/login"),
        "venture-form": Scene("/ventures/new", world["entrepreneur"].email, "form"),
        "judge-tablet": Scene(f"/sessions/{session.id}/judge", world["judge"].email, "#score-form"),
        "projector": Scene(f"/sessions/{session.id}/screen", None, "[data-board-table]"),
        "vote": Scene(f"/sessions/{session.id}/vote", None, "main"),
        "investor-dashboard": Scene("/fund/dashboard", world["investor"].email, "main"),
    }


def _run_axe(page: Page, source: str) -> dict:
    page.add_script_tag(content=source)
    result = page.evaluate("options => axe.run(document, options)", AXE_OPTIONS)
    assert result["passes"], "axe checked nothing on the page"
    return result


def _describe(violation: dict) -> str:
    targets = ", ".join(" ".join(node["target"]) if isinstance(node["target"], list) else str(node["target"])
                        for node in violation["nodes"][:5])
    return f"[{violation['impact']}] {violation['id']}: {violation['help']} ({len(violation['nodes'])}× {targets})"


def _check(scene_name: str, scene: Scene, new_context, axe_source: str,
           prepare: Callable[[Page], None] | None = None) -> None:
    REPORTS.mkdir(parents=True, exist_ok=True)
    blocking: list[str] = []
    for size, options in SIZES.items():
        context = new_context(f"{scene_name}-{size}", bypass_csp=True, locale="es-MX", **options)
        page = context.new_page()
        if scene.email:
            login(page, scene.email, PASSWORD)
        response = page.goto(scene.path)
        assert response is not None and response.status == 200, f"{scene.path}: {response and response.status}"
        expect(page.locator(scene.ready).first).to_be_visible()
        if prepare:
            prepare(page)
        result = _run_axe(page, axe_source)
        violations = result["violations"]
        shot = REPORTS / f"{scene_name}-{size}.png"
        page.screenshot(path=str(shot), full_page=True, animations="disabled")
        (REPORTS / f"{scene_name}-{size}.json").write_text(json.dumps(
            {"url": page.url, "violations": violations, "incomplete": result["incomplete"]},
            indent=1, ensure_ascii=False), encoding="utf-8")
        print(f"\n{scene_name} @ {size}: {len(violations)} violation(s), {len(result['passes'])} rules passed, "
              f"{len(result['incomplete'])} to review by hand; screenshot {shot}")
        for violation in violations:
            print("   ", _describe(violation))
            if violation["impact"] in BLOCKING:
                blocking.append(f"{size}: {_describe(violation)}")
        for review in result["incomplete"]:
            print("    to review:", _describe(review))
        page.close()
    assert blocking == [], f"{scene_name} ({scene.path}) has serious or critical violations:\n" + "\n".join(blocking)


@pytest.mark.parametrize("scene_name", ["home", "login", "venture-form", "judge-tablet", "projector", "vote",
                                        "investor-dashboard"])
def test_main_pages_have_no_serious_accessibility_violations(scene_name, show_world, new_context, axe_source):
    _check(scene_name, _scenes(show_world)[scene_name], new_context, axe_source)


def test_venture_form_with_errors_is_accessible(show_world, new_context, axe_source):
    """The form as it comes back refused: each error tied to its field and announced."""
    def submit_empty(page: Page) -> None:
        form = page.locator("form:has(input[name=name])")
        form.locator("input[name=name]").fill("")
        with page.expect_navigation():
            form.locator("button[type=submit]").last.click()
        expect(page.locator(".errors, .form-alert").first).to_be_visible()

    scene = Scene("/ventures/new", show_world["entrepreneur"].email, "form")
    _check("venture-form-errors", scene, new_context, axe_source, prepare=submit_empty)


def test_the_check_finds_violations_on_a_live_page(new_context, axe_source, db):
    """The injected axe really runs on the app's pages (CSP bypassed) and reports what is wrong."""
    page = new_context("self-check", bypass_csp=True, **SIZES["phone"]).new_page()
    page.goto("/")
    page.evaluate("""() => {
        const main = document.querySelector('main');
        main.insertAdjacentHTML('beforeend', '<button id="nameless"></button><img id="no-alt" src="/x.png">');
    }""")
    found = {v["id"]: v for v in _run_axe(page, axe_source)["violations"]}
    assert {"button-name", "image-alt"} <= set(found), sorted(found)
    assert all(found[rule]["impact"] in BLOCKING for rule in ("button-name", "image-alt"))
