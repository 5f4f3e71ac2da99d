"""Who is told of what: each fact mails the right people once, in their language."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from pitchtank.accounts.models import Role
from pitchtank.events import services as events
from pitchtank.extensions import db
from pitchtank.fund import offers
from pitchtank.fund import services as fund
from pitchtank.fund.models import Payment, PaymentMethod, PaymentStatus
from pitchtank.judging import rubrics, show
from pitchtank.notices.models import OutboxEmail
from tests.stripe_fake import (  # noqa: F401 (fixtures)
    make_event,
    post_event,
    stripe_fake_fixture,
    stripe_on_fixture,
)

CLABE = "002010077777777771"
_seq = itertools.count(1)


def plain(message) -> str:
    return message.get_body(("plain",)).get_content()


def html(message) -> str:
    return message.get_body(("html",)).get_content()


def outbox_count() -> int:
    return db.session.scalar(select(func.count(OutboxEmail.id)))


def test_application_accepted_and_rejected_reach_the_entrepreneur(make, smtp_server):
    owner = make.user(Role.ENTREPRENEUR, language="en")
    organizer = make.user(Role.ORGANIZER)
    event = make.event(name="Demo Day León")
    accepted = make.submission(make.venture(owner, name="Agro Datos"), event)
    rejected = make.submission(make.venture(owner, name="Fresa Fina"), event)
    events.decide(accepted, accept=True, note="Trae tu demo <b>en vivo</b>", actor=organizer)
    events.decide(rejected, accept=False, note="", actor=organizer)
    db.session.commit()
    yes, no = smtp_server.of_kind("application_accepted"), smtp_server.of_kind("application_rejected")
    assert [m["Subject"] for m in yes] == ["Agro Datos was accepted to Demo Day León"]
    assert [m["Subject"] for m in no] == ["Your application to Demo Day León"]
    assert yes[0]["To"] == owner.email and "Trae tu demo <b>en vivo</b>" in plain(yes[0])
    assert "Trae tu demo &lt;b&gt;en vivo&lt;/b&gt;" in html(yes[0])  # escaped in HTML
    assert f"http://pitchtank.test/events/{event.id}" in html(yes[0])
    # A change of mind is a new fact; repeating nothing mails nothing.
    events.decide(accepted, accept=False, note="", actor=organizer)
    db.session.commit()
    assert len(smtp_server.of_kind("application_rejected")) == 2


def test_results_published_reach_entrepreneurs_and_judges_once(make, smtp_server):
    session, judges = make.pitching_session(pitches=2, judges=2)
    rubrics.set_rubric(session, rubrics.default_rubric())
    organizer = make.user(Role.ORGANIZER)
    for action in ("start", "end"):
        show.control(session.id, action, organizer)
    db.session.commit()
    show.control(session.id, "publish", organizer)
    db.session.commit()
    received = smtp_server.of_kind("results_published")
    owners = {p.venture.owner.email for p in session.pitches}
    assert {m["To"] for m in received} == owners | {j.email for j in judges}
    assert len(received) == 4
    [for_owner] = [m for m in received if m["To"] == session.pitches[0].venture.owner.email]
    assert for_owner["Subject"] == f"Se publicaron los resultados de {session.title}"
    assert f"http://pitchtank.test/sessions/{session.id}/results" in plain(for_owner)
    assert f"/pitches/{session.pitches[0].id}/feedback" in plain(for_owner)
    [for_judge] = [m for m in received if m["To"] == judges[0].email]
    assert "Gracias por evaluar" in plain(for_judge)


@pytest.fixture
def called(make, smtp_server):
    organizer = make.user(Role.ORGANIZER)
    company = make.organization("Software Bajío")
    investors = [make.user(Role.INVESTOR, organization_=company, language="en"),
                 make.user(Role.INVESTOR, organization_=company)]
    outsider = make.user(Role.INVESTOR)
    the_fund = fund.create_fund(organizer, fund.FundData(
        name="Fondo Clúster TI", target_cents=50_000_000_00, min_pledge_cents=100_000_00,
        commitment_deadline=date.today() + timedelta(days=90), clabe=CLABE, cooling_off_days=7))
    fund.pledge(the_fund.id, investors[0], 1_234_567_00)
    call = fund.issue_capital_call(the_fund.id, organizer, percent=Decimal("10"),
                                   due_date=date.today() + timedelta(days=30))
    db.session.commit()
    return organizer, investors, outsider, the_fund, call, call.lines[0]


def test_a_capital_call_tells_the_company_amount_due_date_clabe_and_reference(called, smtp_server):
    _organizer, investors, outsider, _fund, call, line = called
    received = smtp_server.of_kind("capital_call_issued")
    assert sorted(m["To"] for m in received) == sorted(i.email for i in investors)
    english = next(m for m in received if m["To"] == investors[0].email)
    assert english["Subject"].startswith("Capital call 1 of Fondo Clúster TI: $123,456.70 MXN due")
    body = plain(english)
    assert "$123,456.70" in body and CLABE in body and line.reference in body
    spanish = next(m for m in received if m["To"] == investors[1].email)
    assert spanish["Subject"].startswith("Llamada de capital 1 de Fondo Clúster TI")
    assert outsider.email not in {m["To"] for m in smtp_server.messages}


def test_overdue_lines_are_told_once(app, called, smtp_server):
    organizer, investors, _outsider, _fund, call, line = called
    runner = app.test_cli_runner()
    result = runner.invoke(args=["fund", "notify-overdue"])
    assert result.exit_code == 0 and "0 call line(s)" in result.output
    assert smtp_server.of_kind("capital_call_overdue") == []
    later = (call.due_date + timedelta(days=1)).isoformat()
    for _ in range(2):  # run twice, as cron would: one email per person and line
        result = runner.invoke(args=["fund", "notify-overdue", "--today", later])
        assert result.exit_code == 0, result.output
    overdue = smtp_server.of_kind("capital_call_overdue")
    assert sorted(m["To"] for m in overdue) == sorted(i.email for i in investors)
    assert "$123,456.70" in next(m for m in overdue if m["To"] == investors[0].email)["Subject"]
    # A line paid in full is not overdue.
    smtp_server.clear()
    fund.record_transfer(line.id, organizer, amount_cents=line.amount_cents, paid_on=date.today(), reference="SPEI 1")
    db.session.commit()
    db.session.execute(db.delete(OutboxEmail).where(OutboxEmail.kind == "capital_call_overdue"))
    db.session.commit()
    runner.invoke(args=["fund", "notify-overdue", "--today", later])
    assert smtp_server.of_kind("capital_call_overdue") == []


def test_a_recorded_transfer_sends_the_receipt_pdf(called, smtp_server):
    organizer, investors, _outsider, _fund, _call, line = called
    payment = fund.record_transfer(line.id, organizer, amount_cents=50_000_00, paid_on=date.today(),
                                   reference="SPEI 778899")
    db.session.commit()
    received = smtp_server.of_kind("payment_received")
    assert sorted(m["To"] for m in received) == sorted(i.email for i in investors)
    english = next(m for m in received if m["To"] == investors[0].email)
    assert english["Subject"] == "We received $50,000.00 MXN for capital call 1 of Fondo Clúster TI"
    [attachment] = list(english.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"receipt-{payment.id}.pdf"
    assert attachment.get_payload(decode=True).startswith(b"%PDF-")
    assert "SPEI 778899" in plain(english)


def _stripe_payment(line, intent_id: str) -> Payment:
    payment = Payment(call_line_id=line.id, method=PaymentMethod.CARD, status=PaymentStatus.PROCESSING,
                      amount_cents=line.amount_cents, reference=line.reference, stripe_payment_intent_id=intent_id)
    db.session.add(payment)
    db.session.commit()
    return payment


def _intent(line, intent_id: str, status: str, error=None) -> dict:
    return {"id": intent_id, "object": "payment_intent", "amount": line.amount_cents, "currency": "mxn",
            "status": status, "metadata": {"call_line_id": str(line.id)}, "last_payment_error": error}


def test_stripe_success_and_failure_are_told_once_each(stripe_on, client, called, smtp_server):
    _organizer, investors, _outsider, _fund, _call, line = called
    failing = _stripe_payment(line, "pi_test_declined_for_notice")
    declined = make_event("payment_intent.payment_failed",
                          _intent(line, failing.stripe_payment_intent_id, "requires_payment_method",
                                  {"code": "card_declined"}))
    assert post_event(client, declined).status_code == 200
    assert post_event(client, declined).status_code == 200  # Stripe retries the same event
    failed = smtp_server.of_kind("payment_failed")
    assert sorted(m["To"] for m in failed) == sorted(i.email for i in investors)
    assert "did not go through" in next(m for m in failed if m["To"] == investors[0].email)["Subject"]

    paying = _stripe_payment(line, "pi_test_paid_for_notice")
    succeeded = make_event("payment_intent.succeeded", _intent(line, paying.stripe_payment_intent_id, "succeeded"))
    for _ in range(2):
        assert post_event(client, succeeded).status_code == 200
    received = smtp_server.of_kind("payment_received")
    assert sorted(m["To"] for m in received) == sorted(i.email for i in investors)
    [attachment] = list(received[0].iter_attachments())
    assert attachment.get_payload(decode=True).startswith(b"%PDF-")


def test_offers_made_accepted_and_declined(make, smtp_server):
    session, _judges = make.pitching_session(pitches=2, judges=1)
    rubrics.set_rubric(session, rubrics.default_rubric())
    organizer = make.user(Role.ORGANIZER)
    show.control(session.id, "start", organizer)
    first, second = session.pitches
    owner = first.venture.owner
    owner.language = "en"
    investor = make.user(Role.INVESTOR, language="en")
    db.session.commit()
    made = offers.make_offer(first.id, investor, amount_cents=2_000_000_00, equity_pct=Decimal("12.5"),
                             terms="Consejo <script>")
    db.session.commit()
    [mail] = smtp_server.of_kind("offer_made")
    assert mail["To"] == owner.email
    # (Python's header folding may put the subject on a continuation line: a leading space.)
    assert mail["Subject"].strip() == (f"{investor.organization.name} offers $2,000,000.00 MXN for 12.5 % "
                               f"of {first.venture.name}")
    assert "Consejo &lt;script&gt;" in html(mail) and "http://pitchtank.test/fund/offers" in plain(mail)
    offers.decide_offer(made.id, owner, accept=True)
    db.session.commit()
    [accepted] = smtp_server.of_kind("offer_accepted")
    assert accepted["To"] == investor.email and accepted["Subject"] == f"{first.venture.name} accepted your offer"

    show.control(session.id, "next", organizer)
    db.session.commit()
    other = offers.make_offer(second.id, investor, amount_cents=1_000_00, equity_pct=Decimal("1"))
    db.session.commit()
    offers.decide_offer(other.id, second.venture.owner, accept=False)
    db.session.commit()
    [declined] = smtp_server.of_kind("offer_declined")
    assert declined["To"] == investor.email
    assert declined["Subject"] == f"{second.venture.name} declined your offer"


def test_a_fact_rolled_back_mails_nobody(make, smtp_server):
    owner = make.user(Role.ENTREPRENEUR)
    submission = make.submission(make.venture(owner))
    db.session.commit()
    before = outbox_count()
    events.decide(submission, accept=True, note="", actor=make.user(Role.ORGANIZER))
    db.session.rollback()
    assert outbox_count() == before and smtp_server.of_kind("application_accepted") == []
