"""The projector when live push is down: the stream answers 503 (as it does while Redis is
unreachable), the page polls the leaderboard with If-None-Match and still shows each new
ranking, then returns to the stream by itself once the stream works again."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from pitchtank.accounts import services as accounts
from pitchtank.accounts.models import Role
from pitchtank.events import services as events
from pitchtank.judging import rubrics, show
from tests.browser.test_live_judging import _expect_projector_shows, _leaderboard

PROJECTOR = {"viewport": {"width": 1280, "height": 720}, "locale": "es-MX"}
STREAM = "**/api/v1/sessions/*/stream"
POLLS = "**/api/v1/sessions/*/leaderboard"
REFUSED = json.dumps({"type": "about:blank", "title": "Service unavailable", "status": 503,
                      "detail": "Live updates are paused for a moment."})


@pytest.fixture
def live_session(make, db):
    event = make.event()
    session = make.session(event)
    submissions = [make.submission(event_=event, accepted=True) for _ in range(2)]
    events.set_running_order(session, [s.id for s in submissions])
    judges = [make.user(Role.JUDGE) for _ in range(2)]
    events.set_judges(session, [j.id for j in judges])
    rubrics.set_rubric(session, rubrics.default_rubric())
    organizer = make.user(Role.ORGANIZER)
    db.session.commit()
    show.control(session.id, "start", organizer)
    db.session.commit()
    for pitch in session.pitches:
        show.control(session.id, "open_scoring", organizer, pitch_id=pitch.id)
        db.session.commit()
    criteria = {c.key: (c.min_value, c.max_value) for c in rubrics.criteria_of(session)}
    tokens = [accounts.issue_token(j) for j in judges]
    db.session.commit()
    return session, [p.id for p in session.pitches], tokens, criteria


def _score(api, token: str, pitch_id: int, value: int, criteria) -> None:
    scores = {key: max(low, min(high, value)) for key, (low, high) in criteria.items()}
    response = api.put(f"/api/v1/pitches/{pitch_id}/scores/me", headers={"Authorization": f"Bearer {token}"},
                       data={"scores": scores, "client_seq": 1})
    assert response.status == 200, response.text()


@pytest.fixture
def api(playwright, live_server):
    context = playwright.request.new_context(base_url=live_server)
    yield context
    context.dispose()


def test_projector_polls_while_the_stream_is_refused_and_returns_to_it(new_context, live_session, api, snap):
    session, (pitch_1, pitch_2), (judge_a, judge_b), criteria = live_session
    screen = new_context("projector", **PROJECTOR).new_page()
    screen.clock.install()  # real time flows; the test may jump ahead to the stream retry
    refused: list[str] = []
    conditional: list[str] = []

    def refuse(route):
        refused.append(route.request.url)
        route.fulfill(status=503, content_type="application/problem+json", body=REFUSED,
                      headers={"Retry-After": "10"})

    screen.route(STREAM, refuse)
    screen.on("request", lambda r: conditional.append(r.url)
              if "/leaderboard" in r.url and r.headers.get("if-none-match") else None)
    screen.goto(f"/sessions/{session.id}/screen")
    root = screen.locator("[data-screen]")
    expect(root).to_have_attribute("data-live", "polling")
    assert refused, "the page never tried the stream"

    # A judge scores pitch 2 high: the polling projector shows it on top.
    _score(api, judge_a, pitch_2, 9, criteria)
    board = _leaderboard(api, session.id)
    assert board["entries"][0]["pitch_id"] == pitch_2
    _expect_projector_shows(screen, board)
    for _ in range(100):  # the page's requests are reported while Playwright waits
        if conditional:
            break
        screen.wait_for_timeout(100)
    assert conditional, "the leaderboard polls did not send If-None-Match"
    snap(screen, "polling")

    # The stream works again: the page returns to it at its next retry (10-20 s, skipped ahead)...
    screen.unroute(STREAM)
    with screen.expect_response(lambda r: r.url.endswith("/stream") and r.status == 200):
        screen.clock.fast_forward(21_000)
    expect(root).to_have_attribute("data-live", "stream")

    # ...and no longer needs the polls: with them broken, the next ranking still arrives.
    screen.route(POLLS, lambda route: route.abort())
    _score(api, judge_b, pitch_1, 10, criteria)
    _score(api, judge_a, pitch_1, 10, criteria)
    board = _leaderboard(api, session.id)
    assert board["entries"][0]["pitch_id"] == pitch_1
    _expect_projector_shows(screen, board)
    snap(screen, "streaming")
