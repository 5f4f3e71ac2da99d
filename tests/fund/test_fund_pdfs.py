"""The PDF call notice and payment receipt: A4, the reader's language, exact amounts, accents.

The text is read back with pypdf, so what is checked is what a reader (or a screen reader, or a
search) gets out of the file, not what we meant to draw.
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from pitchtank.accounts.models import Role, User
from pitchtank.extensions import db
from pitchtank.fund import pdf, services
from pitchtank.fund.models import CallLine, Payment, PaymentMethod, PaymentStatus
from tests import factories

CLABE = "012180000118359713"
A4 = (595.28, 841.89)  # points


def browser(app, user: User, *, lang: str = "es_MX"):
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
        session["tfa_user_id"] = user.id  # as if two-factor was verified
    assert client.post("/language", data={"lang": lang}).status_code == 302
    return client


def pdf_text(response) -> str:
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.get_data().startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(response.get_data()))
    width, height = (float(v) for v in reader.pages[0].mediabox.upper_right)
    assert (round(width, 1), round(height, 1)) == (round(A4[0], 1), round(A4[1], 1))
    return "\n".join(page.extract_text() for page in reader.pages).replace("\u00a0", " ")


@pytest.fixture
def world(db):
    """A fund with accents in its name, a company with an ñ, a 1,000-peso call line and a transfer."""
    organizer = factories.user(Role.ORGANIZER)
    fund = services.create_fund(organizer, services.FundData(
        name="Fondo Bajío Tecnológico", target_cents=10_000_000_00, min_pledge_cents=1_000_00,
        commitment_deadline=date.today() + timedelta(days=30), clabe=CLABE))
    investor = factories.user(Role.INVESTOR, organization_=factories.organization("Compañía Ñandú Informática"))
    other = factories.user(Role.INVESTOR, organization_=factories.organization("Otra Empresa"))
    services.pledge(fund.id, investor, 4_000_00)
    services.pledge(fund.id, other, 4_000_00)
    call = services.issue_capital_call(fund.id, organizer, percent=Decimal("25"),
                                       notice_date=date(2026, 1, 5), due_date=date(2026, 3, 4))
    line = next(line for line in call.lines if line.organization_id == investor.organization_id)
    payment = services.record_transfer(line.id, organizer, amount_cents=400_50, paid_on=date(2026, 1, 7),
                                       reference="SPEI-Ñ-0001")
    db.session.commit()
    return {"organizer": organizer, "fund": fund, "investor": investor, "other": other, "line": line,
            "payment": payment}


def test_the_call_notice_in_spanish_has_the_clabe_reference_amount_and_accents(app, world):
    line: CallLine = world["line"]
    response = browser(app, world["investor"]).get(f"/fund/lines/{line.id}/notice.pdf")
    assert f'filename="capital-call-{line.reference}.pdf"' in response.headers["Content-Disposition"]
    body = pdf_text(response)
    assert line.reference in body and CLABE in body
    assert "$1,000.00 MXN" in body  # the amount called (25 % of 4,000)
    assert "$599.50 MXN" in body  # still to pay after the 400.50 transfer
    assert "Fondo Bajío Tecnológico" in body and "Compañía Ñandú Informática" in body
    assert "25 %" in body
    assert "5 de enero de 2026" in body and "4 de marzo de 2026" in body  # dates in Spanish


def test_the_call_notice_follows_the_language(app, world):
    line: CallLine = world["line"]
    body = pdf_text(browser(app, world["investor"], lang="en").get(f"/fund/lines/{line.id}/notice.pdf"))
    assert "Capital call notice" in body and "How to pay by bank transfer (SPEI)" in body
    assert "January 5, 2026" in body and "March 4, 2026" in body
    assert line.reference in body and CLABE in body and "$1,000.00 MXN" in body
    assert "Compañía Ñandú Informática" in body


def test_the_payment_receipt_names_payment_company_line_method_amount_and_fund(app, world):
    payment: Payment = world["payment"]
    line: CallLine = world["line"]
    response = browser(app, world["investor"], lang="en").get(f"/fund/payments/{payment.id}/receipt.pdf")
    assert f'filename="receipt-{payment.id}.pdf"' in response.headers["Content-Disposition"]
    body = pdf_text(response)
    assert "Payment receipt" in body and f"receipt number {payment.id}" in body
    assert "Compañía Ñandú Informática" in body and "Fondo Bajío Tecnológico" in body
    assert line.reference in body and "SPEI-Ñ-0001" in body
    assert "$400.50 MXN" in body and "Bank transfer (SPEI), recorded" in body
    spanish = pdf_text(browser(app, world["organizer"]).get(f"/fund/payments/{payment.id}/receipt.pdf"))
    assert "$400.50 MXN" in spanish and "SPEI-Ñ-0001" in spanish and "de 2026" in spanish


def test_there_is_no_receipt_for_a_payment_that_failed(app, world):
    failed = Payment(call_line_id=world["line"].id, method=PaymentMethod.CARD, status=PaymentStatus.FAILED,
                     amount_cents=599_50, failure_message="Tarjeta rechazada")
    db.session.add(failed)
    db.session.commit()
    assert browser(app, world["investor"]).get(f"/fund/payments/{failed.id}/receipt.pdf").status_code == 404


def test_documents_of_another_company_are_not_found(app, world):
    client = browser(app, world["other"])
    assert client.get(f"/fund/lines/{world['line'].id}/notice.pdf").status_code == 404
    assert client.get(f"/fund/payments/{world['payment'].id}/receipt.pdf").status_code == 404
    own = db.session.scalar(select(CallLine).where(CallLine.organization_id == world["other"].organization_id))
    assert "Otra Empresa" in pdf_text(client.get(f"/fund/lines/{own.id}/notice.pdf"))


def test_without_dejavu_the_core_font_still_writes_spanish(app, world, monkeypatch):
    monkeypatch.setattr(pdf, "_font_paths", lambda: None)
    line: CallLine = world["line"]
    body = pdf_text(browser(app, world["investor"]).get(f"/fund/lines/{line.id}/notice.pdf"))
    assert "Compañía Ñandú Informática" in body and "Fondo Bajío Tecnológico" in body
    assert line.reference in body and CLABE in body and "$1,000.00 MXN" in body


def test_the_embedded_font_is_used_when_the_system_has_it(app, world):
    if pdf._font_paths() is None:
        pytest.skip("no DejaVu fonts on this system; the core-font test covers it")
    response = browser(app, world["investor"]).get(f"/fund/lines/{world['line'].id}/notice.pdf")
    reader = PdfReader(io.BytesIO(response.get_data()))
    fonts = reader.pages[0]["/Resources"]["/Font"]
    names = {str(font.get_object()["/BaseFont"]) for font in fonts.values()}
    assert any("DejaVuSans" in name for name in names), names
