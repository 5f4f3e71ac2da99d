"""API: ventures (create, list, read, edit) and their pitch decks."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfWriter
from sqlalchemy import func, select

from pitchtank.accounts.models import Role
from pitchtank.ventures.deck_check import MAX_DECK_BYTES
from pitchtank.ventures.models import Sector, Stage, Venture

PROBLEM_TYPE = "application/problem+json"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


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


def venture_count(db) -> int:
    return db.session.scalar(select(func.count(Venture.id)))


def deck_files(app) -> set[str]:
    folder = Path(app.config["DECK_STORAGE_DIR"])
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def payload(**overrides) -> dict:
    body = {
        "name": "Huella Verde", "tagline": "Trazabilidad para el calzado de León",
        "sector": "fashion_textiles_footwear", "stage": "mvp",
        "description": "Etiquetas y una plataforma para seguir cada par.", "ask_cents": 1_500_000_00,
        "equity_offered_pct": "12.5",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


@pytest.fixture
def owner(make, db):
    user = make.user(Role.ENTREPRENEUR)
    db.session.commit()
    return user


@pytest.fixture
def as_owner(api_token, owner):
    return api_token(owner)


def make_public(make, db, venture):
    make.submission(venture, make.event(), accepted=True)
    db.session.commit()


# --------------------------------------------------------------------------
# POST /ventures
# --------------------------------------------------------------------------


@pytest.mark.parametrize("equity", [12.5, "12.5", "12.50", 12.50])
def test_create_venture(client, db, owner, as_owner, equity):
    response = client.post("/api/v1/ventures", json=payload(equity_offered_pct=equity,
                                                            website="https://huella.mx"),
                           headers=as_owner)

    assert response.status_code == 201
    body = response.get_json()
    assert body["equity_offered_pct"] == "12.50"
    assert response.headers["Location"].endswith(f"/api/v1/ventures/{body['id']}")
    assert body["owner_id"] == owner.id
    assert body["ask_cents"] == 1_500_000_00 and body["currency"] == "MXN"
    assert body["public"] is False and body["deck"] is None
    assert (body["sector"], body["stage"], body["website"]) == ("fashion_textiles_footwear", "mvp",
                                                               "https://huella.mx")
    venture = db.session.get(Venture, body["id"])
    assert venture.owner_id == owner.id
    assert venture.equity_offered_bp == 1250 and venture.equity_offered_pct == Decimal("12.50")
    assert venture.sector is Sector.FASHION_TEXTILES_FOOTWEAR and venture.stage is Stage.MVP
    # the Location answers with the same venture
    assert client.get(response.headers["Location"], headers=as_owner).get_json() == body


def test_create_venture_trims_text(client, db, as_owner):
    response = client.post("/api/v1/ventures", json=payload(name="  Huella Verde  "), headers=as_owner)
    assert response.status_code == 201
    assert response.get_json()["name"] == "Huella Verde"
    assert db.session.get(Venture, response.get_json()["id"]).name == "Huella Verde"


@pytest.mark.parametrize("role", [Role.ORGANIZER, Role.JUDGE, Role.INVESTOR])
def test_only_entrepreneurs_create_ventures(client, db, api_token, role):
    assert_problem(client.post("/api/v1/ventures", json=payload(), headers=api_token(role)), 403)
    assert venture_count(db) == 0


def test_anonymous_cannot_create_ventures(client, db):
    assert_problem(client.post("/api/v1/ventures", json=payload()), 401)
    assert venture_count(db) == 0


BAD_VENTURES = [
    ("missing-name", payload(name=...), {"name"}),
    ("missing-everything", {}, {"name", "tagline", "sector", "stage", "description", "ask_cents",
                                "equity_offered_pct"}),
    ("ask-string", payload(ask_cents="abc"), {"ask_cents"}),
    ("ask-numeric-string", payload(ask_cents="100"), {"ask_cents"}),
    ("ask-float", payload(ask_cents=1.5), {"ask_cents"}),
    ("ask-bool", payload(ask_cents=True), {"ask_cents"}),
    ("ask-negative", payload(ask_cents=-100), {"ask_cents"}),
    ("ask-zero", payload(ask_cents=0), {"ask_cents"}),
    ("ask-absurd", payload(ask_cents=10**30), {"ask_cents"}),
    ("equity-150", payload(equity_offered_pct=150), {"equity_offered_pct"}),
    ("equity-zero", payload(equity_offered_pct=0), {"equity_offered_pct"}),
    ("equity-negative", payload(equity_offered_pct="-5"), {"equity_offered_pct"}),
    ("equity-3-decimals", payload(equity_offered_pct=12.345), {"equity_offered_pct"}),
    ("equity-text", payload(equity_offered_pct="mucho"), {"equity_offered_pct"}),
    ("equity-bool", payload(equity_offered_pct=True), {"equity_offered_pct"}),
    ("sector-unknown", payload(sector="mining"), {"sector"}),
    ("stage-unknown", payload(stage="unicorn"), {"stage"}),
    ("unknown-field", payload(valuation_cents=5), {"valuation_cents"}),
    ("name-10k", payload(name="N" * 10_000), {"name"}),
    ("name-blank", payload(name="   "), {"name"}),
    ("name-int", payload(name=7), {"name"}),
    ("website-not-url", payload(website="javascript:alert(1)"), {"website"}),
]


@pytest.mark.parametrize(("body", "fields"), [b[1:] for b in BAD_VENTURES], ids=[b[0] for b in BAD_VENTURES])
def test_bad_venture_is_422_per_field_and_writes_nothing(client, db, as_owner, body, fields):
    before = venture_count(db)
    response = client.post("/api/v1/ventures", json=body, headers=as_owner)
    problem = assert_problem(response, 422)
    assert set(problem["errors"]) == fields
    assert all(messages and all(isinstance(m, str) and m for m in messages)
               for messages in problem["errors"].values())
    assert venture_count(db) == before == 0


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (json.dumps([payload()]), "application/json"),
        ('{"name": "Huella", ', "application/json"),
        ("name=Huella&ask_cents=5", "application/x-www-form-urlencoded"),
        (json.dumps(payload()), "text/plain"),
        ("", "application/json"),
    ],
    ids=["array", "invalid-json", "form", "text-plain", "empty"],
)
def test_body_that_is_not_a_json_object_is_422(client, db, as_owner, data, content_type):
    response = client.post("/api/v1/ventures", data=data, content_type=content_type, headers=as_owner)
    errors = assert_problem(response, 422)["errors"]
    # An empty body counts as {}: then the required fields are what is missing.
    assert errors["body"] if data else {"name", "ask_cents"} <= set(errors)
    assert venture_count(db) == 0


# --------------------------------------------------------------------------
# GET /ventures, GET /ventures/{id}
# --------------------------------------------------------------------------


def test_list_shows_public_ventures_and_own_drafts_only(client, make, db, owner, as_owner):
    own_draft = make.venture(owner, name="Mi borrador")
    others_draft = make.venture(name="Borrador ajeno")
    public = make.venture(name="Ya aceptado")
    make_public(make, db, public)

    def names(headers=None):
        response = client.get("/api/v1/ventures", headers=headers or {})
        assert response.status_code == 200
        return [v["name"] for v in response.get_json()["ventures"]]

    assert names() == ["Ya aceptado"]
    assert names(as_owner) == ["Mi borrador", "Ya aceptado"]
    listed = {v["id"]: v for v in client.get("/api/v1/ventures", headers=as_owner).get_json()["ventures"]}
    assert listed[own_draft.id]["public"] is False and listed[public.id]["public"] is True
    assert others_draft.id not in listed


def test_get_own_draft_but_not_anothers(client, make, db, owner, as_owner, api_token):
    draft = make.venture(owner)
    db.session.commit()
    response = client.get(f"/api/v1/ventures/{draft.id}", headers=as_owner)
    assert response.status_code == 200 and response.get_json()["id"] == draft.id
    stranger = api_token(Role.ENTREPRENEUR)
    missing = assert_problem(client.get("/api/v1/ventures/987654", headers=stranger), 404)
    hidden = assert_problem(client.get(f"/api/v1/ventures/{draft.id}", headers=stranger), 404)
    assert hidden == missing  # the draft's existence is not revealed
    assert_problem(client.get(f"/api/v1/ventures/{draft.id}"), 404)
    # organizers review drafts
    assert client.get(f"/api/v1/ventures/{draft.id}", headers=api_token(Role.ORGANIZER)).status_code == 200


def test_public_venture_is_readable_by_anyone(client, make, db):
    venture = make.venture()
    make_public(make, db, venture)
    response = client.get(f"/api/v1/ventures/{venture.id}")
    assert response.status_code == 200
    assert response.get_json()["public"] is True


# --------------------------------------------------------------------------
# PATCH /ventures/{id}
# --------------------------------------------------------------------------


def test_owner_patches_some_fields(client, make, db, owner, as_owner):
    venture = make.venture(owner, name="Antes", ask_cents=100_000)
    db.session.commit()
    response = client.patch(f"/api/v1/ventures/{venture.id}",
                            json={"name": "Después", "equity_offered_pct": 7.25}, headers=as_owner)
    assert response.status_code == 200
    body = response.get_json()
    assert (body["name"], body["equity_offered_pct"], body["ask_cents"]) == ("Después", "7.25", 100_000)
    db.session.expire_all()
    venture = db.session.get(Venture, venture.id)
    assert (venture.name, venture.equity_offered_bp, venture.ask_cents) == ("Después", 725, 100_000)
    assert venture.tagline == "Software para PyMEs del Bajío"  # untouched


def _snapshot(db, venture_id):
    db.session.expire_all()
    v = db.session.get(Venture, venture_id)
    return (v.name, v.tagline, v.ask_cents, v.equity_offered_bp, v.sector, v.website)


@pytest.mark.parametrize(
    ("body", "field"),
    [({"ask_cents": 0}, "ask_cents"), ({"ask_cents": "abc"}, "ask_cents"),
     ({"equity_offered_pct": 100.01}, "equity_offered_pct"), ({"sector": "mining"}, "sector"),
     ({"name": ""}, "name"), ({"owner_id": 1}, "owner_id"), ({"tagline": "t" * 10_000}, "tagline")],
)
def test_bad_patch_is_422_and_changes_nothing(client, make, db, owner, as_owner, body, field):
    venture = make.venture(owner)
    db.session.commit()
    before = _snapshot(db, venture.id)
    problem = assert_problem(client.patch(f"/api/v1/ventures/{venture.id}", json={"name": "Nuevo", **body}
                                          if field != "name" else body, headers=as_owner), 422)
    assert field in problem["errors"]
    assert _snapshot(db, venture.id) == before


def test_patch_by_others(client, make, db, api_token):
    draft = make.venture(name="Borrador")
    public = make.venture(name="Público")
    make_public(make, db, public)
    drafts_before, public_before = _snapshot(db, draft.id), _snapshot(db, public.id)
    change = {"name": "Hackeado"}
    other = api_token(Role.ENTREPRENEUR)

    assert_problem(client.patch(f"/api/v1/ventures/{draft.id}", json=change, headers=other), 404)
    assert_problem(client.patch(f"/api/v1/ventures/{public.id}", json=change, headers=other), 403)
    organizer = api_token(Role.ORGANIZER)
    assert_problem(client.patch(f"/api/v1/ventures/{draft.id}", json=change, headers=organizer), 403)
    assert_problem(client.patch(f"/api/v1/ventures/{public.id}", json=change, headers=organizer), 403)
    assert_problem(client.patch(f"/api/v1/ventures/{draft.id}", json=change), 401)
    assert_problem(client.patch(f"/api/v1/ventures/{public.id}", json=change), 401)

    assert _snapshot(db, draft.id) == drafts_before
    assert _snapshot(db, public.id) == public_before


# --------------------------------------------------------------------------
# The deck
# --------------------------------------------------------------------------


def test_upload_and_read_deck(app, client, make, db, owner, as_owner, api_token):
    venture = make.venture(owner)
    db.session.commit()
    pdf = pdf_bytes(pages=3)
    files_before = deck_files(app)

    response = client.put(f"/api/v1/ventures/{venture.id}/deck", data=pdf, content_type="application/pdf",
                          headers=as_owner)

    assert response.status_code == 200
    deck = response.get_json()["deck"]
    assert (deck["size_bytes"], deck["pages"]) == (len(pdf), 3)
    assert deck["url"].endswith(f"/api/v1/ventures/{venture.id}/deck")
    db.session.expire_all()
    stored = db.session.get(Venture, venture.id)
    assert stored.deck_file and stored.deck_size == len(pdf) and stored.deck_pages == 3
    assert deck_files(app) - files_before == {stored.deck_file}

    for headers in (as_owner, api_token(Role.ORGANIZER)):
        got = client.get(f"/api/v1/ventures/{venture.id}/deck", headers=headers)
        assert got.status_code == 200
        assert got.mimetype == "application/pdf"
        assert got.get_data() == pdf
        assert "no-store" in got.headers["Cache-Control"]


def test_replacing_the_deck_removes_the_old_file(app, client, make, db, owner, as_owner):
    venture = make.venture(owner)
    db.session.commit()
    url = f"/api/v1/ventures/{venture.id}/deck"
    assert client.put(url, data=pdf_bytes(1), content_type="application/pdf", headers=as_owner).status_code == 200
    db.session.expire_all()
    first = db.session.get(Venture, venture.id).deck_file
    second_pdf = pdf_bytes(2)
    assert client.put(url, data=second_pdf, content_type="application/pdf", headers=as_owner).status_code == 200
    db.session.expire_all()
    second = db.session.get(Venture, venture.id).deck_file
    assert first != second
    assert second in deck_files(app) and first not in deck_files(app)
    assert client.get(url, headers=as_owner).get_data() == second_pdf


def test_deck_access_for_others(client, make, db, owner, as_owner, api_token):
    draft = make.venture(owner)
    public = make.venture(owner)
    db.session.commit()
    for venture in (draft, public):
        put = client.put(f"/api/v1/ventures/{venture.id}/deck", data=pdf_bytes(), content_type="application/pdf",
                         headers=as_owner)
        assert put.status_code == 200
    make_public(make, db, public)
    other = api_token(Role.ENTREPRENEUR)

    assert_problem(client.get(f"/api/v1/ventures/{public.id}/deck", headers=other), 403)
    assert_problem(client.get(f"/api/v1/ventures/{draft.id}/deck", headers=other), 404)
    assert_problem(client.get(f"/api/v1/ventures/{public.id}/deck"), 401)
    assert_problem(client.get(f"/api/v1/ventures/{draft.id}/deck"), 404)
    # investors may read public decks only
    investor = api_token(Role.INVESTOR)
    assert client.get(f"/api/v1/ventures/{public.id}/deck", headers=investor).status_code == 200
    assert_problem(client.get(f"/api/v1/ventures/{draft.id}/deck", headers=investor), 404)


def test_deck_before_upload_is_404(client, make, db, owner, as_owner):
    venture = make.venture(owner)
    db.session.commit()
    assert_problem(client.get(f"/api/v1/ventures/{venture.id}/deck", headers=as_owner), 404)


def test_only_the_owner_uploads(app, client, make, db, api_token):
    draft = make.venture()
    public = make.venture()
    make_public(make, db, public)
    files_before = deck_files(app)
    pdf = {"data": pdf_bytes(), "content_type": "application/pdf"}
    other = api_token(Role.ENTREPRENEUR)
    assert_problem(client.put(f"/api/v1/ventures/{draft.id}/deck", headers=other, **pdf), 404)
    assert_problem(client.put(f"/api/v1/ventures/{public.id}/deck", headers=other, **pdf), 403)
    assert_problem(client.put(f"/api/v1/ventures/{public.id}/deck", headers=api_token(Role.ORGANIZER), **pdf), 403)
    assert_problem(client.put(f"/api/v1/ventures/{public.id}/deck", **pdf), 401)
    db.session.expire_all()
    assert db.session.get(Venture, draft.id).deck_file is None
    assert db.session.get(Venture, public.id).deck_file is None
    assert deck_files(app) == files_before


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        (PNG, "application/pdf", 422),
        (b"", "application/pdf", 422),
        (b"%PDF-1.7\nnot really a pdf\n%%EOF", "application/pdf", 422),
        (pdf_bytes(), "image/png", 415),
        (pdf_bytes(), "application/octet-stream", 415),
        (pdf_bytes(), "multipart/form-data; boundary=x", 415),
    ],
    ids=["png-as-pdf", "empty", "fake-pdf", "png-type", "octet-stream", "multipart"],
)
def test_bad_decks_are_refused_and_nothing_is_stored(app, client, make, db, owner, as_owner,
                                                     data, content_type, status):
    venture = make.venture(owner)
    db.session.commit()
    files_before = deck_files(app)
    response = client.put(f"/api/v1/ventures/{venture.id}/deck", data=data, content_type=content_type,
                          headers=as_owner)
    problem = assert_problem(response, status)
    if status == 422:
        assert problem["errors"]["deck"]
    db.session.expire_all()
    assert db.session.get(Venture, venture.id).deck_file is None
    assert deck_files(app) == files_before


def test_deck_over_10_mb_is_refused(app, client, make, db, owner, as_owner):
    assert app.config["MAX_CONTENT_LENGTH"] > MAX_DECK_BYTES  # so the app itself answers, with a 422
    venture = make.venture(owner)
    db.session.commit()
    files_before = deck_files(app)
    pdf = pdf_bytes()
    oversized = pdf[:-6] + b" " * (MAX_DECK_BYTES + 1 - len(pdf)) + pdf[-6:]
    assert len(oversized) == MAX_DECK_BYTES + 1

    response = client.put(f"/api/v1/ventures/{venture.id}/deck", data=oversized,
                          content_type="application/pdf", headers=as_owner)

    problem = assert_problem(response, response.status_code)
    assert response.status_code in {413, 422}
    if response.status_code == 422:
        assert problem["errors"]["deck"]
    db.session.expire_all()
    assert db.session.get(Venture, venture.id).deck_file is None
    assert deck_files(app) == files_before
