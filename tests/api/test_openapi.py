"""The OpenAPI document is valid, complete, and every documented operation answers as documented."""

from __future__ import annotations

import io
import json
import re
from datetime import date, datetime, timedelta

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate as validate_openapi
from pypdf import PdfWriter
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from pitchtank.accounts.models import Role
from pitchtank.core.types import utcnow
from pitchtank.events.models import Submission
from pitchtank.fund import services as fund_services
from tests.factories import PASSWORD
from tests.stripe_fake import FAKE_WEBHOOK_SECRET, make_event, signed_headers

DOC_URI = "urn:pitchtank:openapi"
PROBLEM_TYPE = "application/problem+json"
# Every path and method of API.md that exists so far.
CONTRACT_OPERATIONS = {
    ("post", "/tokens"),
    ("delete", "/tokens/current"),
    ("get", "/me"),
    ("get", "/ventures"),
    ("post", "/ventures"),
    ("get", "/ventures/{venture_id}"),
    ("patch", "/ventures/{venture_id}"),
    ("put", "/ventures/{venture_id}/deck"),
    ("get", "/events"),
    ("post", "/events"),
    ("get", "/events/{event_id}"),
    ("get", "/events/{event_id}/submissions"),
    ("post", "/events/{event_id}/submissions"),
    ("post", "/events/{event_id}/sessions"),
    ("post", "/submissions/{submission_id}/accept"),
    ("post", "/submissions/{submission_id}/reject"),
    ("get", "/sessions/{session_id}"),
    ("put", "/sessions/{session_id}/pitches"),
    ("put", "/sessions/{session_id}/judges"),
}
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_TYPE
    body = response.get_json()
    assert body["status"] == status
    assert isinstance(body["type"], str) and body["type"]
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def pdf_bytes(pages: int = 1) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=612, height=792)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


# --------------------------------------------------------------------------
# Checking responses against the document
# --------------------------------------------------------------------------

format_checker = FormatChecker()


@format_checker.checks("date-time", raises=ValueError)
def _is_rfc3339_with_offset(value) -> bool:
    if not isinstance(value, str):
        return True
    if not RFC3339.match(value):
        raise ValueError(f"{value!r} is not RFC 3339 with an offset")
    return datetime.fromisoformat(value).tzinfo is not None


def _pointer(*parts: str) -> str:
    return "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


class Contract:
    """Sends requests through the test client and checks each answer against the document."""

    def __init__(self, client, document: dict):
        self.client = client
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(DOC_URI, resource)
        self.seen: dict[tuple[str, str], set[int]] = {}

    def validator(self, *pointer_parts: str) -> Draft202012Validator:
        ref = f"{DOC_URI}#/{_pointer(*pointer_parts)}"
        return Draft202012Validator({"$ref": ref}, registry=self.registry, format_checker=format_checker)

    def call(self, method: str, template: str, expect: int, *, params: dict | None = None, **kwargs):
        path = template.format(**(params or {}))
        response = self.client.open("/api/v1" + path, method=method.upper(), **kwargs)
        assert response.status_code == expect, (method, path, response.get_data(as_text=True)[:500])
        self.check(method, template, response)
        self.seen.setdefault((method, template), set()).add(response.status_code)
        return response

    def check(self, method: str, template: str, response) -> None:
        status = str(response.status_code)
        operation = self.document["paths"][template][method]
        assert status in operation["responses"], (
            f"{method.upper()} {template} answered {status}, which is not documented"
        )
        documented = operation["responses"][status]
        if response.status_code >= 400:
            assert_problem(response, response.status_code)
        content = documented.get("content")
        if not content:
            assert response.get_data() == b"", f"{method.upper()} {template} {status} has an undocumented body"
            return
        assert response.mimetype in content, (method, template, status, response.mimetype, list(content))
        media = content[response.mimetype]
        if response.mimetype == "text/event-stream":
            # An endless stream: read the opening (reconnect delay and snapshots), then hang up.
            chunks = iter(response.response)
            opening = [next(chunks) for _ in range(3)]
            response.close()
            text = b"".join(c if isinstance(c, bytes) else c.encode() for c in opening).decode()
            assert text.startswith("retry: ")
            assert re.search(r"^id: \d+\nevent: (pitch|leaderboard)\ndata: \{", text, re.M), text
            return
        if response.mimetype == "application/json" or response.mimetype.endswith("+json"):
            body = response.get_json()
            validator = self.validator("paths", template, method, "responses", status, "content",
                                       response.mimetype, "schema")
            errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
            assert not errors, f"{method.upper()} {template} {status}: " + "; ".join(
                f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]
            )
        else:
            assert media["schema"].get("type") == "string"
            assert response.get_data(), "a documented binary body must not be empty"


@pytest.fixture
def document(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


@pytest.fixture
def contract(client, document):
    return Contract(client, document)


# --------------------------------------------------------------------------
# The document itself
# --------------------------------------------------------------------------


def test_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    validate_openapi(document)  # raises on any violation
    assert document["servers"] == [{"url": "/api/v1"}]


def test_every_contract_operation_is_documented(document):
    documented = {(method, path) for path, ops in document["paths"].items() for method in ops}
    missing = CONTRACT_OPERATIONS - documented
    assert not missing, f"API.md operations missing from the document: {sorted(missing)}"


def _flask_rule_to_openapi(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def test_routes_and_document_match_exactly(app, document):
    routed = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = _flask_rule_to_openapi(rule.rule[len("/api/v1"):])
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routed.add((method.lower(), path))
    documented = {(method, path) for path, ops in document["paths"].items() for method in ops}
    assert routed - documented == set(), "routes under /api/v1 that the document does not describe"
    assert documented - routed == set(), "documented operations that no route serves"


def test_operations_are_described_consistently(document):
    operation_ids = []
    for path, ops in document["paths"].items():
        names = re.findall(r"{(\w+)}", path)
        for method, op in ops.items():
            operation_ids.append(op["operationId"])
            assert op["summary"], (method, path)
            params = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "path"}
            assert sorted(params) == sorted(names), (method, path)
            assert all(p["required"] and p["schema"] == {"type": "integer"} for p in params.values())
            responses = op["responses"]
            assert any(code.startswith("2") for code in responses), (method, path)
            if op.get("security") != [{}, {"bearerAuth": []}, {"cookieAuth": []}]:
                # Not public: callers without credentials get a documented 401.
                assert "401" in responses, (method, path)
            if "requestBody" in op:
                assert "422" in responses, (method, path)
            for code, described in responses.items():
                if int(code) >= 400:
                    assert list(described["content"]) == [PROBLEM_TYPE], (method, path, code)
    assert len(operation_ids) == len(set(operation_ids)), "operationIds must be unique"


def test_problem_schema_has_the_rfc_9457_fields(document):
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail"} <= set(problem["required"])
    assert "errors" in problem["properties"]


# --------------------------------------------------------------------------
# Every documented operation answers as documented
# --------------------------------------------------------------------------

# Each scenario test below calls every operation of its tags successfully at least once.
CORE_TAGS = {"meta", "accounts", "ventures", "events", "sessions", "submissions"}
LIVE_TAGS = {"judging", "offers"}
FUND_TAGS = {"fund"}


def _operations(document, tags: set[str]) -> set[tuple[str, str]]:
    return {(method, path) for path, ops in document["paths"].items() for method, op in ops.items()
            if set(op["tags"]) & tags}


def assert_every_operation_succeeded(contract: Contract, document, tags: set[str]) -> None:
    missing = sorted(op for op in _operations(document, tags)
                     if not any(200 <= s < 300 for s in contract.seen.get(op, ())))
    assert not missing, f"add a successful call for these documented operations: {missing}"


def test_every_documented_operation_belongs_to_a_scenario(document):
    untagged = sorted((method, path) for path, ops in document["paths"].items() for method, op in ops.items()
                      if not set(op["tags"]) & (CORE_TAGS | LIVE_TAGS | FUND_TAGS))
    assert not untagged, f"write a contract scenario (and a tag set) for: {untagged}"


def test_anonymous_probe_of_every_operation_answers_as_documented(contract, document):
    """Any operation called without credentials, body or existing ids still answers with a
    documented status and body (401, 404, 422 ...), never a 500 or an HTML page."""
    for template, ops in document["paths"].items():
        path = re.sub(r"{\w+}", "987654", template)
        for method in ops:
            response = contract.client.open("/api/v1" + path, method=method.upper())
            assert response.status_code < 500, (method, template, response.get_data(as_text=True))
            contract.check(method, template, response)


def test_core_operations_answer_as_documented(contract, document, make, db, api_token):
    c = contract
    now = utcnow()
    organizer = make.user(Role.ORGANIZER)
    owner = make.user(Role.ENTREPRENEUR)
    judge = make.user(Role.JUDGE)
    event = make.event(open_for_submissions=True)
    session = make.session(event)
    db.session.commit()
    as_org = api_token(organizer)
    as_owner = api_token(owner)
    as_other = api_token(Role.ENTREPRENEUR)
    missing_id = {"venture_id": 987654, "event_id": 987654, "submission_id": 987654,
                  "session_id": 987654}

    # meta and accounts
    c.call("get", "/openapi.json", 200)
    c.call("post", "/tokens", 201, json={"email": owner.email, "password": PASSWORD})
    c.call("post", "/tokens", 401, json={"email": owner.email, "password": "wrong password!"})
    c.call("post", "/tokens", 422, json={"email": owner.email})
    c.call("get", "/me", 200, headers=as_owner)
    c.call("get", "/me", 401)
    throwaway = api_token(owner)
    c.call("delete", "/tokens/current", 204, headers=throwaway)
    c.call("delete", "/tokens/current", 401, headers=throwaway)

    # ventures
    venture_body = {
        "name": "Cobre Analytics", "tagline": "Mantenimiento predictivo", "sector": "automotive",
        "stage": "prototype", "description": "Sensores y modelos.", "ask_cents": 250_000_00,
        "equity_offered_pct": 10,
    }
    created = c.call("post", "/ventures", 201, json=venture_body, headers=as_owner).get_json()
    c.call("post", "/ventures", 401, json=venture_body)
    c.call("post", "/ventures", 403, json=venture_body, headers=as_org)
    c.call("post", "/ventures", 422, json={**venture_body, "ask_cents": -1}, headers=as_owner)
    vid = {"venture_id": created["id"]}
    c.call("get", "/ventures", 200)
    c.call("get", "/ventures", 200, headers=as_owner)
    c.call("get", "/ventures/{venture_id}", 200, params=vid, headers=as_owner)
    c.call("get", "/ventures/{venture_id}", 404, params=vid, headers=as_other)
    c.call("patch", "/ventures/{venture_id}", 200, params=vid, json={"tagline": "Nuevo"}, headers=as_owner)
    c.call("patch", "/ventures/{venture_id}", 401, params=vid, json={"tagline": "x"})
    c.call("patch", "/ventures/{venture_id}", 403, params=vid, json={"tagline": "x"}, headers=as_org)
    c.call("patch", "/ventures/{venture_id}", 404, params=vid, json={"tagline": "x"}, headers=as_other)
    c.call("patch", "/ventures/{venture_id}", 422, params=vid, json={"ask_cents": "x"}, headers=as_owner)
    c.call("get", "/ventures/{venture_id}/deck", 404, params=vid, headers=as_owner)  # none yet
    pdf = {"data": pdf_bytes(), "content_type": "application/pdf"}
    c.call("put", "/ventures/{venture_id}/deck", 200, params=vid, headers=as_owner, **pdf)
    c.call("put", "/ventures/{venture_id}/deck", 401, params=vid, **pdf)
    c.call("put", "/ventures/{venture_id}/deck", 403, params=vid, headers=as_org, **pdf)
    c.call("put", "/ventures/{venture_id}/deck", 404, params=vid, headers=as_other, **pdf)
    c.call("put", "/ventures/{venture_id}/deck", 415, params=vid, headers=as_owner,
           data=pdf["data"], content_type="application/octet-stream")
    c.call("put", "/ventures/{venture_id}/deck", 422, params=vid, headers=as_owner,
           data=b"\x89PNG\r\n\x1a\n", content_type="application/pdf")
    c.call("get", "/ventures/{venture_id}/deck", 200, params=vid, headers=as_owner)
    c.call("get", "/ventures/{venture_id}/deck", 200, params=vid, headers=as_org)
    c.call("get", "/ventures/{venture_id}/deck", 404, params=vid, headers=as_other)

    # events and sessions
    event_body = {
        "name": "Demo Day Bajío", "venue": "Poliforum León",
        "starts_at": (now + timedelta(days=30)).isoformat(),
        "ends_at": (now + timedelta(days=31)).isoformat(),
        "submissions_open_at": (now - timedelta(days=1)).isoformat(),
        "submissions_close_at": (now + timedelta(days=20)).isoformat(),
    }
    c.call("post", "/events", 201, json=event_body, headers=as_org)
    c.call("post", "/events", 401, json=event_body)
    c.call("post", "/events", 403, json=event_body, headers=as_owner)
    c.call("post", "/events", 422, json={**event_body, "ends_at": event_body["submissions_open_at"]},
           headers=as_org)
    eid = {"event_id": event.id}
    c.call("get", "/events", 200)
    c.call("get", "/events/{event_id}", 200, params=eid)
    c.call("get", "/events/{event_id}", 404, params=missing_id)
    session_body = {"title": "Tarde", "starts_at": event.starts_at.isoformat(), "pitch_minutes": 5,
                    "qa_minutes": 3}
    c.call("post", "/events/{event_id}/sessions", 201, params=eid, json=session_body, headers=as_org)
    c.call("post", "/events/{event_id}/sessions", 401, params=eid, json=session_body)
    c.call("post", "/events/{event_id}/sessions", 403, params=eid, json=session_body, headers=as_owner)
    c.call("post", "/events/{event_id}/sessions", 404, params=missing_id, json=session_body, headers=as_org)
    c.call("post", "/events/{event_id}/sessions", 422, params=eid,
           json={**session_body, "pitch_minutes": 0}, headers=as_org)

    # applications
    apply_body = {"venture_id": created["id"]}
    applied = c.call("post", "/events/{event_id}/submissions", 201, params=eid, json=apply_body,
                     headers=as_owner).get_json()
    c.call("post", "/events/{event_id}/submissions", 401, params=eid, json=apply_body)
    c.call("post", "/events/{event_id}/submissions", 403, params=eid, json=apply_body, headers=as_org)
    c.call("post", "/events/{event_id}/submissions", 404, params=eid, json=apply_body, headers=as_other)
    c.call("post", "/events/{event_id}/submissions", 409, params=eid, json=apply_body, headers=as_owner)
    c.call("post", "/events/{event_id}/submissions", 422, params=eid, json={"venture_id": "1"},
           headers=as_owner)
    c.call("get", "/events/{event_id}/submissions", 200, params=eid, headers=as_org)
    c.call("get", "/events/{event_id}/submissions", 401, params=eid)
    c.call("get", "/events/{event_id}/submissions", 403, params=eid, headers=as_owner)
    c.call("get", "/events/{event_id}/submissions", 404, params=missing_id, headers=as_org)

    sid = {"submission_id": applied["id"]}
    c.call("post", "/submissions/{submission_id}/accept", 200, params=sid, json={"note": "¡Bienvenidos!"},
           headers=as_org)
    c.call("post", "/submissions/{submission_id}/accept", 409, params=sid, json={}, headers=as_org)
    c.call("post", "/submissions/{submission_id}/accept", 401, params=sid, json={})
    c.call("post", "/submissions/{submission_id}/accept", 403, params=sid, json={}, headers=as_owner)
    c.call("post", "/submissions/{submission_id}/accept", 404, params=missing_id, json={}, headers=as_org)
    c.call("post", "/submissions/{submission_id}/reject", 422, params=sid, json={"note": "x" * 5000},
           headers=as_org)
    other_sub = make.submission(event_=event)
    db.session.commit()
    other_sid = {"submission_id": other_sub.id}
    c.call("post", "/submissions/{submission_id}/reject", 200, params=other_sid, json={}, headers=as_org)
    c.call("post", "/submissions/{submission_id}/reject", 409, params=other_sid, json={}, headers=as_org)
    c.call("post", "/submissions/{submission_id}/reject", 401, params=other_sid, json={})
    c.call("post", "/submissions/{submission_id}/reject", 403, params=other_sid, json={}, headers=as_owner)
    c.call("post", "/submissions/{submission_id}/reject", 404, params=missing_id, json={}, headers=as_org)
    withdrawable = make.submission(make.venture(owner), event)
    db.session.commit()
    wid = {"submission_id": withdrawable.id}
    c.call("post", "/submissions/{submission_id}/withdraw", 401, params=wid)
    c.call("post", "/submissions/{submission_id}/withdraw", 403, params=wid, headers=as_org)
    c.call("post", "/submissions/{submission_id}/withdraw", 404, params=wid, headers=as_other)
    c.call("post", "/submissions/{submission_id}/withdraw", 200, params=wid, headers=as_owner)
    c.call("post", "/submissions/{submission_id}/withdraw", 409, params=wid, headers=as_owner)

    # now public: the deck is protected, the venture is not
    c.call("get", "/ventures/{venture_id}", 200, params=vid)
    c.call("get", "/ventures/{venture_id}/deck", 401, params=vid)
    c.call("get", "/ventures/{venture_id}/deck", 403, params=vid, headers=as_other)
    c.call("patch", "/ventures/{venture_id}", 403, params=vid, json={"tagline": "x"}, headers=as_other)
    c.call("get", "/ventures/{venture_id}", 404, params=missing_id)

    # running order and judges
    ssid = {"session_id": session.id}
    order = {"submission_ids": [applied["id"]]}
    c.call("put", "/sessions/{session_id}/pitches", 200, params=ssid, json=order, headers=as_org)
    c.call("put", "/sessions/{session_id}/pitches", 401, params=ssid, json=order)
    c.call("put", "/sessions/{session_id}/pitches", 403, params=ssid, json=order, headers=as_owner)
    c.call("put", "/sessions/{session_id}/pitches", 404, params=missing_id, json=order, headers=as_org)
    c.call("put", "/sessions/{session_id}/pitches", 422, params=ssid,
           json={"submission_ids": [other_sub.id]}, headers=as_org)
    judges = {"user_ids": [judge.id]}
    c.call("put", "/sessions/{session_id}/judges", 200, params=ssid, json=judges, headers=as_org)
    c.call("put", "/sessions/{session_id}/judges", 401, params=ssid, json=judges)
    c.call("put", "/sessions/{session_id}/judges", 403, params=ssid, json=judges, headers=as_owner)
    c.call("put", "/sessions/{session_id}/judges", 404, params=missing_id, json=judges, headers=as_org)
    c.call("put", "/sessions/{session_id}/judges", 422, params=ssid, json={"user_ids": [owner.id]},
           headers=as_org)
    shown = c.call("get", "/sessions/{session_id}", 200, params=ssid).get_json()
    assert [p["venture"]["id"] for p in shown["pitches"]] == [created["id"]]
    c.call("get", "/sessions/{session_id}", 404, params=missing_id)

    assert db.session.get(Submission, applied["id"]).pitch is not None

    assert_every_operation_succeeded(c, document, CORE_TAGS)
    statuses = set().union(*c.seen.values())
    assert {401, 403, 404, 409, 415, 422} <= statuses


def test_live_judging_and_offers_answer_as_documented(contract, document, make, db, api_token):
    """The live show: rubric, control, scores, recusal, leaderboard, stream, votes, offers."""
    c = contract
    missing_id = {"session_id": 987654}
    as_org = api_token(Role.ORGANIZER)
    as_owner = api_token(Role.ENTREPRENEUR)
    live, (judge_a, judge_b) = make.pitching_session(pitches=2, judges=2)
    investor = make.user(Role.INVESTOR)
    db.session.commit()
    judges = {"user_ids": [judge_a.id, judge_b.id]}
    as_investor = api_token(investor)
    pitch_owner = api_token(live.pitches[0].venture.owner)
    lid = {"session_id": live.id}
    first_pitch = {"pitch_id": live.pitches[0].id}
    as_judge_a, as_judge_b = api_token(judge_a), api_token(judge_b)
    rubric = {"criteria": [
        {"key": "team", "name": "Equipo", "weight": 40, "min": 1, "max": 10},
        {"key": "market", "name": "Mercado", "weight": 30, "min": 1, "max": 10},
        {"key": "traction", "name": "Tracción", "weight": 30, "min": 1, "max": 10},
    ]}
    c.call("get", "/sessions/{session_id}/leaderboard", 403, params=lid)
    # Before the show the stream is open; its leaderboard is hidden from the audience.
    c.call("get", "/sessions/{session_id}/stream", 200, params=lid, buffered=False)
    c.call("put", "/sessions/{session_id}/rubric", 401, params=lid, json=rubric)
    c.call("put", "/sessions/{session_id}/rubric", 403, params=lid, json=rubric, headers=as_owner)
    c.call("put", "/sessions/{session_id}/rubric", 404, params=missing_id, json=rubric, headers=as_org)
    c.call("put", "/sessions/{session_id}/rubric", 422, params=lid, json={"criteria": [{"key": "team"}]},
           headers=as_org)
    c.call("put", "/sessions/{session_id}/rubric", 200, params=lid, json=rubric, headers=as_org)
    control = "/sessions/{session_id}/control"
    c.call("post", control, 401, params=lid, json={"action": "start"})
    c.call("post", control, 403, params=lid, json={"action": "start"}, headers=as_owner)
    c.call("post", control, 404, params=missing_id, json={"action": "start"}, headers=as_org)
    c.call("post", control, 422, params=lid, json={"action": "fly"}, headers=as_org)
    c.call("post", control, 409, params=lid, json={"action": "publish"}, headers=as_org)
    c.call("post", control, 200, params=lid, json={"action": "start"}, headers=as_org)
    c.call("post", control, 200, params=lid, json={"action": "open_scoring"}, headers=as_org)
    scores = "/pitches/{pitch_id}/scores/me"
    sheet = {"scores": {"team": 8, "market": 7, "traction": 6}, "client_seq": 1}
    c.call("put", scores, 401, params=first_pitch, json=sheet)
    c.call("put", scores, 403, params=first_pitch, json=sheet, headers=as_owner)
    c.call("put", scores, 404, params={"pitch_id": 987654}, json=sheet, headers=as_judge_a)
    c.call("put", scores, 422, params=first_pitch, json={**sheet, "scores": {"team": 11, "market": 7, "traction": 6}},
           headers=as_judge_a)
    c.call("put", scores, 200, params=first_pitch, json=sheet, headers=as_judge_a)
    c.call("get", scores, 200, params=first_pitch, headers=as_judge_a)
    c.call("get", scores, 401, params=first_pitch)
    c.call("get", scores, 403, params=first_pitch, headers=as_owner)
    c.call("get", scores, 404, params={"pitch_id": 987654}, headers=as_judge_a)
    recusal = "/pitches/{pitch_id}/recusal"
    c.call("post", recusal, 401, params=first_pitch, json={"reason": "Soy socio"})
    c.call("post", recusal, 403, params=first_pitch, json={"reason": "Soy socio"}, headers=as_owner)
    c.call("post", recusal, 404, params={"pitch_id": 987654}, json={}, headers=as_judge_b)
    c.call("post", recusal, 422, params=first_pitch, json={"reason": "x" * 10_000}, headers=as_judge_b)
    c.call("post", recusal, 201, params=first_pitch, json={"reason": "Soy socio"}, headers=as_judge_b)
    c.call("post", recusal, 409, params=first_pitch, json={"reason": "otra vez"}, headers=as_judge_b)
    votes = "/sessions/{session_id}/votes"
    c.call("post", votes, 404, params=lid, json={"pitch_id": 987654})
    c.call("post", votes, 404, params=missing_id, json=first_pitch)
    c.call("post", votes, 422, params=lid, json={"pitch_id": "1"})
    c.call("post", votes, 201, params=lid, json=first_pitch)
    c.call("post", votes, 409, params=lid, json=first_pitch)  # the same browser again
    offers = "/pitches/{pitch_id}/offers"
    offer = {"amount_cents": 2_000_000_00, "equity_pct": "10.5", "terms": "SAFE con descuento"}
    second_pitch = {"pitch_id": live.pitches[1].id}
    made = c.call("post", offers, 201, params=first_pitch, json=offer, headers=as_investor).get_json()
    assert made["equity_pct"] == "10.50"
    c.call("post", offers, 409, params=second_pitch, json=offer, headers=as_investor)  # not on stage yet
    c.call("post", offers, 422, params=first_pitch, json={**offer, "equity_pct": 0}, headers=as_investor)
    c.call("post", offers, 403, params=first_pitch, json=offer, headers=as_owner)
    c.call("post", offers, 404, params={"pitch_id": 987654}, json=offer, headers=as_investor)
    c.call("post", offers, 401, params=first_pitch, json=offer)
    declined = c.call("post", offers, 201, params=first_pitch, json=offer, headers=as_investor).get_json()
    oid, did = {"offer_id": made["id"]}, {"offer_id": declined["id"]}
    c.call("post", "/offers/{offer_id}/accept", 401, params=oid)
    c.call("post", "/offers/{offer_id}/accept", 404, params={"offer_id": 987654}, headers=pitch_owner)
    c.call("post", "/offers/{offer_id}/accept", 200, params=oid, headers=pitch_owner)
    c.call("post", "/offers/{offer_id}/accept", 409, params=oid, headers=pitch_owner)
    c.call("post", "/offers/{offer_id}/decline", 200, params=did, headers=pitch_owner)
    c.call("post", "/offers/{offer_id}/decline", 409, params=did, headers=pitch_owner)
    board = c.call("get", "/sessions/{session_id}/leaderboard", 200, params=lid)
    c.call("get", "/sessions/{session_id}/leaderboard", 304, params=lid,
           headers={"If-None-Match": board.headers["ETag"]})
    c.call("get", "/sessions/{session_id}/leaderboard", 404, params=missing_id)
    c.call("get", "/sessions/{session_id}/stream", 200, params=lid, buffered=False)
    c.call("get", "/sessions/{session_id}/stream", 404, params=missing_id)
    c.call("post", control, 200, params=lid, json={"action": "close_scoring"}, headers=as_org)
    c.call("put", scores, 409, params=first_pitch, json={**sheet, "client_seq": 2}, headers=as_judge_a)
    c.call("put", "/sessions/{session_id}/rubric", 409, params=lid, json=rubric, headers=as_org)
    c.call("post", control, 200, params=lid, json={"action": "next"}, headers=as_org)
    c.call("post", control, 200, params=lid, json={"action": "end"}, headers=as_org)
    c.call("post", control, 200, params=lid, json={"action": "publish"}, headers=as_org)
    c.call("post", control, 409, params=lid, json={"action": "publish"}, headers=as_org)
    c.call("put", "/sessions/{session_id}/judges", 409, params=lid, json=judges, headers=as_org)
    c.call("put", "/sessions/{session_id}/pitches", 409, params=lid, json={"submission_ids": []},
           headers=as_org)
    c.call("get", "/sessions/{session_id}/leaderboard", 200, params=lid)
    assert 304 in c.seen[("get", "/sessions/{session_id}/leaderboard")]
    assert_every_operation_succeeded(c, document, LIVE_TAGS)


def _valid_clabe(first_17: str) -> str:
    return next(first_17 + str(d) for d in range(10) if fund_services.is_valid_clabe(first_17 + str(d)))


def test_an_unconfirmed_email_gets_the_documented_403_from_apply_pledge_and_offer(
        contract, document, make, db, login_as):
    c = contract
    entrepreneur = make.user(Role.ENTREPRENEUR, email_verified=False)
    investor = make.user(Role.INVESTOR, email_verified=False)
    venture, event = make.venture(entrepreneur), make.event()
    session, _judges = make.pitching_session(pitches=1, judges=1)
    the_fund = fund_services.create_fund(make.user(Role.ORGANIZER), fund_services.FundData(
        name="Fondo", target_cents=50_000_000_00, min_pledge_cents=100_000_00,
        commitment_deadline=date.today() + timedelta(days=90), clabe=_valid_clabe("01222500012345678"),
        cooling_off_days=7))
    english = {"Accept-Language": "en"}
    calls = [
        (entrepreneur, "/events/{event_id}/submissions", {"event_id": event.id}, {"venture_id": venture.id}),
        (investor, "/funds/{fund_id}/pledges", {"fund_id": the_fund.id}, {"amount_cents": 100_000_00}),
        (investor, "/pitches/{pitch_id}/offers", {"pitch_id": session.pitches[0].id},
         {"amount_cents": 1_000_000_00, "equity_pct": "5"}),
    ]
    for user, template, params, body in calls:
        assert "email address is not confirmed" in document["paths"][template]["post"]["responses"]["403"][
            "description"]
        login_as(user)  # an unconfirmed account cannot get a token; its browser session can call the API
        refused = c.call("post", template, 403, params=params, json=body,
                         headers={**english, "Idempotency-Key": f"unconfirmed-{template}"})
        assert "Confirm your email address first" in refused.get_json()["detail"]


def test_fund_operations_answer_as_documented(contract, document, make, db, api_token, app, monkeypatch):
    c = contract
    # Stripe's webhook: refused without a configured secret, applied once signed with it.
    c.call("post", "/webhooks/stripe", 400)
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", FAKE_WEBHOOK_SECRET)
    event = json.dumps(make_event("customer.created", {"id": "cus_contract", "object": "customer"}))
    c.call("post", "/webhooks/stripe", 200, data=event, headers=signed_headers(event))
    c.call("post", "/webhooks/stripe", 400, data=event, headers=signed_headers(event, "whsec_wrong"))
    c.call("post", "/webhooks/stripe", 422, data="[]", headers=signed_headers("[]"))
    company = make.organization("Bajío Software")
    investor = make.user(Role.INVESTOR, organization_=company)
    venture = make.venture()
    make.submission(venture, accepted=True)
    db.session.commit()
    as_org, as_inv = api_token(Role.ORGANIZER), api_token(investor)
    as_inv2, as_ent = api_token(Role.INVESTOR), api_token(Role.ENTREPRENEUR)
    missing = {"fund_id": 987654, "pledge_id": 987654, "call_id": 987654, "line_id": 987654,
               "allocation_id": 987654}
    fund_body = {"name": "Fondo Clúster 2027", "target_cents": 50_000_000_00, "min_pledge_cents": 100_000_00,
                 "commitment_deadline": (date.today() + timedelta(days=90)).isoformat(),
                 "clabe": _valid_clabe("01222500012345678")}

    fund = c.call("post", "/funds", 201, json=fund_body, headers=as_org).get_json()
    c.call("post", "/funds", 401, json=fund_body)
    c.call("post", "/funds", 403, json=fund_body, headers=as_inv)
    c.call("post", "/funds", 422, json={**fund_body, "clabe": "123"}, headers=as_org)
    fid = {"fund_id": fund["id"]}
    c.call("get", "/funds", 200, headers=as_inv)
    c.call("get", "/funds", 200, headers=as_org)
    c.call("get", "/funds", 401)
    c.call("get", "/funds", 403, headers=as_ent)
    c.call("get", "/funds/{fund_id}", 200, params=fid, headers=as_inv)
    c.call("get", "/funds/{fund_id}", 404, params=missing, headers=as_inv)

    pledges = "/funds/{fund_id}/pledges"
    key = {"Idempotency-Key": "pledge-bajio-1"}
    first = c.call("post", pledges, 201, params=fid, json={"amount_cents": 1_000_000_00},
                   headers={**as_inv, **key})
    replay = c.call("post", pledges, 201, params=fid, json={"amount_cents": 1_000_000_00},
                    headers={**as_inv, **key})
    assert replay.get_json() == first.get_json()
    c.call("post", pledges, 422, params=fid, json={"amount_cents": 2_000_000_00}, headers={**as_inv, **key})
    c.call("post", pledges, 409, params=fid, json={"amount_cents": 1_000_000_00}, headers=as_inv)
    c.call("post", pledges, 422, params=fid, json={"amount_cents": 50_00}, headers=as_inv2)
    c.call("post", pledges, 403, params=fid, json={"amount_cents": 1_000_000_00}, headers=as_ent)
    c.call("post", pledges, 401, params=fid, json={"amount_cents": 1_000_000_00})
    c.call("post", pledges, 404, params=missing, json={"amount_cents": 1_000_000_00}, headers=as_inv)
    pid = {"pledge_id": first.get_json()["id"]}
    c.call("patch", "/pledges/{pledge_id}", 200, params=pid, json={"amount_cents": 2_000_000_00}, headers=as_inv)
    c.call("patch", "/pledges/{pledge_id}", 422, params=pid, json={"amount_cents": -1}, headers=as_inv)
    c.call("patch", "/pledges/{pledge_id}", 403, params=pid, json={"amount_cents": 1}, headers=as_org)
    c.call("patch", "/pledges/{pledge_id}", 404, params=pid, json={"amount_cents": 1}, headers=as_inv2)
    c.call("patch", "/pledges/{pledge_id}", 401, params=pid, json={"amount_cents": 1})
    mine = c.call("get", "/me/pledges", 200, headers=as_inv).get_json()
    assert [(p["id"], p["amount_cents"]) for p in mine["pledges"]] == [(pid["pledge_id"], 2_000_000_00)]
    c.call("get", "/me/pledges", 401)
    c.call("get", "/me/pledges", 403, headers=as_org)

    calls = "/funds/{fund_id}/capital-calls"
    call_body = {"percent": "25", "due_date": (date.today() + timedelta(days=30)).isoformat()}
    call = c.call("post", calls, 201, params=fid, json=call_body, headers=as_org).get_json()
    assert call["total_cents"] == 500_000_00 and [line["amount_cents"] for line in call["lines"]] == [500_000_00]
    c.call("post", calls, 401, params=fid, json=call_body)
    c.call("post", calls, 403, params=fid, json=call_body, headers=as_inv)
    c.call("post", calls, 404, params=missing, json=call_body, headers=as_org)
    c.call("post", calls, 422, params=fid, json={**call_body, "percent": 150}, headers=as_org)
    empty_fund = c.call("post", "/funds", 201, json={**fund_body, "name": "Sin compromisos"}, headers=as_org)
    c.call("post", calls, 409, params={"fund_id": empty_fund.get_json()["id"]}, json=call_body, headers=as_org)
    c.call("get", calls, 200, params=fid, headers=as_org)
    c.call("get", calls, 200, params=fid, headers=as_inv2)  # another company: no lines of its own
    c.call("get", calls, 401, params=fid)
    c.call("get", calls, 403, params=fid, headers=as_ent)
    c.call("get", calls, 404, params=missing, headers=as_org)
    cid = {"call_id": call["id"]}
    c.call("get", "/capital-calls/{call_id}", 200, params=cid, headers=as_inv)
    c.call("get", "/capital-calls/{call_id}", 401, params=cid)
    c.call("get", "/capital-calls/{call_id}", 403, params=cid, headers=as_ent)
    c.call("get", "/capital-calls/{call_id}", 404, params=missing, headers=as_org)

    transfers = "/call-lines/{line_id}/transfers"
    lid = {"line_id": call["lines"][0]["id"]}
    transfer = {"amount_cents": 500_000_00, "paid_on": date.today().isoformat(), "reference": "SPEI 123456"}
    c.call("post", transfers, 201, params=lid, json=transfer, headers={**as_org, "Idempotency-Key": "spei-1"})
    c.call("post", transfers, 201, params=lid, json=transfer, headers={**as_org, "Idempotency-Key": "spei-1"})
    c.call("post", transfers, 422, params=lid, json={**transfer, "reference": ""}, headers=as_org)
    c.call("post", transfers, 401, params=lid, json=transfer)
    c.call("post", transfers, 403, params=lid, json=transfer, headers=as_inv)
    c.call("post", transfers, 404, params=missing, json=transfer, headers=as_org)

    allocations = "/funds/{fund_id}/allocations"
    allocation_body = {"venture_id": venture.id, "amount_cents": 300_000_00}
    allocation = c.call("post", allocations, 201, params=fid, json=allocation_body, headers=as_org).get_json()
    c.call("post", allocations, 409, params=fid, json={**allocation_body, "amount_cents": 300_000_00},
           headers=as_org)  # only 200,000.00 left: the replayed transfer was booked once
    c.call("post", allocations, 422, params=fid, json={**allocation_body, "amount_cents": 0}, headers=as_org)
    c.call("post", allocations, 401, params=fid, json=allocation_body)
    c.call("post", allocations, 403, params=fid, json=allocation_body, headers=as_inv)
    c.call("post", allocations, 404, params=missing, json=allocation_body, headers=as_org)
    aid = {"allocation_id": allocation["id"]}
    reversal = "/allocations/{allocation_id}/reversal"
    c.call("post", reversal, 422, params=aid, json={"reason": ""}, headers=as_org)
    c.call("post", reversal, 200, params=aid, json={"reason": "Error de captura"}, headers=as_org)
    c.call("post", reversal, 409, params=aid, json={"reason": "otra vez"}, headers=as_org)
    c.call("post", reversal, 401, params=aid, json={"reason": "x"})
    c.call("post", reversal, 403, params=aid, json={"reason": "x"}, headers=as_inv)
    c.call("post", reversal, 404, params=missing, json={"reason": "x"}, headers=as_org)

    figures = c.call("get", "/funds/{fund_id}", 200, params=fid, headers=as_org).get_json()
    assert (figures["committed_cents"], figures["called_cents"], figures["paid_in_cents"],
            figures["allocated_cents"]) == (2_000_000_00, 500_000_00, 500_000_00, 0)
    ledger = c.call("get", "/funds/{fund_id}/ledger", 200, params=fid, headers=as_org).get_json()
    assert all(sum(e["amount_cents"] for e in t["entries"]) == 0 for t in ledger["transactions"])
    c.call("get", "/funds/{fund_id}/ledger", 401, params=fid)
    c.call("get", "/funds/{fund_id}/ledger", 403, params=fid, headers=as_inv)
    c.call("get", "/funds/{fund_id}/ledger", 404, params=missing, headers=as_org)
    assert_every_operation_succeeded(c, document, FUND_TAGS)
