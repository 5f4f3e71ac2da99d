"""Live judging in a real browser: a judge's tablet losing the network, and the projector following.

Issue: the judge scores a pitch, the network drops (route aborted), the judge scores again,
the network returns, and the server holds exactly the newest score; meanwhile the projector
page shows the new ranking without a reload.

The data is arranged in the database (``make``); everything the people do goes through the
live server: the tablet and the projector in chromium, the second judge and the organizer
through the API with bearer tokens (the live server's own broker then tells the projector).
"""

from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal

import pytest
from playwright.sync_api import APIRequestContext, Page, expect
from sqlalchemy import select

from pitchtank.accounts import services as accounts
from pitchtank.accounts.models import Role
from pitchtank.events import services as events
from pitchtank.events.models import PitchSession
from pitchtank.judging import rubrics, sheets, show
from pitchtank.judging.models import ScoreSheet
from tests.browser.conftest import TIMEOUT_MS, login

TABLET = {"viewport": {"width": 1024, "height": 768}, "has_touch": True, "locale": "es-MX"}
PROJECTOR = {"viewport": {"width": 1280, "height": 720}, "locale": "es-MX"}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 3, "locale": "es-MX"}

JUDGE_A_PASSWORD = "tablet judge A pass 1"
JUDGE_B_PASSWORD = "tablet judge B pass 2"
SCORES_API = "**/api/v1/pitches/**"


# ---------- arranging ----------

def _sessions_rubric(session: PitchSession) -> dict[str, tuple[int, int, int]]:
    """key -> (weight, min, max), in the rubric's order."""
    return {c.key: (c.weight, c.min_value, c.max_value) for c in rubrics.criteria_of(session)}


def _all_at(rubric: dict[str, tuple[int, int, int]], value: int, question: int) -> dict[str, int]:
    """Every weighted criterion at ``value``, every question (weight 0) at ``question``."""
    return {key: (value if weight > 0 else question) for key, (weight, _lo, _hi) in rubric.items()}


def _token(db, user) -> dict[str, str]:
    token = accounts.issue_token(user)
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def show_running(make, db):
    """Three pitches, two judges with known passwords, the default rubric, started, pitch 1 open for scoring."""
    event = make.event()
    session = make.session(event)
    submissions = [make.submission(event_=event, accepted=True) for _ in range(3)]
    events.set_running_order(session, [s.id for s in submissions])
    judge_a = make.user(Role.JUDGE, password=JUDGE_A_PASSWORD, name="Jueza Ana")
    judge_b = make.user(Role.JUDGE, password=JUDGE_B_PASSWORD, name="Juez Beto")
    events.set_judges(session, [judge_a.id, judge_b.id])
    rubrics.set_rubric(session, rubrics.default_rubric())
    organizer = make.user(Role.ORGANIZER)
    db.session.commit()
    for action in ("start", "open_scoring"):
        show.control(session.id, action, organizer)
    db.session.commit()
    assert session.leaderboard_public, "the projector needs a public leaderboard"
    return session, judge_a, judge_b, organizer


@pytest.fixture
def api(playwright, live_server):
    """HTTP straight to the live server, for the second judge and the organizer."""
    context = playwright.request.new_context(base_url=live_server, timeout=TIMEOUT_MS)
    yield context
    context.dispose()


# ---------- checking the server ----------

def _fresh(db) -> None:
    """End the test's transaction and forget loaded rows: the next read sees the live server's commits."""
    db.session.commit()
    db.session.expire_all()


def _sheets_of(db, pitch_id: int, judge_id: int) -> list[ScoreSheet]:
    _fresh(db)
    return list(db.session.scalars(
        select(ScoreSheet).where(ScoreSheet.pitch_id == pitch_id, ScoreSheet.judge_id == judge_id)
    ))


def _only_sheet(db, pitch_id: int, judge_id: int) -> ScoreSheet:
    found = _sheets_of(db, pitch_id, judge_id)
    assert len(found) == 1, f"expected one sheet for judge {judge_id} and pitch {pitch_id}, found {len(found)}"
    return found[0]


# ---------- the tablet ----------

def _tap_all(tablet: Page, values: dict[str, int]) -> None:
    """Tap one value per criterion, as a judge's finger would, and check the form shows it."""
    for key, value in values.items():
        tablet.locator(f"#score-{key}-{value}").tap()
        expect(tablet.locator(f"#score-{key}-{value}")).to_be_checked()


def _expect_selected(tablet: Page, values: dict[str, int]) -> None:
    for key, value in values.items():
        expect(tablet.locator(f"#score-{key}-{value}")).to_be_checked()
        expect(tablet.locator(f"input[name='score-{key}']:checked")).to_have_count(1)


def _device_copy(tablet: Page, session_id: int, judge_id: int, pitch_id: int) -> dict:
    raw = tablet.evaluate("key => window.localStorage.getItem(key)", f"pitchtank:tablet:{session_id}:{judge_id}")
    assert raw, "the tablet keeps nothing on the device"
    return json.loads(raw)[str(pitch_id)]


# ---------- the projector ----------

def _display(score: float | None) -> str:
    """How the projector writes a score: one decimal, halves away from zero (Intl.NumberFormat, es-MX)."""
    if score is None:
        return "\u2014"
    return str(Decimal(str(score)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _leaderboard(api: APIRequestContext, session_id: int) -> dict:
    response = api.get(f"/api/v1/sessions/{session_id}/leaderboard")
    assert response.status == 200, response.text()
    return response.json()


def _expect_projector_shows(screen: Page, board: dict) -> None:
    """The projector's ranking is the API's: same order, ranks, names, scores and judge counts."""
    entries = board["entries"]
    rows = screen.locator("[data-board-rows] tr")
    expect(screen.locator("[data-board-table]")).to_be_visible()
    expect(rows).to_have_count(len(entries))
    expect(rows.locator(".ranking__name")).to_have_text([e["venture"]["name"] for e in entries])
    expect(rows.locator(".ranking__score")).to_have_text([_display(e["score"]) for e in entries])
    expect(rows.locator(".ranking__rank")).to_have_text(
        [str(e["rank"]) if e["score"] is not None else "\u2014" for e in entries])
    expect(rows.locator(".ranking__judges")).to_have_text(
        [re.compile(rf"^\s*{e['judges_scored']}\D+{e['judges_expected']}\s*$") for e in entries])
    for index, entry in enumerate(entries):
        expect(rows.nth(index)).to_have_attribute("data-pitch-id", str(entry["pitch_id"]))


def _is_poll(url: str) -> bool:
    """The projector's fallback requests when the event stream fails."""
    return bool(re.search(r"/api/v1/sessions/\d+(/leaderboard)?(\?|$)", url))


def _mark_no_reload(screen: Page) -> None:
    screen.evaluate("window.__noReload = 1")


def _assert_not_reloaded(screen: Page) -> None:
    assert screen.evaluate("window.__noReload") == 1, "the projector page was reloaded"
    assert screen.evaluate("performance.getEntriesByType('navigation').length") == 1


# ---------- the tests ----------

def test_scores_survive_a_network_drop_and_the_projector_follows_live(
        show_running, db, new_context, api, snap):
    session, judge_a, judge_b, organizer = show_running
    pitch_1, pitch_2, _pitch_3 = session.pitches
    rubric = _sessions_rubric(session)
    sixes, nines = _all_at(rubric, 6, question=1), _all_at(rubric, 9, question=0)
    weighted = [key for key, (weight, _lo, _hi) in rubric.items() if weight > 0]
    assert len(weighted) >= 3 and len(rubric) > len(weighted), "the default rubric has criteria and a question"

    # a. Judge A logs in on the tablet and scores every criterion.
    tablet_context = new_context("tablet", **TABLET)
    tablet = tablet_context.new_page()
    login(tablet, judge_a.email, JUDGE_A_PASSWORD)
    tablet.goto(f"/sessions/{session.id}/judge")
    form = tablet.locator("#score-form")
    status = tablet.locator("#save-status")
    expect(form).to_be_visible()
    expect(form).to_have_attribute("data-pitch-id", str(pitch_1.id))
    expect(tablet.locator("fieldset[data-criterion]")).to_have_count(len(rubric))
    expect(status).to_have_attribute("data-state", "open")
    snap(tablet, "tablet-ready")

    with tablet.expect_response(lambda r: r.request.method == "PUT" and "/scores/me" in r.url) as first_put:
        _tap_all(tablet, sixes)
    # The page's own script sent the CSRF token, and the CSRF-enforcing server took it.
    assert first_put.value.request.header_value("x-csrftoken"), "the tablet sent no X-CSRFToken header"
    assert first_put.value.status == 200, first_put.value.text()
    expect(status).to_have_attribute("data-state", "saved")
    expect(tablet.locator("#tablet")).to_have_attribute("data-pending", "0")
    saved_six = _only_sheet(db, pitch_1.id, judge_a.id)
    assert saved_six.values == sixes
    seq_six = saved_six.client_seq
    assert seq_six == _device_copy(tablet, session.id, judge_a.id, pitch_1.id)["clientSeq"]
    snap(tablet, "tablet-saved-6")

    # b. The projector, anonymous, shows pitch 1 with the judge's score.
    screen = new_context("projector", **PROJECTOR).new_page()
    polls: list[str] = []
    screen.on("request", lambda r: polls.append(r.url) if _is_poll(r.url) else None)
    with screen.expect_response(lambda r: r.url.endswith(f"/api/v1/sessions/{session.id}/stream")) as stream:
        screen.goto(f"/sessions/{session.id}/screen")
    assert stream.value.status == 200 and stream.value.header_value("content-type").startswith("text/event-stream")
    board = _leaderboard(api, session.id)
    assert board["entries"][0]["pitch_id"] == pitch_1.id and board["entries"][0]["score"] == 6.0
    _expect_projector_shows(screen, board)
    _mark_no_reload(screen)
    snap(screen, "projector-6")

    # c. The network drops: the scores API is unreachable from the tablet.
    aborted: list[str] = []

    def drop(route):
        aborted.append(route.request.method)
        route.abort("internetdisconnected")

    tablet.route(SCORES_API, drop)
    with tablet.expect_event(
        "requestfailed",
        predicate=lambda r: r.method == "PUT" and (r.post_data_json or {}).get("scores") == nines,
    ):
        _tap_all(tablet, nines)
    assert "PUT" in aborted, "the route did not abort the tablet's PUT"
    expect(status).to_have_attribute("data-state", "pending")
    expect(tablet.locator("#tablet")).to_have_attribute("data-pending", "1")
    # Then the whole connection goes: the tablet says so and keeps the scores on the device.
    tablet_context.set_offline(True)
    expect(tablet.locator("#connection")).to_be_visible()
    expect(status).to_have_attribute("data-state", "pending")
    device = _device_copy(tablet, session.id, judge_a.id, pitch_1.id)
    assert device["pending"] is True and device["scores"] == nines and device["clientSeq"] > seq_six
    snap(tablet, "tablet-offline-pending-9")

    still_six = _only_sheet(db, pitch_1.id, judge_a.id)
    assert still_six.values == sixes and still_six.client_seq == seq_six
    # The projector keeps showing what the server holds.
    expect(screen.locator(f"[data-board-rows] tr[data-pitch-id='{pitch_1.id}'] .ranking__score")).to_have_text("6.0")

    # d. The network returns: the newest revision reaches the server, once.
    tablet_context.set_offline(False)
    tablet.unroute(SCORES_API, drop)
    tablet.evaluate("window.dispatchEvent(new Event('online'))")
    expect(status).to_have_attribute("data-state", "saved")
    expect(tablet.locator("#tablet")).to_have_attribute("data-pending", "0")
    expect(tablet.locator("#connection")).to_be_hidden()
    saved_nine = _only_sheet(db, pitch_1.id, judge_a.id)
    assert saved_nine.values == nines, f"the server holds {saved_nine.values}, not the newest {nines}"
    assert saved_nine.client_seq > seq_six
    device = _device_copy(tablet, session.id, judge_a.id, pitch_1.id)
    assert device["pending"] is False and device["clientSeq"] == saved_nine.client_seq
    snap(tablet, "tablet-back-online-saved-9")

    # e. A reload shows the 9s: from the device's copy, and from the server's alone.
    tablet.reload()
    expect(form).to_have_attribute("data-pitch-id", str(pitch_1.id))
    _expect_selected(tablet, nines)
    expect(status).to_have_attribute("data-state", "saved")
    tablet.evaluate("window.localStorage.clear()")
    tablet.reload()
    expect(form).to_have_attribute("data-pitch-id", str(pitch_1.id))
    expect(status).to_have_attribute("data-state", "saved")
    _expect_selected(tablet, nines)
    assert _only_sheet(db, pitch_1.id, judge_a.id).client_seq == saved_nine.client_seq, "a reload re-sent the sheet"

    # f. Meanwhile the projector, never reloaded, shows the new score...
    board = _leaderboard(api, session.id)
    assert board["entries"][0]["pitch_id"] == pitch_1.id and board["entries"][0]["score"] == 9.0
    _expect_projector_shows(screen, board)
    _assert_not_reloaded(screen)
    snap(screen, "projector-9")

    # ... and judge B's lower score for pitch 1, sent through the API.
    judge_b_auth = _token(db, judge_b)
    fours = _all_at(rubric, 4, question=0)
    response = api.put(f"/api/v1/pitches/{pitch_1.id}/scores/me", headers=judge_b_auth,
                       data={"scores": fours, "comment": "", "client_seq": 1})
    assert response.status == 200, response.text()
    board = _leaderboard(api, session.id)
    top = board["entries"][0]
    assert top["pitch_id"] == pitch_1.id and top["judges_scored"] == 2 and top["score"] < 9.0
    _expect_projector_shows(screen, board)
    _assert_not_reloaded(screen)
    snap(screen, "projector-two-judges")

    # g. The organizer closes scoring: the tablet locks its form, the projector says so.
    organizer_auth = _token(db, organizer)
    response = api.post(f"/api/v1/sessions/{session.id}/control", headers=organizer_auth,
                        data={"action": "close_scoring"})
    assert response.status == 200, response.text()
    expect(status).to_have_attribute("data-state", "closed")
    expect(form).to_have_class(re.compile(r"\brubric--locked\b"))
    radios = tablet.locator("#score-form input[type=radio]")
    assert radios.count() == sum(hi - lo + 1 for (_w, lo, hi) in rubric.values())
    for index in range(radios.count()):
        expect(radios.nth(index)).to_be_disabled()
    expect(tablet.locator("#comment")).to_be_disabled()
    _expect_selected(tablet, nines)
    closed_label = json.loads(screen.locator("[data-screen]").get_attribute("data-strings"))["phases"]["scoring_closed"]
    expect(screen.locator("[data-now-phase]")).to_have_text(closed_label)
    snap(tablet, "tablet-scoring-closed")

    # The show moves on: pitch 2 on stage, judge B rates it highly, the ranking reorders live.
    for action in ("next", "open_scoring"):
        response = api.post(f"/api/v1/sessions/{session.id}/control", headers=organizer_auth, data={"action": action})
        assert response.status == 200, response.text()
    expect(form).to_have_attribute("data-pitch-id", str(pitch_2.id))
    expect(tablet.locator("#score-form input[type=radio]:checked")).to_have_count(0)
    expect(tablet.locator(f"#score-{weighted[0]}-1")).to_be_enabled()
    expect(screen.locator("[data-now-venture]")).to_have_text(pitch_2.venture.name)
    response = api.put(f"/api/v1/pitches/{pitch_2.id}/scores/me", headers=judge_b_auth,
                       data={"scores": _all_at(rubric, 10, question=1), "comment": "", "client_seq": 1})
    assert response.status == 200, response.text()
    board = _leaderboard(api, session.id)
    assert [e["pitch_id"] for e in board["entries"][:2]] == [pitch_2.id, pitch_1.id], board["entries"]
    _expect_projector_shows(screen, board)
    _assert_not_reloaded(screen)
    snap(screen, "projector-reordered")

    # Every update above came over the event stream: the projector never fell back to polling.
    assert polls == [], f"the projector fell back to polling: {polls}"

    # Nothing the drop did left a stray copy: judge A still has exactly one sheet, the 9s.
    final = _only_sheet(db, pitch_1.id, judge_a.id)
    assert final.values == nines and final.client_seq == saved_nine.client_seq


def test_the_projector_fits_a_phone_without_horizontal_scroll(make, db, new_context, snap):
    event = make.event(name="Pitch Day Clúster de Innovación del Bajío 2025")
    session = make.session(event, title="Sesión de la tarde: agroindustria y manufactura avanzada")
    names = ["Soluciones Agroindustriales Sustentables del Bajío", "Manufactura Aditiva Queretana",
             "Logística Inteligente para PyMEs Exportadoras"]
    submissions = [make.submission(make.venture(name=name), event, accepted=True) for name in names]
    events.set_running_order(session, [s.id for s in submissions])
    judge_a, judge_b = make.user(Role.JUDGE), make.user(Role.JUDGE)
    events.set_judges(session, [judge_a.id, judge_b.id])
    rubrics.set_rubric(session, rubrics.default_rubric())
    organizer = make.user(Role.ORGANIZER)
    db.session.commit()
    for action in ("start", "open_scoring"):
        show.control(session.id, action, organizer)
    db.session.commit()
    rubric = _sessions_rubric(session)
    for judge, value in ((judge_a, 8), (judge_b, 7)):
        sheets.submit(session.pitches[0].id, judge, scores=_all_at(rubric, value, question=1), comment="",
                      client_seq=1)
    db.session.commit()

    phone = new_context("phone", **PHONE).new_page()
    phone.goto(f"/sessions/{session.id}/screen")
    phone.wait_for_load_state("load")
    rows = phone.locator("[data-board-rows] tr")
    expect(rows).to_have_count(3)
    expect(rows.first.locator(".ranking__name")).to_have_text(names[0])
    expect(phone.locator("[data-now-venture]")).to_have_text(names[0])
    snap(phone, "phone-projector")
    widths = phone.evaluate(
        "() => ({doc: document.documentElement.scrollWidth, body: document.body.scrollWidth,"
        " inner: window.innerWidth})"
    )
    assert widths["inner"] == 390, widths
    assert widths["doc"] <= 390 and widths["body"] <= 390, f"the projector scrolls sideways on a phone: {widths}"
