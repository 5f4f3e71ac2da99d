"""Privacy under the LFPDPPP: the notice, one's data download and account deletion."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from pitchtank.accounts import services as account_services
from pitchtank.accounts.models import ApiToken, Role, User
from pitchtank.audit.models import AuditEntry
from pitchtank.events import services as event_services
from pitchtank.extensions import db
from pitchtank.fund import ledger
from pitchtank.fund import services as fund_services
from pitchtank.fund.models import LedgerEntry, Offer, Payment, Pledge
from pitchtank.judging import rubrics
from pitchtank.judging.models import Score, ScoreSheet
from pitchtank.notices.models import OutboxEmail
from pitchtank.ventures import services as venture_services
from pitchtank.ventures import storage
from pitchtank.ventures.models import Venture
from tests.audit.test_audit_log import signed_in
from tests.factories import PASSWORD
from tests.stripe_fake import VALID_CLABE
from tests.test_authorization import pdf_bytes


def entries(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def archive_of(response) -> tuple[dict, zipfile.ZipFile]:
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    return json.loads(archive.read("pitchtank-data.json")), archive


# --------------------------------------------------------------------------
# The notice
# --------------------------------------------------------------------------


def test_the_notice_is_in_spanish_and_english_and_linked_everywhere(app, db):
    spanish = signed_in(app, None, lang="es_MX").get("/privacy")
    assert spanish.status_code == 200
    body = spanish.get_data(as_text=True)
    for words in ("Aviso de privacidad integral", "Responsable", "Derechos ARCO", "Stripe", "Cookies",
                  "Cambios a este aviso", "Finalidades", app.config["PRIVACY_CONTACT_EMAIL"],
                  app.config["PRIVACY_CONTROLLER"]):
        assert words in body, words
    english = signed_in(app, None, lang="en").get("/privacy").get_data(as_text=True)
    for words in ("Privacy notice", "Who is responsible", "ARCO rights", "payment processor", "Cookies",
                  "Changes to this notice", app.config["PRIVACY_CONTACT_EMAIL"]):
        assert words in english, words
    assert 'href="/privacy"' in signed_in(app, None).get("/").get_data(as_text=True)  # the footer
    assert 'href="/privacy"' in signed_in(app, None).get("/signup").get_data(as_text=True)


def test_the_contact_address_comes_from_the_configuration(app, db, monkeypatch):
    monkeypatch.setitem(app.config, "PRIVACY_CONTACT_EMAIL", "datos@cluster-ti.example")
    body = signed_in(app, None).get("/privacy").get_data(as_text=True)
    assert 'href="mailto:datos@cluster-ti.example"' in body


# --------------------------------------------------------------------------
# The data download
# --------------------------------------------------------------------------


@pytest.fixture
def entrepreneur_world(make, db):
    """An entrepreneur with a draft (with deck) and a venture an event accepted, which got an offer."""
    owner = make.user(Role.ENTREPRENEUR, name="Ana Ruiz", email="ana@example.mx")
    draft = make.venture(owner, name="Borrador Ágil")
    venture_services.store_deck(draft, owner, pdf_bytes())
    public = make.venture(owner, name="Ruta Bajío")
    venture_services.store_deck(public, owner, pdf_bytes())
    event = make.event()
    session = make.session(event)
    accepted = make.submission(public, event, accepted=True)
    (pitch,) = event_services.set_running_order(session, [accepted.id])
    investor = make.user(Role.INVESTOR)
    offer = Offer(pitch_id=pitch.id, venture_id=public.id, investor_id=investor.id,
                  organization_id=investor.organization_id, amount_cents=2_000_000_00, equity_bp=1000)
    db.session.add(offer)
    db.session.commit()
    return SimpleNamespace(owner=owner, draft_id=draft.id, public_id=public.id, pitch=pitch, investor=investor,
                           offer_id=offer.id, draft_deck=draft.deck_file, public_deck=public.deck_file)


def test_an_entrepreneur_downloads_profile_ventures_decks_and_offers(app, entrepreneur_world):
    w = entrepreneur_world
    data, archive = archive_of(signed_in(app, w.owner).get("/account/data"))
    assert data["profile"]["email"] == "ana@example.mx" and data["profile"]["name"] == "Ana Ruiz"
    assert data["profile"]["roles"] == ["entrepreneur"]
    names = {v["name"]: v for v in data["ventures"]}
    assert set(names) == {"Borrador Ágil", "Ruta Bajío"}
    assert names["Ruta Bajío"]["submissions"][0]["status"] == "accepted"
    assert [o["amount_cents"] for o in data["offers_received"]] == [2_000_000_00]
    decks = sorted(n for n in archive.namelist() if n.startswith("decks/"))
    assert decks == [names["Borrador Ágil"]["deck"]["file"], names["Ruta Bajío"]["deck"]["file"]] or \
        decks == sorted([names["Borrador Ágil"]["deck"]["file"], names["Ruta Bajío"]["deck"]["file"]])
    assert archive.read(decks[0]).startswith(b"%PDF")
    assert "password_hash" not in json.dumps(data) and "votes" not in data
    # The download itself is in the audit log, and in the next download.
    [entry] = entries("privacy.data_downloaded")
    assert (entry.actor_id, entry.subject_type, entry.subject_id) == (w.owner.id, "user", w.owner.id)
    again, _ = archive_of(signed_in(app, w.owner).get("/account/data"))
    assert [e["action"] for e in again["audit_entries"]] == ["privacy.data_downloaded", "privacy.data_downloaded"]


def test_a_judge_downloads_the_scores_they_gave(app, make, db):
    session, judges = make.pitching_session(pitches=1, judges=1)
    rubrics.set_rubric(session, rubrics.default_rubric())
    db.session.flush()
    criteria = rubrics.criteria_of(session)
    sheet = ScoreSheet(pitch_id=session.pitches[0].id, judge_id=judges[0].id, comment="Buen equipo")
    sheet.scores = [Score(criterion_id=c.id, value=4) for c in criteria]
    db.session.add(sheet)
    db.session.commit()
    data, _ = archive_of(signed_in(app, judges[0]).get("/account/data"))
    [given] = data["scores_given"]
    assert given["comment"] == "Buen equipo" and set(given["scores"].values()) == {4}
    assert given["pitch"]["venture"] == session.pitches[0].venture.name
    assert [s["id"] for s in data["judging_sessions"]] == [session.id]


@pytest.fixture
def investor_world(make, db):
    """A company whose investor pledged, was called and paid part by transfer."""
    organizer = make.user(Role.ORGANIZER)
    investor = make.user(Role.INVESTOR, name="Beto Investor")
    colleague = make.user(Role.INVESTOR, organization_=investor.organization)
    fund = fund_services.create_fund(organizer, fund_services.FundData(
        name="Fondo Clúster Bajío", target_cents=50_000_000_00, min_pledge_cents=100_000_00,
        commitment_deadline=date.today() + timedelta(days=90), clabe=VALID_CLABE))
    pledge = fund_services.pledge(fund.id, investor, 1_000_000_00)
    call = fund_services.issue_capital_call(fund.id, organizer, percent=Decimal("20"),
                                            due_date=date.today() + timedelta(days=30))
    (line,) = call.lines
    fund_services.record_transfer(line.id, organizer, amount_cents=150_000_00, paid_on=date.today(),
                                  reference="SPEI 42")
    db.session.commit()
    return SimpleNamespace(organizer=organizer, investor=investor, colleague=colleague, fund=fund, pledge=pledge,
                           line=line, organization=investor.organization)


def test_an_investor_downloads_the_company_s_pledges_and_payments(app, investor_world):
    w = investor_world
    data, _ = archive_of(signed_in(app, w.investor).get("/account/data"))
    company = data["company"]
    assert company["name"] == w.organization.name
    [pledge] = company["pledges"]
    assert (pledge["committed_cents"], pledge["called_cents"], pledge["paid_cents"], pledge["outstanding_cents"]) == (
        1_000_000_00, 200_000_00, 150_000_00, 50_000_00)
    [call] = pledge["capital_calls"]
    assert call["reference"] == w.line.reference
    assert [(p["amount_cents"], p["reference"], p["status"]) for p in call["payments"]] == [
        (150_000_00, "SPEI 42", "succeeded")]


# --------------------------------------------------------------------------
# Deleting an account
# --------------------------------------------------------------------------


def delete(client, password=PASSWORD):
    return client.post("/account/delete", data={"password": password})


def test_deleting_an_account_anonymises_it_and_closes_every_way_in(app, entrepreneur_world):
    w = entrepreneur_world
    token = account_services.issue_token(w.owner)
    db.session.add(OutboxEmail(dedupe_key=f"test:{w.owner.id}", kind="test", recipient_id=w.owner.id,
                               to_address="ana@example.mx", language="es_MX", subject="Hola Ana",
                               body_text="Hola Ana", body_html="<p>Hola Ana</p>"))
    db.session.commit()
    owner_id = w.owner.id
    client = signed_in(app, w.owner)
    other_browser = signed_in(app, w.owner)
    assert client.get("/account/delete").status_code == 200

    response = delete(client)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    db.session.expire_all()
    user = db.session.get(User, owner_id)
    assert user.name == f"Deleted user #{owner_id}"
    assert user.email.endswith("@deleted.invalid") and "ana" not in user.email
    assert not user.is_active and user.roles == set() and user.deleted_at is not None
    # Logged out here and in every other browser; the API token no longer works.
    assert client.get("/account").status_code == 302
    assert other_browser.get("/account").status_code == 302
    assert db.session.scalar(select(ApiToken).where(ApiToken.user_id == owner_id)).revoked_at is not None
    assert app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    # Logging in again fails, by page and by API, with the old email and password.
    login = app.test_client().post("/login", data={"email": "ana@example.mx", "password": PASSWORD})
    assert login.status_code in (200, 422) and "_user_id" not in (login.headers.get("Set-Cookie") or "")
    assert app.test_client().post("/api/v1/tokens", json={"email": "ana@example.mx",
                                                          "password": PASSWORD}).status_code == 401
    assert account_services.authenticate(user.email, PASSWORD) is None

    # The draft and its deck are gone (the file after the commit); the accepted venture stays.
    assert db.session.get(Venture, w.draft_id) is None
    assert not (Path(app.config["DECK_STORAGE_DIR"]) / w.draft_deck).exists()
    assert db.session.get(Venture, w.public_id) is not None
    assert storage.deck_path(w.public_deck).exists()
    assert db.session.get(Offer, w.offer_id) is not None

    assert db.session.scalar(select(func.count(OutboxEmail.id)).where(OutboxEmail.recipient_id == owner_id)) == 0
    [entry] = entries("account.deleted")
    assert (entry.actor_id, entry.subject_id) == (owner_id, owner_id)
    assert entry.details["ventures_removed"] == [w.draft_id] and entry.details["ventures_kept"] == [w.public_id]
    assert entry.details["roles"] == ["entrepreneur"]


def test_deleting_an_investor_keeps_the_company_s_money_and_the_ledger(app, investor_world):
    w = investor_world
    before_figures = ledger.company_figures(w.fund.id, w.organization.id)
    before_fund = ledger.fund_figures(w.fund.id)
    before_entries = db.session.scalar(select(func.count(LedgerEntry.id)))
    before_sum = ledger.ledger_sum(w.fund.id)
    assert delete(signed_in(app, w.investor)).status_code == 302
    db.session.expire_all()
    assert ledger.company_figures(w.fund.id, w.organization.id) == before_figures
    assert ledger.fund_figures(w.fund.id) == before_fund
    assert db.session.scalar(select(func.count(LedgerEntry.id))) == before_entries
    assert ledger.ledger_sum(w.fund.id) == before_sum
    pledge = db.session.get(Pledge, w.pledge.id)
    assert pledge.organization_id == w.organization.id and pledge.created_by_id == w.investor.id
    assert db.session.scalar(select(func.count(Payment.id)).join(Payment.call_line)
                             .where(Payment.call_line_id == w.line.id)) == 1
    gone = db.session.get(User, w.investor.id)
    assert gone.organization_id is None and gone.name == f"Deleted user #{gone.id}"
    # The colleague still represents the company and sees its pledge.
    data, _ = archive_of(signed_in(app, w.colleague).get("/account/data"))
    assert data["company"]["pledges"][0]["committed_cents"] == 1_000_000_00
    # The organizer's audit page shows the old actions under the anonymous name.
    body = signed_in(app, w.organizer).get("/audit").get_data(as_text=True)
    assert f"Deleted user #{gone.id}" in body and "Beto Investor" not in body


def test_a_wrong_password_deletes_nothing(app, entrepreneur_world):
    w = entrepreneur_world
    response = delete(signed_in(app, w.owner), password="not my password")
    assert response.status_code == 422
    assert "The password is not right." in response.get_data(as_text=True)
    db.session.expire_all()
    user = db.session.get(User, w.owner.id)
    assert user.email == "ana@example.mx" and user.deleted_at is None
    assert db.session.get(Venture, w.draft_id) is not None and storage.deck_path(w.draft_deck).exists()
    assert entries("account.deleted") == []
    assert delete(signed_in(app, w.owner), password="").status_code == 422


def test_the_last_organizer_cannot_leave_the_platform_without_organizers(app, make, db):
    only = make.user(Role.ORGANIZER)
    db.session.commit()
    client = signed_in(app, only)
    page = client.get("/account/delete").get_data(as_text=True)
    assert "You are the only organizer" in page and 'name="password"' not in page
    refused = delete(client)
    assert refused.status_code == 409
    db.session.expire_all()
    assert db.session.get(User, only.id).deleted_at is None and entries("account.deleted") == []

    # With a second organizer, the first may go; then the second is the last one.
    second = make.user(Role.ORGANIZER)
    db.session.commit()
    assert delete(signed_in(app, only)).status_code == 302
    assert delete(signed_in(app, second)).status_code == 409
    db.session.expire_all()
    assert db.session.get(User, second.id).deleted_at is None


def test_a_deleted_account_cannot_be_given_roles_again(app, make, db):
    organizer, person = make.user(Role.ORGANIZER), make.user(Role.ENTREPRENEUR)
    db.session.commit()
    assert delete(signed_in(app, person)).status_code == 302
    response = signed_in(app, organizer).post(f"/users/{person.id}", data={"roles": ["organizer"],
                                                                           "organization_id": "0"})
    assert response.status_code == 422
    db.session.expire_all()
    assert db.session.get(User, person.id).roles == set()


def test_deletion_and_download_need_a_login(app, db):
    anonymous = signed_in(app, None)
    for path in ("/account/data", "/account/delete"):
        response = anonymous.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert delete(anonymous).status_code == 302
