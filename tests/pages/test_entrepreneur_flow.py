"""The entrepreneur's pages: sign up, describe a venture, upload the deck, apply, follow, withdraw.

Messages are checked in English (after POST /language lang=en): the msgids are English and
the Spanish catalog will translate them; the Spanish default is checked through <html lang>.
"""

from __future__ import annotations

import html
import io
import os
import re
from decimal import Decimal
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from pypdf import PdfWriter
from sqlalchemy import func, select

from pitchtank.accounts.models import Role, User
from pitchtank.events.models import Submission, SubmissionStatus
from pitchtank.extensions import db
from pitchtank.ventures.models import Sector, Stage, Venture
from tests import factories

PASSWORD = "una clave bastante larga"
VENTURE_FORM = {
    "name": "Agro Datos Bajío", "tagline": "Sensores de riego para productores de fresa",
    "sector": "agro_industry", "stage": "prototype",
    "description": "Medimos la humedad del suelo y avisamos cuándo regar.",
    "problem": "Se desperdicia agua.", "solution": "Sensores baratos.", "market": "Productores de Irapuato.",
    "traction": "Tres pilotos.", "team": "Ana (agrónoma), Luis (software).", "website": "https://agrodatos.mx",
    "ask": "1500000.50", "equity_offered_pct": "12.5",
}
PNG_BYTES = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
             b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
             b"\x00\x00IEND\xaeB`\x82")


def browser(app, user: User | None = None, *, english: bool = False) -> FlaskClient:
    client = app.test_client()
    if user is not None:
        with client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
            session["tfa_user_id"] = user.id  # as if two-factor was verified
    if english:
        assert client.post("/language", data={"lang": "en"}).status_code == 302
    return client


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def html_lang(response) -> str:
    match = re.search(r"<html[^>]*\blang=\"([^\"]+)\"", response.get_data(as_text=True))
    assert match, "the page has no <html lang>"
    return match.group(1)


def location(response) -> str:
    return response.headers.get("Location", "")


def pdf_bytes(pages: int = 2) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=842, height=595)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def deck_files(app) -> set[str]:
    folder = Path(app.config["DECK_STORAGE_DIR"])
    return set(os.listdir(folder)) if folder.exists() else set()


@pytest.fixture
def entrepreneur(make):
    user = make.user(Role.ENTREPRENEUR)
    db.session.commit()
    return user


def test_sign_up_describe_upload_apply_follow_and_withdraw(app, make, smtp_server):
    event = make.event(name="Demo Day León 2030")
    db.session.commit()
    client = browser(app)

    page = client.get("/signup")
    assert page.status_code == 200
    assert html_lang(page) == "es-MX"
    response = client.post("/signup", data={"name": "Ana Torres", "email": "Ana.Torres@Example.mx",
                                            "password": PASSWORD, "password_confirm": PASSWORD})
    assert response.status_code == 302
    assert location(response).endswith("/ventures/new")
    ana = db.session.scalar(select(User).where(User.email == "ana.torres@example.mx"))
    assert ana is not None and ana.roles == {Role.ENTREPRENEUR} and ana.language == "es_MX"

    page = client.get("/ventures/new")
    assert page.status_code == 200 and html_lang(page) == "es-MX"
    response = client.post("/ventures/new", data=VENTURE_FORM)
    assert response.status_code == 302
    venture = db.session.scalar(select(Venture).where(Venture.owner_id == ana.id))
    assert location(response).endswith(f"/ventures/{venture.id}/deck")
    assert venture.ask_cents == 150_000_050
    assert venture.equity_offered_bp == 1250
    assert venture.equity_offered_pct == Decimal("12.50")
    assert (venture.sector, venture.stage, venture.currency) == (Sector.AGRO_INDUSTRY, Stage.PROTOTYPE, "MXN")
    assert venture.website == "https://agrodatos.mx" and venture.team.startswith("Ana (agrónoma)")

    deck = pdf_bytes(pages=2)
    response = client.post(f"/ventures/{venture.id}/deck", data={"deck": (io.BytesIO(deck), "deck.pdf")},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    assert location(response).endswith(f"/ventures/{venture.id}")
    db.session.refresh(venture)
    assert venture.deck_pages == 2 and venture.deck_size == len(deck)
    stored = Path(app.config["DECK_STORAGE_DIR"]) / venture.deck_file
    assert stored.read_bytes() == deck
    download = client.get(f"/ventures/{venture.id}/deck.pdf")
    assert download.status_code == 200 and download.data == deck

    page = client.get(f"/ventures/{venture.id}")
    assert page.status_code == 200
    assert "1,500,000.50" in text(page) and "Agro Datos Bajío" in text(page)

    page = client.get(f"/events/{event.id}/apply")
    assert page.status_code == 200
    # Applying waits for the address to be confirmed through the link mailed at sign-up.
    response = client.post(f"/events/{event.id}/apply", data={"venture_id": str(venture.id)})
    assert response.status_code == 403 and "Primero confirma tu correo electrónico" in text(response)
    [mail] = smtp_server.to("ana.torres@example.mx")
    link = re.search(r"https?://\S+/verify-email/\S+", mail.get_body(("plain",)).get_content()).group(0)
    assert client.get(link.removeprefix("http://pitchtank.test")).status_code == 200
    response = client.post(f"/events/{event.id}/apply", data={"venture_id": str(venture.id)})
    assert response.status_code == 302 and location(response).endswith("/ventures/mine")
    submission = db.session.scalar(select(Submission).where(Submission.venture_id == venture.id))
    assert submission.event_id == event.id and submission.status == SubmissionStatus.PENDING

    assert client.post("/language", data={"lang": "en"}).status_code == 302
    mine = client.get("/ventures/mine")
    assert mine.status_code == 200 and html_lang(mine) == "en"
    assert "Demo Day León 2030" in text(mine) and "Under review" in text(mine)

    response = client.post(f"/submissions/{submission.id}/withdraw")
    assert response.status_code == 302 and location(response).endswith("/ventures/mine")
    db.session.refresh(submission)
    assert submission.status == SubmissionStatus.WITHDRAWN
    mine = client.get("/ventures/mine")
    assert "Withdrawn" in text(mine) and "Under review" not in text(mine)


def test_edit_keeps_money_and_equity_exact(app, make, entrepreneur):
    venture = make.venture(entrepreneur)
    db.session.commit()
    client = browser(app, entrepreneur)
    page = client.get(f"/ventures/{venture.id}/edit")
    assert page.status_code == 200
    assert 'value="1500000.00"' in page.get_data(as_text=True)  # the ask shown back in pesos
    response = client.post(f"/ventures/{venture.id}/edit",
                           data={**VENTURE_FORM, "ask": "0.01", "equity_offered_pct": "0.05"})
    assert response.status_code == 302
    db.session.refresh(venture)
    assert (venture.ask_cents, venture.equity_offered_bp) == (1, 5)
    response = client.post(f"/ventures/{venture.id}/edit",
                           data={**VENTURE_FORM, "ask": "10000000", "equity_offered_pct": "100"})
    assert response.status_code == 302
    db.session.refresh(venture)
    assert (venture.ask_cents, venture.equity_offered_bp) == (1_000_000_000, 10_000)


BAD_VENTURES = {
    "missing fields": ({key: "" for key in VENTURE_FORM}, {
        "This field is required.",
    }),
    "a 10,000-character name": ({"name": "N" * 10_000}, {"Field cannot be longer than 120 characters."}),
    "a negative ask": ({"ask": "-5"}, {"The ask must be more than zero pesos."}),
    "a zero ask": ({"ask": "0"}, {"The ask must be more than zero pesos."}),
    "150 % equity": ({"equity_offered_pct": "150"}, {"The equity offered must be more than 0 % and at most 100 %."}),
    "0 % equity": ({"equity_offered_pct": "0"}, {"The equity offered must be more than 0 % and at most 100 %."}),
    "an ask in letters": ({"ask": "abc"}, {"Not a valid decimal value."}),
    "a NaN ask": ({"ask": "NaN"}, {"Not a valid decimal value."}),
    "an infinite ask": ({"ask": "Infinity"}, {"Not a valid decimal value."}),
    "a NaN equity": ({"equity_offered_pct": "nan"}, {"Not a valid decimal value."}),
    "fractions of centavos": ({"ask": "1500.005"}, {"Use at most two decimals for centavos."}),
    "three decimals of equity": ({"equity_offered_pct": "12.555"}, {"Use at most two decimals for the equity."}),
    "an absurd ask": ({"ask": "99999999999999"}, {"The ask is larger than PitchTank accepts."}),
    "a javascript: website": ({"website": "javascript:alert(1)"}, {"Enter a web address starting with https://"}),
    "an unknown sector": ({"sector": "mining"}, {"Not a valid choice."}),
}


@pytest.mark.parametrize("case", BAD_VENTURES, ids=list(BAD_VENTURES))
def test_bad_venture_input_writes_nothing_and_says_why(app, entrepreneur, case):
    overrides, messages = BAD_VENTURES[case]
    client = browser(app, entrepreneur, english=True)
    response = client.post("/ventures/new", data={**VENTURE_FORM, **overrides})
    assert response.status_code == 422
    body = text(response)
    for message in messages:
        assert message in body, message
    assert count(Venture) == 0


def test_missing_fields_are_each_marked(app, entrepreneur):
    client = browser(app, entrepreneur, english=True)
    response = client.post("/ventures/new", data={})
    assert response.status_code == 422
    # name, tagline, description, ask and equity are required (sector and stage have no choice made).
    assert text(response).count("This field is required.") >= 5
    assert count(Venture) == 0


def test_a_png_named_deck_pdf_is_refused_and_nothing_is_stored(app, make, entrepreneur):
    venture = make.venture(entrepreneur)
    db.session.commit()
    client = browser(app, entrepreneur, english=True)
    before = deck_files(app)
    response = client.post(f"/ventures/{venture.id}/deck",
                           data={"deck": (io.BytesIO(PNG_BYTES), "deck.pdf", "application/pdf")},
                           content_type="multipart/form-data")
    assert response.status_code == 422
    assert "The deck must be a PDF file." in text(response)
    db.session.refresh(venture)
    assert venture.deck_file is None and venture.deck_pages is None
    assert deck_files(app) == before


def test_a_refused_upload_keeps_the_previous_deck(app, make, entrepreneur):
    venture = make.venture(entrepreneur)
    db.session.commit()
    client = browser(app, entrepreneur, english=True)
    good = pdf_bytes(pages=1)
    client.post(f"/ventures/{venture.id}/deck", data={"deck": (io.BytesIO(good), "deck.pdf")},
                content_type="multipart/form-data")
    db.session.refresh(venture)
    first = venture.deck_file
    assert first is not None
    before = deck_files(app)
    for payload, message in ((b"", "The file is empty."),
                             (good[: len(good) // 2], "The PDF file is damaged or incomplete.")):
        response = client.post(f"/ventures/{venture.id}/deck", data={"deck": (io.BytesIO(payload), "deck.pdf")},
                               content_type="multipart/form-data")
        assert response.status_code == 422
        assert message in text(response)
    db.session.refresh(venture)
    assert venture.deck_file == first and deck_files(app) == before
    assert client.get(f"/ventures/{venture.id}/deck.pdf").data == good


def test_applying_to_a_closed_event_is_refused(app, make, entrepreneur):
    venture = make.venture(entrepreneur)
    closed = make.event(open_for_submissions=False)
    db.session.commit()
    client = browser(app, entrepreneur, english=True)
    response = client.post(f"/events/{closed.id}/apply", data={"venture_id": str(venture.id)})
    assert response.status_code == 422
    assert "Applications for this event are closed." in text(response)
    assert count(Submission) == 0


def test_applying_twice_is_refused(app, make, entrepreneur):
    venture = make.venture(entrepreneur)
    event = make.event()
    db.session.commit()
    client = browser(app, entrepreneur, english=True)
    assert client.post(f"/events/{event.id}/apply", data={"venture_id": str(venture.id)}).status_code == 302
    response = client.post(f"/events/{event.id}/apply", data={"venture_id": str(venture.id)})
    assert response.status_code == 422
    assert "This venture has already applied to this event." in text(response)
    assert count(Submission) == 1


def test_one_cannot_apply_with_someone_elses_venture(app, make, entrepreneur):
    stranger_venture = make.venture()
    make.venture(entrepreneur)
    event = make.event()
    db.session.commit()
    client = browser(app, entrepreneur, english=True)
    response = client.post(f"/events/{event.id}/apply", data={"venture_id": str(stranger_venture.id)})
    assert response.status_code == 422
    assert "Not a valid choice." in text(response)
    assert count(Submission) == 0


def test_applying_without_a_venture_leads_to_the_venture_form(app, make, entrepreneur):
    event = make.event()
    db.session.commit()
    response = browser(app, entrepreneur).get(f"/events/{event.id}/apply")
    assert response.status_code == 302 and location(response).endswith("/ventures/new")


def test_withdrawing_twice_changes_nothing(app, make, entrepreneur):
    submission = make.submission(make.venture(entrepreneur), make.event())
    db.session.commit()
    client = browser(app, entrepreneur, english=True)
    assert client.post(f"/submissions/{submission.id}/withdraw").status_code == 302
    again = client.post(f"/submissions/{submission.id}/withdraw")
    assert again.status_code == 409
    assert "This application can no longer be withdrawn." in text(again)
    db.session.refresh(submission)
    assert submission.status == SubmissionStatus.WITHDRAWN


def test_the_language_switch(app, entrepreneur):
    client = browser(app)
    assert html_lang(client.get("/")) == "es-MX"
    response = client.post("/language", data={"lang": "en"})
    assert response.status_code == 302
    page = client.get("/")
    assert html_lang(page) == "en"
    assert client.post("/language", data={"lang": "fr"}).status_code == 302  # unknown: ignored
    assert html_lang(client.get("/")) == "en"
    client.post("/language", data={"lang": "es_MX"})
    assert html_lang(client.get("/")) == "es-MX"
    # Only a same-site path is followed after switching.
    assert location(client.post("/language?next=/events/", data={"lang": "en"})).endswith("/events/")
    for elsewhere in ("//evil.example/", "/\\evil.example/", "https://evil.example/", "/\t/evil.example/"):
        answer = client.post("/language", query_string={"next": elsewhere}, data={"lang": "en"})
        assert "evil.example" not in location(answer)

    # A logged-in user's choice is kept on the account and follows them to a new browser.
    client = browser(app, entrepreneur)
    client.post("/language", data={"lang": "en"})
    db.session.refresh(entrepreneur)
    assert entrepreneur.language == "en"
    assert html_lang(browser(app, entrepreneur).get("/dashboard")) == "en"


def test_changing_the_password_keeps_this_browser_and_ends_the_others(app, entrepreneur):
    here, elsewhere = browser(app, entrepreneur, english=True), browser(app, entrepreneur)
    wrong = here.post("/account/password", data={"pw-current_password": "not it at all",
                                                  "pw-new_password": "otra clave bastante larga",
                                                  "pw-new_password_confirm": "otra clave bastante larga"})
    assert wrong.status_code == 422
    assert "The current password is not right." in text(wrong)
    response = here.post("/account/password", data={"pw-current_password": factories.PASSWORD,
                                                     "pw-new_password": "otra clave bastante larga",
                                                     "pw-new_password_confirm": "otra clave bastante larga"})
    assert response.status_code == 302 and location(response).endswith("/account")
    assert here.get("/account").status_code == 200
    assert elsewhere.get("/account").status_code == 302
    fresh = browser(app)
    assert fresh.post("/login", data={"email": entrepreneur.email, "password": factories.PASSWORD}).status_code == 422
    assert fresh.post("/login", data={"email": entrepreneur.email,
                                      "password": "otra clave bastante larga"}).status_code == 302
