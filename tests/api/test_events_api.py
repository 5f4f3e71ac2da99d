"""API: events, applications and decisions, sessions, running orders and judges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from pitchtank.accounts.models import Role
from pitchtank.core.types import utcnow
from pitchtank.events.models import (
    Event,
    Pitch,
    PitchSession,
    SessionJudge,
    SessionStatus,
    Submission,
    SubmissionStatus,
)

PROBLEM_TYPE = "application/problem+json"
MEXICO = timezone(timedelta(hours=-6))


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_TYPE
    body = response.get_json()
    assert body["status"] == status
    assert isinstance(body["type"], str) and body["type"]
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None, f"{text} has no UTC offset"
    return value


@pytest.fixture
def organizer(make, db):
    user = make.user(Role.ORGANIZER)
    db.session.commit()
    return user


@pytest.fixture
def as_org(api_token, organizer):
    return api_token(organizer)


def event_payload(**overrides) -> dict:
    now = utcnow().astimezone(MEXICO).replace(microsecond=0)
    body = {
        "name": "Demo Day Guanajuato", "venue": "Poliforum León",
        "description": "Emprendimientos del clúster",
        "starts_at": (now + timedelta(days=30)).isoformat(),
        "ends_at": (now + timedelta(days=30, hours=8)).isoformat(),
        "submissions_open_at": (now - timedelta(days=1)).isoformat(),
        "submissions_close_at": (now + timedelta(days=20)).isoformat(),
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


# --------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------


def test_create_event(client, db, organizer, as_org):
    body = event_payload()
    response = client.post("/api/v1/events", json=body, headers=as_org)

    assert response.status_code == 201
    created = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/events/{created['id']}")
    assert created["name"] == "Demo Day Guanajuato" and created["venue"] == "Poliforum León"
    assert created["status"] == "submissions_open" and created["accepting_submissions"] is True
    assert created["sessions"] == []
    for key in ("starts_at", "ends_at", "submissions_open_at", "submissions_close_at"):
        assert parse_time(created[key]) == datetime.fromisoformat(body[key])  # same instant
    event = db.session.get(Event, created["id"])
    assert event.created_by_id == organizer.id
    assert event.starts_at == datetime.fromisoformat(body["starts_at"])


@pytest.mark.parametrize("role", [Role.ENTREPRENEUR, Role.JUDGE, Role.INVESTOR])
def test_only_organizers_create_events(client, db, api_token, role):
    assert_problem(client.post("/api/v1/events", json=event_payload(), headers=api_token(role)), 403)
    assert count(db, Event) == 0


def test_anonymous_cannot_create_events(client, db):
    assert_problem(client.post("/api/v1/events", json=event_payload()), 401)
    assert count(db, Event) == 0


BAD_EVENTS = [
    ("ends-before-start", lambda body: {"ends_at": body["submissions_close_at"],
                                        "submissions_close_at": body["submissions_open_at"][:10] + "T23:00:00Z"},
     {"ends_at"}),
    ("window-closes-before-opening", {"submissions_close_at": "2020-01-01T00:00:00-06:00"},
     {"submissions_close_at"}),
    ("window-closes-after-event", {"submissions_close_at": "2099-01-01T00:00:00Z"}, {"submissions_close_at"}),
    ("naive-datetime", {"starts_at": "2030-05-01T10:00:00"}, {"starts_at"}),
    ("date-only", {"ends_at": "2030-05-01"}, {"ends_at"}),
    ("not-a-date", {"starts_at": "el próximo martes"}, {"starts_at"}),
    ("unix-number", {"starts_at": 1_900_000_000}, {"starts_at"}),
    ("bool", {"submissions_open_at": True}, {"submissions_open_at"}),
    ("list", {"ends_at": []}, {"ends_at"}),
    ("name-int", {"name": 5}, {"name"}),
    ("name-blank", {"name": " "}, {"name"}),
    ("name-huge", {"name": "x" * 10_000}, {"name"}),
    ("venue-missing", {"venue": ...}, {"venue"}),
    ("unknown-field", {"capacity": 1000}, {"capacity"}),
]


@pytest.mark.parametrize(("overrides", "fields"), [b[1:] for b in BAD_EVENTS], ids=[b[0] for b in BAD_EVENTS])
def test_bad_event_is_422_and_writes_nothing(client, db, as_org, overrides, fields):
    if callable(overrides):
        overrides = overrides(event_payload())
    response = client.post("/api/v1/events", json=event_payload(**overrides), headers=as_org)
    problem = assert_problem(response, 422)
    assert set(problem["errors"]) == fields
    assert count(db, Event) == 0


def test_list_and_read_events_anyone(client, make, db, api_token):
    upcoming = make.event(name="Próximo")
    now = utcnow()
    past = make.event(name="Pasado", starts_at=now - timedelta(days=3), ends_at=now - timedelta(days=2),
                      submissions_open_at=now - timedelta(days=9), submissions_close_at=now - timedelta(days=4))
    session = make.session(upcoming, title="Mañana")
    db.session.commit()

    for headers in ({}, api_token(Role.ENTREPRENEUR)):
        listing = client.get("/api/v1/events", headers=headers)
        assert listing.status_code == 200
        events = listing.get_json()["events"]
        assert [e["name"] for e in events] == ["Próximo", "Pasado"]  # upcoming first
        assert [e["status"] for e in events] == ["submissions_open", "past"]

    one = client.get(f"/api/v1/events/{upcoming.id}")
    assert one.status_code == 200
    body = one.get_json()
    assert body["id"] == upcoming.id and body["accepting_submissions"] is True
    assert [(s["id"], s["title"], s["status"]) for s in body["sessions"]] == [(session.id, "Mañana", "scheduled")]
    assert body["sessions"][0]["url"].endswith(f"/api/v1/sessions/{session.id}")
    assert client.get(f"/api/v1/events/{past.id}").get_json()["accepting_submissions"] is False
    assert_problem(client.get("/api/v1/events/987654"), 404)


# --------------------------------------------------------------------------
# Sessions
# --------------------------------------------------------------------------


def session_payload(event, **overrides) -> dict:
    body = {"title": "Sesión de la tarde", "starts_at": (event.starts_at + timedelta(hours=2)).isoformat(),
            "pitch_minutes": 5, "qa_minutes": 3}
    body.update(overrides)
    return body


def test_create_session(client, make, db, as_org):
    event = make.event()
    db.session.commit()
    response = client.post(f"/api/v1/events/{event.id}/sessions", json=session_payload(event), headers=as_org)
    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/sessions/{body['id']}")
    assert body["event_id"] == event.id and body["status"] == "scheduled"
    assert (body["pitch_minutes"], body["qa_minutes"]) == (5, 3)
    assert body["pitches"] == [] and body["judges"] == [] and body["rubric"] == []
    assert body["current_pitch"] is None
    stored = db.session.get(PitchSession, body["id"])
    assert stored.event_id == event.id and stored.title == "Sesión de la tarde"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"pitch_minutes": 0}, "pitch_minutes"), ({"pitch_minutes": 999}, "pitch_minutes"),
     ({"pitch_minutes": 4.5}, "pitch_minutes"), ({"qa_minutes": -1}, "qa_minutes"),
     ({"qa_minutes": "3"}, "qa_minutes"), ({"title": ""}, "title"),
     ({"starts_at": "2020-01-01T10:00:00-06:00"}, "starts_at"), ("after-event", "starts_at"),
     ({"starts_at": "2030-01-01T10:00:00"}, "starts_at")],
    ids=["pitch-0", "pitch-999", "pitch-float", "qa-negative", "qa-string", "title-empty",
         "before-event", "after-event", "naive"],
)
def test_bad_session_is_422(client, make, db, as_org, overrides, field):
    event = make.event()
    db.session.commit()
    if overrides == "after-event":
        overrides = {"starts_at": (event.ends_at + timedelta(minutes=1)).isoformat()}
    response = client.post(f"/api/v1/events/{event.id}/sessions", json=session_payload(event, **overrides),
                           headers=as_org)
    assert field in assert_problem(response, 422)["errors"]
    assert count(db, PitchSession) == 0


def test_session_creation_needs_an_organizer(client, make, db, api_token):
    event = make.event()
    db.session.commit()
    url = f"/api/v1/events/{event.id}/sessions"
    assert_problem(client.post(url, json=session_payload(event)), 401)
    assert_problem(client.post(url, json=session_payload(event), headers=api_token(Role.JUDGE)), 403)
    assert_problem(client.post("/api/v1/events/987654/sessions", json=session_payload(event),
                               headers=api_token(Role.ORGANIZER)), 404)
    assert count(db, PitchSession) == 0


# --------------------------------------------------------------------------
# Applications
# --------------------------------------------------------------------------


@pytest.fixture
def owner(make, db):
    user = make.user(Role.ENTREPRENEUR)
    db.session.commit()
    return user


@pytest.fixture
def as_owner(api_token, owner):
    return api_token(owner)


def test_owner_applies_once(client, make, db, owner, as_owner):
    venture = make.venture(owner)
    event = make.event()
    db.session.commit()
    url = f"/api/v1/events/{event.id}/submissions"

    response = client.post(url, json={"venture_id": venture.id}, headers=as_owner)

    assert response.status_code == 201
    body = response.get_json()
    assert body["event_id"] == event.id and body["venture"] == {"id": venture.id, "name": venture.name}
    assert body["status"] == "pending" and body["decided_at"] is None and body["note"] == ""
    assert db.session.get(Submission, body["id"]).venture_id == venture.id

    assert_problem(client.post(url, json={"venture_id": venture.id}, headers=as_owner), 409)
    assert count(db, Submission) == 1


def test_application_refusals(client, make, db, owner, as_owner, api_token):
    venture = make.venture(owner)
    foreign = make.venture()
    open_event = make.event()
    closed_event = make.event(open_for_submissions=False)
    db.session.commit()
    url = f"/api/v1/events/{open_event.id}/submissions"

    closed = assert_problem(client.post(f"/api/v1/events/{closed_event.id}/submissions",
                                        json={"venture_id": venture.id}, headers=as_owner), 422)
    assert "event_id" in closed["errors"]
    assert_problem(client.post(url, json={"venture_id": foreign.id}, headers=as_owner), 404)
    assert_problem(client.post(url, json={"venture_id": 987654}, headers=as_owner), 404)
    assert_problem(client.post("/api/v1/events/987654/submissions", json={"venture_id": venture.id},
                               headers=as_owner), 404)
    assert_problem(client.post(url, json={"venture_id": venture.id}, headers=api_token(Role.ORGANIZER)), 403)
    assert_problem(client.post(url, json={"venture_id": venture.id}), 401)
    for bad in ({}, {"venture_id": str(venture.id)}, {"venture_id": None}, {"venture_id": 1.0}):
        assert "venture_id" in assert_problem(client.post(url, json=bad, headers=as_owner), 422)["errors"]
    assert count(db, Submission) == 0


def test_only_organizers_list_applications(client, make, db, as_org, api_token):
    event = make.event()
    pending = make.submission(event_=event)
    accepted = make.submission(event_=event, accepted=True)
    make.submission()  # another event's
    db.session.commit()
    url = f"/api/v1/events/{event.id}/submissions"

    response = client.get(url, headers=as_org)

    assert response.status_code == 200
    listed = response.get_json()["submissions"]
    assert [(s["id"], s["status"]) for s in listed] == [(pending.id, "pending"), (accepted.id, "accepted")]
    assert listed[0]["venture"] == {"id": pending.venture.id, "name": pending.venture.name}
    for role in (Role.ENTREPRENEUR, Role.JUDGE, Role.INVESTOR):
        assert_problem(client.get(url, headers=api_token(role)), 403)
    assert_problem(client.get(url), 401)


def test_accept_and_reject(client, make, db, organizer, as_org):
    submission = make.submission()
    db.session.commit()
    accept = f"/api/v1/submissions/{submission.id}/accept"
    reject = f"/api/v1/submissions/{submission.id}/reject"

    response = client.post(accept, json={"note": "  ¡Felicidades!  "}, headers=as_org)

    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "accepted" and body["note"] == "¡Felicidades!"
    parse_time(body["decided_at"])
    db.session.expire_all()
    stored = db.session.get(Submission, submission.id)
    assert stored.status is SubmissionStatus.ACCEPTED and stored.decided_by_id == organizer.id
    # the venture is public now
    assert client.get(f"/api/v1/ventures/{submission.venture_id}").status_code == 200

    assert_problem(client.post(accept, json={}, headers=as_org), 409)
    rejected = client.post(reject, json={}, headers=as_org)
    assert rejected.status_code == 200 and rejected.get_json()["status"] == "rejected"
    assert_problem(client.post(reject, json={"note": "otra vez"}, headers=as_org), 409)
    db.session.expire_all()
    stored = db.session.get(Submission, submission.id)
    assert stored.status is SubmissionStatus.REJECTED and stored.decision_note == ""


def test_decisions_refused(client, make, db, as_org, api_token):
    submission = make.submission()
    db.session.commit()
    accept = f"/api/v1/submissions/{submission.id}/accept"

    too_long = assert_problem(client.post(accept, json={"note": "n" * 2001}, headers=as_org), 422)
    assert "note" in too_long["errors"]
    assert "note" in assert_problem(client.post(accept, json={"note": 5}, headers=as_org), 422)["errors"]
    assert_problem(client.post(accept, json={}, headers=api_token(Role.ENTREPRENEUR)), 403)
    assert_problem(client.post(accept, json={}, headers=api_token(Role.JUDGE)), 403)
    assert_problem(client.post(accept, json={}), 401)
    assert_problem(client.post("/api/v1/submissions/987654/reject", json={}, headers=as_org), 404)
    db.session.expire_all()
    assert db.session.get(Submission, submission.id).status is SubmissionStatus.PENDING


def test_withdraw_and_decisions_on_withdrawn(client, make, db, owner, as_owner, as_org, api_token):
    submission = make.submission(make.venture(owner))
    db.session.commit()
    withdraw = f"/api/v1/submissions/{submission.id}/withdraw"

    assert_problem(client.post(withdraw, headers=api_token(Role.ENTREPRENEUR)), 404)
    response = client.post(withdraw, headers=as_owner)
    assert response.status_code == 200 and response.get_json()["status"] == "withdrawn"
    assert_problem(client.post(withdraw, headers=as_owner), 409)
    for decision in ("accept", "reject"):
        assert_problem(client.post(f"/api/v1/submissions/{submission.id}/{decision}", json={},
                                   headers=as_org), 409)
    db.session.expire_all()
    assert db.session.get(Submission, submission.id).status is SubmissionStatus.WITHDRAWN

    # applying again after a withdrawal re-opens the same application
    again = client.post(f"/api/v1/events/{submission.event_id}/submissions",
                        json={"venture_id": submission.venture_id}, headers=as_owner)
    assert again.status_code == 201
    assert again.get_json()["id"] == submission.id and again.get_json()["status"] == "pending"
    assert count(db, Submission) == 1


# --------------------------------------------------------------------------
# Sessions: reading, running order, judges
# --------------------------------------------------------------------------


def test_session_shape(client, make, db):
    session, judges = make.pitching_session(pitches=2, judges=1)
    db.session.commit()

    response = client.get(f"/api/v1/sessions/{session.id}")

    assert response.status_code == 200
    body = response.get_json()
    assert {"id", "event_id", "title", "status", "rubric", "pitches", "current_pitch"} <= set(body)
    assert (body["id"], body["event_id"], body["status"]) == (session.id, session.event_id, "scheduled")
    assert body["rubric"] == [] and body["current_pitch"] is None
    assert body["judges"] == [{"id": judges[0].id, "name": judges[0].name}]
    assert len(body["pitches"]) == 2
    assert all({"id", "position", "venture", "status"} <= set(p) for p in body["pitches"])
    assert [(p["id"], p["position"], p["status"]) for p in body["pitches"]] == [
        (p.id, p.position, "scheduled") for p in session.pitches
    ]
    assert [p["venture"] for p in body["pitches"]] == [
        {"id": p.venture.id, "name": p.venture.name} for p in session.pitches
    ]
    assert_problem(client.get("/api/v1/sessions/987654"), 404)


@pytest.mark.parametrize("pitches,judges", [(2, 1), (12, 6)])
def test_reading_a_session_takes_the_same_few_queries_however_long_its_running_order(
        client, make, db, pitches, judges):
    # Screens poll this while live push is down; one query per pitch or judge would swamp the server.
    from sqlalchemy import event

    session, _judges = make.pitching_session(pitches=pitches, judges=judges)
    db.session.commit()
    statements = []

    def count(*_args):
        statements.append(1)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert client.get(f"/api/v1/sessions/{session.id}").status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) <= 10, len(statements)


def test_polled_session_reads_are_built_once_per_state_version(client, make, db, app, api_token, monkeypatch):
    from sqlalchemy import event

    from pitchtank.events import session_reads
    from pitchtank.judging import rubrics

    monkeypatch.setitem(app.config, "SESSION_READ_MAX_STALENESS", 2.0)
    now = [1000.0]
    monkeypatch.setattr(session_reads, "monotonic", lambda: now[0])
    session, _judges = make.pitching_session(pitches=3, judges=2)
    rubrics.set_rubric(session, rubrics.default_rubric())
    organizer = api_token(Role.ORGANIZER)
    db.session.commit()
    url = f"/api/v1/sessions/{session.id}"
    first = client.get(url)
    assert first.status_code == 200 and first.get_json()["status"] == "scheduled"
    assert "Cookie" not in first.headers.get("Vary", "") and "Set-Cookie" not in first.headers

    statements = []

    def count(*_args):
        statements.append(1)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert again.status_code == 304
    assert len(statements) == 1  # the state version only

    # A phase change bumps the state version: every reader sees it at once.
    assert client.post(f"{url}/control", json={"action": "start"}, headers=organizer).status_code == 200
    started = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert started.status_code == 200 and started.get_json()["status"] == "live"

    # A venture's new name does not bump it: readers see it once the cached body is 2 s old.
    venture = session.pitches[0].venture
    venture.name = "Nombre nuevo"
    db.session.commit()
    assert client.get(url).get_json()["pitches"][0]["venture"]["name"] != "Nombre nuevo"
    now[0] += 2.0
    assert client.get(url).get_json()["pitches"][0]["venture"]["name"] == "Nombre nuevo"
    assert client.get("/api/v1/sessions/987654").status_code == 404


def _order(db, session_id) -> list[tuple[int, int]]:
    db.session.expire_all()
    return [(p.submission_id, p.id) for p in db.session.get(PitchSession, session_id).pitches]


def test_running_order_set_and_reordered_keeping_pitch_ids(client, make, db, as_org):
    event = make.event()
    session = make.session(event)
    a, b, c = (make.submission(event_=event, accepted=True) for _ in range(3))
    db.session.commit()
    url = f"/api/v1/sessions/{session.id}/pitches"

    first = client.put(url, json={"submission_ids": [a.id, b.id, c.id]}, headers=as_org)
    assert first.status_code == 200
    ids = {p["venture"]["id"]: p["id"] for p in first.get_json()["pitches"]}
    assert [p["position"] for p in first.get_json()["pitches"]] == [1, 2, 3]

    second = client.put(url, json={"submission_ids": [c.id, a.id, b.id]}, headers=as_org)

    assert second.status_code == 200
    pitches = second.get_json()["pitches"]
    assert [p["venture"]["id"] for p in pitches] == [c.venture_id, a.venture_id, b.venture_id]
    assert [p["position"] for p in pitches] == [1, 2, 3]
    assert all(ids[p["venture"]["id"]] == p["id"] for p in pitches)  # same pitch ids
    assert [s for s, _ in _order(db, session.id)] == [c.id, a.id, b.id]

    # dropping one keeps the others' ids and closes the gap
    third = client.put(url, json={"submission_ids": [b.id, c.id]}, headers=as_org).get_json()["pitches"]
    assert [(p["id"], p["position"]) for p in third] == [(ids[b.venture_id], 1), (ids[c.venture_id], 2)]
    assert count(db, Pitch) == 2


def test_bad_running_orders_are_422_and_change_nothing(client, make, db, as_org):
    event = make.event()
    session = make.session(event)
    other_session = make.session(event)
    a, b = (make.submission(event_=event, accepted=True) for _ in range(2))
    pending = make.submission(event_=event)
    rejected = make.submission(event_=event)
    other_event = make.submission(accepted=True)
    elsewhere = make.submission(event_=event, accepted=True)
    db.session.commit()
    from pitchtank.events import services

    rejected = db.session.get(Submission, rejected.id)
    services.decide(rejected, accept=False, note="", actor=make.user(Role.ORGANIZER))
    services.set_running_order(db.session.get(PitchSession, other_session.id), [elsewhere.id])
    db.session.commit()
    url = f"/api/v1/sessions/{session.id}/pitches"
    assert client.put(url, json={"submission_ids": [a.id, b.id]}, headers=as_org).status_code == 200
    before = _order(db, session.id)

    for ids in ([a.id, a.id], [a.id, pending.id], [rejected.id], [other_event.id], [a.id, 987654],
                [elsewhere.id]):
        problem = assert_problem(client.put(url, json={"submission_ids": ids}, headers=as_org), 422)
        assert problem["errors"]["submission_ids"], ids
        assert _order(db, session.id) == before
    for body in ({"submission_ids": "1,2"}, {"submission_ids": ["1"]}, {}, {"submission_ids": [a.id], "x": 1}):
        assert_problem(client.put(url, json=body, headers=as_org), 422)
    assert _order(db, session.id) == before


def test_running_order_needs_an_organizer(client, make, db, api_token):
    event = make.event()
    session = make.session(event)
    accepted = make.submission(event_=event, accepted=True)
    db.session.commit()
    url = f"/api/v1/sessions/{session.id}/pitches"
    body = {"submission_ids": [accepted.id]}
    for role in (Role.ENTREPRENEUR, Role.JUDGE, Role.INVESTOR):
        assert_problem(client.put(url, json=body, headers=api_token(role)), 403)
    assert_problem(client.put(url, json=body), 401)
    assert count(db, Pitch) == 0


def test_running_order_is_fixed_once_live(client, make, db, as_org):
    session, _ = make.pitching_session(pitches=2, judges=0)
    session.status = SessionStatus.LIVE
    db.session.commit()
    before = _order(db, session.id)
    reversed_ids = [s for s, _ in reversed(before)]
    assert_problem(client.put(f"/api/v1/sessions/{session.id}/pitches",
                              json={"submission_ids": reversed_ids}, headers=as_org), 409)
    assert _order(db, session.id) == before


def test_reject_and_withdraw_release_the_pitch(client, make, db, owner, as_owner, as_org):
    event = make.event()
    session = make.session(event)
    a = make.submission(make.venture(owner), event, accepted=True)
    b, c = (make.submission(event_=event, accepted=True) for _ in range(2))
    db.session.commit()
    url = f"/api/v1/sessions/{session.id}/pitches"
    assert client.put(url, json={"submission_ids": [a.id, b.id, c.id]}, headers=as_org).status_code == 200

    assert client.post(f"/api/v1/submissions/{b.id}/reject", json={}, headers=as_org).status_code == 200
    assert [(s, ) for s, _ in _order(db, session.id)] == [(a.id,), (c.id,)]
    assert client.post(f"/api/v1/submissions/{a.id}/withdraw", headers=as_owner).status_code == 200
    shown = client.get(f"/api/v1/sessions/{session.id}").get_json()["pitches"]
    assert [(p["venture"]["id"], p["position"]) for p in shown] == [(c.venture_id, 1)]


def _judge_ids(db, session_id) -> set[int]:
    db.session.expire_all()
    return set(db.session.scalars(select(SessionJudge.user_id).where(SessionJudge.session_id == session_id)))


def test_judges_are_set_and_replaced(client, make, db, as_org):
    session = make.session()
    j1, j2, j3 = (make.user(Role.JUDGE) for _ in range(3))
    db.session.commit()
    url = f"/api/v1/sessions/{session.id}/judges"

    first = client.put(url, json={"user_ids": [j1.id, j2.id, j1.id]}, headers=as_org)
    assert first.status_code == 200
    assert sorted(j["id"] for j in first.get_json()["judges"]) == sorted([j1.id, j2.id])
    assert _judge_ids(db, session.id) == {j1.id, j2.id}

    second = client.put(url, json={"user_ids": [j3.id, j2.id]}, headers=as_org)
    assert second.status_code == 200
    assert _judge_ids(db, session.id) == {j2.id, j3.id}
    assert client.put(url, json={"user_ids": []}, headers=as_org).status_code == 200
    assert _judge_ids(db, session.id) == set()


def test_only_judges_can_be_judges(client, make, db, as_org, organizer, api_token):
    session = make.session()
    judge = make.user(Role.JUDGE)
    entrepreneur = make.user(Role.ENTREPRENEUR)
    investor = make.user(Role.INVESTOR)
    db.session.commit()
    url = f"/api/v1/sessions/{session.id}/judges"
    assert client.put(url, json={"user_ids": [judge.id]}, headers=as_org).status_code == 200

    for ids in ([judge.id, entrepreneur.id], [investor.id], [organizer.id], [987654]):
        problem = assert_problem(client.put(url, json={"user_ids": ids}, headers=as_org), 422)
        assert problem["errors"]["user_ids"]
        assert _judge_ids(db, session.id) == {judge.id}
    assert_problem(client.put(url, json={"user_ids": [str(judge.id)]}, headers=as_org), 422)
    assert_problem(client.put(url, json={"user_ids": [judge.id]}, headers=api_token(Role.JUDGE)), 403)
    assert_problem(client.put(url, json={"user_ids": [judge.id]}), 401)
    assert_problem(client.put("/api/v1/sessions/987654/judges", json={"user_ids": [judge.id]},
                              headers=as_org), 404)
    assert _judge_ids(db, session.id) == {judge.id}


def test_times_are_rfc3339_with_offset(client, make, db):
    event = make.event(starts_at=datetime(2030, 5, 1, 16, 0, tzinfo=UTC),
                       ends_at=datetime(2030, 5, 2, 1, 0, tzinfo=UTC))
    make.session(event, starts_at=datetime(2030, 5, 1, 18, 30, tzinfo=UTC))
    db.session.commit()
    body = client.get(f"/api/v1/events/{event.id}").get_json()
    assert parse_time(body["starts_at"]) == datetime(2030, 5, 1, 10, 0, tzinfo=MEXICO)
    assert parse_time(body["sessions"][0]["starts_at"]) == datetime(2030, 5, 1, 18, 30, tzinfo=UTC)
    parse_time(body["submissions_open_at"])
