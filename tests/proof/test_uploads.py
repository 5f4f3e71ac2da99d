"""Deck uploads end to end, through the page and the API: every bad file is refused with a clear
message in the user's language, nothing is stored, and the venture keeps the deck it had."""

from __future__ import annotations

import io
import time
import zlib
from pathlib import Path

import pytest
from pypdf import PdfWriter

from pitchtank.accounts.models import Role
from pitchtank.ventures.deck_check import MAX_DECK_BYTES, MAX_DECK_PAGES
from pitchtank.ventures.models import Venture


def _raw_pdf(objects: list[bytes]) -> bytes:
    """A hand-assembled PDF (object 1 is the catalog) with a correct xref table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref_at)
    return bytes(out)


def _one_page(catalog: bytes = b"", page: bytes = b"", extra: tuple[bytes, ...] = ()) -> bytes:
    return _raw_pdf([b"<< /Type /Catalog /Pages 2 0 R " + catalog + b" >>",
                     b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                     b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] " + page + b" >>", *extra])


def _blank_pages(pages: int) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=612, height=792)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _bomb() -> bytes:
    """A one-page PDF whose content stream inflates 10,000-fold (60 MB from about 60 KB)."""
    packed = zlib.compress(b"0 0 m 1 1 l S\n" * 4_500_000, 9)
    stream = b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(packed), packed)
    return _one_page(page=b"/Contents 4 0 R", extra=(stream,))


JS = b"<< /S /JavaScript /JS (app.alert(1)) >>"
# name -> (bytes, the message the user reads, in Spanish)
BAD_DECKS = {
    "malformed PDF": (b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R\n%%EOF\n",
                      "El archivo PDF está dañado o incompleto."),
    "truncated PDF": (_blank_pages(2)[:-300], "El archivo PDF está dañado o incompleto."),
    "JavaScript in /OpenAction": (_one_page(catalog=b"/OpenAction 4 0 R", extra=(JS,)),
                                  "El PDF contiene scripts, que no están permitidos."),
    "JavaScript in the names tree": (
        _one_page(catalog=b"/Names << /JavaScript << /Names [(x) 4 0 R] >> >>", extra=(JS,)),
        "El PDF contiene scripts, que no están permitidos."),
    "JavaScript in a page's additional actions": (
        _one_page(page=b"/AA << /O 4 0 R >>", extra=(JS,)),
        "El PDF contiene scripts, que no están permitidos."),
    "too many pages": (_blank_pages(MAX_DECK_PAGES + 1), f"como máximo {MAX_DECK_PAGES} páginas"),
    "text that claims to be a PDF": (b"Hola, soy un PDF. De verdad.\n" * 20, "La presentación debe ser un archivo PDF."),
    "PNG named deck.pdf": (b"\x89PNG\r\n\x1a\n" + b"\0" * 200, "La presentación debe ser un archivo PDF."),
    "empty file": (b"", None),
    "over 10 MB of PDF": (b"%PDF-1.7\n" + b"%" * (MAX_DECK_BYTES + 10) + b"\n%%EOF\n", "como máximo 10 MB"),
}


@pytest.fixture
def owner_and_venture(make, db):
    owner = make.user(Role.ENTREPRENEUR)
    venture = make.venture(owner)
    db.session.commit()
    return owner, venture


def _stored_decks(app) -> list[Path]:
    root = Path(app.config["DECK_STORAGE_DIR"])
    return sorted(root.rglob("*")) if root.exists() else []


def _refused_and_unchanged(app, db, venture_id: int, before: list[Path], deck_before):
    db.session.expire_all()
    assert db.session.get(Venture, venture_id).deck_file == deck_before
    assert _stored_decks(app) == before


@pytest.mark.parametrize("name", list(BAD_DECKS))
def test_page_refuses_bad_deck_clearly(name, app, client, db, login_as, owner_and_venture):
    data, message = BAD_DECKS[name]
    owner, venture = owner_and_venture
    login_as(owner)
    before, deck_before = _stored_decks(app), venture.deck_file
    response = client.post(f"/ventures/{venture.id}/deck", content_type="multipart/form-data",
                           data={"deck": (io.BytesIO(data), "deck.pdf", "application/pdf")})
    html = response.get_data(as_text=True)
    assert response.status_code == 422, (name, response.status_code)
    assert 'class="errors"' in html
    if message:
        assert message in html, (name, html[html.find('class="errors"'):][:400])
    _refused_and_unchanged(app, db, venture.id, before, deck_before)


@pytest.mark.parametrize("name", list(BAD_DECKS))
def test_api_refuses_bad_deck_clearly(name, app, client, db, api_token, owner_and_venture):
    data, message = BAD_DECKS[name]
    owner, venture = owner_and_venture
    before, deck_before = _stored_decks(app), venture.deck_file
    response = client.put(f"/api/v1/ventures/{venture.id}/deck", data=data,
                          headers={**api_token(owner), "Content-Type": "application/pdf"})
    assert response.status_code == 422, (name, response.status_code)
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["errors"]["deck"], problem
    if message:
        assert message in problem["errors"]["deck"][0], problem
    _refused_and_unchanged(app, db, venture.id, before, deck_before)


def test_api_refuses_a_body_that_is_not_declared_a_pdf(app, client, db, api_token, owner_and_venture):
    owner, venture = owner_and_venture
    response = client.put(f"/api/v1/ventures/{venture.id}/deck", data=_blank_pages(1),
                          headers={**api_token(owner), "Content-Type": "text/plain"})
    assert response.status_code == 415 and response.mimetype == "application/problem+json"
    assert response.get_json()["detail"]


def test_oversize_body_is_413_with_a_clear_page_and_problem(app, client, db, login_as, api_token,
                                                             owner_and_venture):
    owner, venture = owner_and_venture
    huge = b"%PDF-1.7\n" + b"0" * (app.config["MAX_CONTENT_LENGTH"] + 1024)
    before = _stored_decks(app)
    api = client.put(f"/api/v1/ventures/{venture.id}/deck", data=huge,
                     headers={**api_token(owner), "Content-Type": "application/pdf"})
    assert api.status_code == 413 and api.mimetype == "application/problem+json"
    assert api.get_json()["detail"]
    login_as(owner)
    page = client.post(f"/ventures/{venture.id}/deck", content_type="multipart/form-data",
                       data={"deck": (io.BytesIO(huge), "deck.pdf", "application/pdf")})
    assert page.status_code == 413
    assert "El archivo es demasiado grande." in page.get_data(as_text=True)
    _refused_and_unchanged(app, db, venture.id, before, None)


def test_a_compression_bomb_is_never_inflated(app, client, db, api_token, owner_and_venture):
    """The checker reads the page tree and actions, not content streams: a stream that would
    inflate to 60 MB is neither expanded nor a reason to fail."""
    owner, venture = owner_and_venture
    started = time.monotonic()
    response = client.put(f"/api/v1/ventures/{venture.id}/deck", data=_bomb(),
                          headers={**api_token(owner), "Content-Type": "application/pdf"})
    assert time.monotonic() - started < 5
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["deck"]["pages"] == 1


def test_a_good_deck_replaces_the_old_one_and_a_bad_one_keeps_it(app, client, db, api_token,
                                                                 owner_and_venture):
    owner, venture = owner_and_venture
    headers = {**api_token(owner), "Content-Type": "application/pdf"}
    assert client.put(f"/api/v1/ventures/{venture.id}/deck", data=_blank_pages(3), headers=headers).status_code == 200
    db.session.expire_all()
    kept = db.session.get(Venture, venture.id).deck_file
    before = _stored_decks(app)
    bad = client.put(f"/api/v1/ventures/{venture.id}/deck", data=BAD_DECKS["JavaScript in /OpenAction"][0],
                     headers=headers)
    assert bad.status_code == 422
    _refused_and_unchanged(app, db, venture.id, before, kept)
    assert client.get(f"/api/v1/ventures/{venture.id}/deck", headers=headers).data.startswith(b"%PDF-")
