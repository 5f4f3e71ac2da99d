"""The audit log: every sensitive action leaves an entry in the same transaction, organizers
read the log (filtered, paginated, exported) and nobody can change or remove an entry, neither
through the app nor, on PostgreSQL, through SQL."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, event, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from pitchtank.accounts.models import Role, User
from pitchtank.audit.models import AuditEntry, AuditLogImmutable
from pitchtank.audit.services import record
from pitchtank.core.types import utcnow
from pitchtank.extensions import db
from pitchtank.fund import services as fund_services
from pitchtank.invitations import services as invitation_services
from tests.stripe_fake import VALID_CLABE

API = "/api/v1"


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def signed_in(app, user: User | None, lang: str = "en"):
    """A browser logged in as ``user`` (second factor confirmed, as organizers must) in ``lang``."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["lang"] = lang
        if user is not None:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
            try:
                from pitchtank.accounts.two_factor import VERIFIED_KEY
            except ImportError:  # pragma: no cover (before two-factor authentication existed)
                pass
            else:
                session[VERIFIED_KEY] = user.id
    return client


def entries(action: str | None = None) -> list[AuditEntry]:
    db.session.expire_all()
    statement = select(AuditEntry).order_by(AuditEntry.id)
    if action:
        statement = statement.where(AuditEntry.action == action)
    return list(db.session.scalars(statement))


def count_entries() -> int:
    return db.session.scalar(select(func.count(AuditEntry.id)))


@pytest.fixture
def organizer(make, db):
    user = make.user(Role.ORGANIZER, name="Laura Méndez")
    db.session.commit()
    return user


@pytest.fixture
def fund_world(make, db, organizer):
    """A fund with one company's pledge, ready for a capital call."""
    investor = make.user(Role.INVESTOR)
    fund = fund_services.create_fund(organizer, fund_services.FundData(
        name="Fondo Clúster Bajío", target_cents=50_000_000_00, min_pledge_cents=100_000_00,
        commitment_deadline=date.today() + timedelta(days=90), clabe=VALID_CLABE))
    fund_services.pledge(fund.id, investor, 1_000_000_00)
    owner = make.user(Role.ENTREPRENEUR)
    venture = make.venture(owner)
    make.submission(venture, accepted=True)
    db.session.commit()
    return SimpleNamespace(fund=fund, investor=investor, venture=venture)


# --------------------------------------------------------------------------
# Each sensitive action is recorded
# --------------------------------------------------------------------------


def test_a_role_change_is_recorded_with_the_roles_before_and_after(app, make, organizer):
    person = make.user(Role.ENTREPRENEUR)
    db.session.commit()
    client = signed_in(app, organizer)
    response = client.post(f"/users/{person.id}", data={"roles": ["entrepreneur", "judge"], "organization_id": "0"})
    assert response.status_code == 302
    [entry] = entries("user.roles_changed")
    assert (entry.actor_id, entry.subject_type, entry.subject_id) == (organizer.id, "user", person.id)
    assert entry.details == {"before": ["entrepreneur"], "after": ["entrepreneur", "judge"], "organization_id": None}

    # Saving the same roles again changes nothing and records nothing.
    assert client.post(f"/users/{person.id}", data={"roles": ["entrepreneur", "judge"],
                                                    "organization_id": "0"}).status_code == 302
    assert len(entries("user.roles_changed")) == 1
    # A refused change (an investor needs a company) leaves neither a role nor an entry.
    refused = client.post(f"/users/{person.id}", data={"roles": ["investor"], "organization_id": "0"})
    assert refused.status_code == 422
    assert len(entries("user.roles_changed")) == 1
    assert db.session.get(User, person.id).roles == {Role.ENTREPRENEUR, Role.JUDGE}


def test_moving_a_person_to_another_company_is_recorded(app, make, organizer):
    company = make.organization("Bajío Software")
    person = make.user(Role.INVESTOR)
    db.session.commit()
    response = signed_in(app, organizer).post(f"/users/{person.id}", data={
        "roles": ["investor"], "organization_id": str(company.id)})
    assert response.status_code == 302
    [entry] = entries("user.roles_changed")
    assert entry.details == {"before": ["investor"], "after": ["investor"], "organization_id": company.id}


def test_the_entry_and_the_action_commit_together_or_not_at_all(app, make, organizer):
    """``record`` only adds to the request's transaction: when that transaction fails, the role
    change and its entry are both gone."""
    from flask import has_request_context

    person = make.user(Role.ENTREPRENEUR)
    db.session.commit()

    def fail_inside_requests(session):
        if has_request_context() and any(isinstance(o, AuditEntry) for o in session.new):
            raise RuntimeError("the database went away at commit")

    event.listen(Session, "before_commit", fail_inside_requests)
    try:
        response = signed_in(app, organizer).post(f"/users/{person.id}",
                                                  data={"roles": ["judge"], "organization_id": "0"})
        assert response.status_code == 500
    finally:
        event.remove(Session, "before_commit", fail_inside_requests)
    db.session.expire_all()
    assert db.session.get(User, person.id).roles == {Role.ENTREPRENEUR}
    assert entries("user.roles_changed") == []


def test_accepting_an_invitation_records_the_role_it_grants(app, make, organizer):
    invitation = invitation_services.create_invitation(organizer, role=Role.JUDGE)
    existing = make.user(Role.ENTREPRENEUR)
    db.session.commit()
    token = invitation_services.invitation_token(invitation)
    assert signed_in(app, existing).post(f"/invite/{token}", data={}).status_code == 302
    [entry] = entries("invitation.accepted")
    assert (entry.actor_id, entry.subject_type, entry.subject_id) == (existing.id, "user", existing.id)
    assert entry.details["role"] == "judge" and entry.details["invited_by_id"] == organizer.id


def test_creating_a_user_from_the_command_line_is_recorded(app, db):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "--email", "nueva@example.mx", "--name", "Nueva Organizadora",
                                 "--role", "organizer", "--password", "una clave bastante larga"])
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "nueva@example.mx"))
    [entry] = entries("user.created")
    assert (entry.actor_id, entry.subject_id, entry.details["roles"]) == (None, user.id, ["organizer"])


def test_capital_calls_allocations_and_reversals_are_recorded(app, client, api_token, organizer, fund_world):
    headers = api_token(organizer)
    fund = fund_world.fund
    due = (date.today() + timedelta(days=30)).isoformat()
    call = client.post(f"{API}/funds/{fund.id}/capital-calls", json={"percent": "50", "due_date": due},
                       headers=headers)
    assert call.status_code == 201, call.get_data(as_text=True)
    [issued] = entries("capital_call.issued")
    assert (issued.actor_id, issued.subject_id, issued.details["call_id"], issued.details["total_cents"]) == (
        organizer.id, fund.id, call.get_json()["id"], 500_000_00)

    line_id = call.get_json()["lines"][0]["id"]
    paid = client.post(f"{API}/call-lines/{line_id}/transfers", headers=headers,
                       json={"amount_cents": 500_000_00, "paid_on": date.today().isoformat(), "reference": "SPEI 1"})
    assert paid.status_code == 201, paid.get_data(as_text=True)
    assert len(entries("payment.recorded")) == 1

    made = client.post(f"{API}/funds/{fund.id}/allocations", headers=headers,
                       json={"venture_id": fund_world.venture.id, "amount_cents": 100_000_00})
    assert made.status_code == 201, made.get_data(as_text=True)
    [allocated] = entries("allocation.created")
    assert allocated.details["allocation_id"] == made.get_json()["id"]
    assert allocated.details["amount_cents"] == 100_000_00

    undone = client.post(f"{API}/allocations/{made.get_json()['id']}/reversal", headers=headers,
                         json={"reason": "Captura duplicada"})
    assert undone.status_code == 200, undone.get_data(as_text=True)
    [reversed_] = entries("allocation.reversed")
    assert reversed_.reason == "Captura duplicada" and reversed_.actor_id == organizer.id

    # A refused allocation (more than is available) leaves no entry.
    too_much = client.post(f"{API}/funds/{fund.id}/allocations", headers=headers,
                           json={"venture_id": fund_world.venture.id, "amount_cents": 999_000_000_00})
    assert too_much.status_code == 409
    assert len(entries("allocation.created")) == 1


def test_every_file_export_is_recorded(app, make, organizer, fund_world):
    fund = fund_world.fund
    call = fund_services.issue_capital_call(fund.id, organizer, percent=Decimal("50"), due_date=date.today() + timedelta(days=9))
    (line,) = call.lines
    payment = fund_services.record_transfer(line.id, organizer, amount_cents=1_000_00, paid_on=date.today(),
                                            reference="SPEI 7")
    session, _judges = make.pitching_session(pitches=1, judges=1)
    db.session.commit()
    client = signed_in(app, organizer)
    downloads = [
        (f"/fund/{fund.id}/ledger.csv", ("fund", fund.id, "ledger", "csv")),
        (f"/fund/{fund.id}/ledger.xlsx", ("fund", fund.id, "ledger", "xlsx")),
        (f"/fund/lines/{line.id}/notice.pdf", ("call_line", line.id, "call_notice", "pdf")),
        (f"/fund/payments/{payment.id}/receipt.pdf", ("payment", payment.id, "receipt", "pdf")),
        (f"/sessions/{session.id}/export/scores.csv", ("session", session.id, "scores", "csv")),
        (f"/sessions/{session.id}/export/results.xlsx", ("session", session.id, "results", "xlsx")),
        ("/audit/export.csv", ("audit", None, "audit", "csv")),
        ("/audit/export.xlsx", ("audit", None, "audit", "xlsx")),
    ]
    for path, _expected in downloads:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
    recorded = [(e.subject_type, e.subject_id, e.details["export"], e.details["format"])
                for e in entries("export.downloaded")]
    assert recorded == [expected for _path, expected in downloads]
    assert {e.actor_id for e in entries("export.downloaded")} == {organizer.id}

    # An investor's own company documents are recorded too, under the investor's name.
    investor_client = signed_in(app, fund_world.investor)
    assert investor_client.get(f"/fund/payments/{payment.id}/receipt.pdf").status_code == 200
    assert entries("export.downloaded")[-1].actor_id == fund_world.investor.id


# --------------------------------------------------------------------------
# The organizers' page
# --------------------------------------------------------------------------


def add_entry(action: str, at: datetime, actor: User | None = None, **kwargs) -> AuditEntry:
    entry = record(action, actor=actor, subject_type=kwargs.pop("subject_type", "fund"),
                   subject_id=kwargs.pop("subject_id", None), **kwargs)
    entry.created_at = at
    db.session.flush()
    return entry


def test_the_page_lists_newest_first_in_mexico_city_time(app, organizer):
    add_entry("fund.created", datetime(2026, 1, 15, 3, 30, tzinfo=UTC), organizer)  # 21:30 on the 14th there
    add_entry("fund.status", datetime(2026, 2, 1, 18, 0, tzinfo=UTC), organizer, status="closed")
    db.session.commit()
    body = signed_in(app, organizer).get("/audit").get_data(as_text=True)
    table = body[body.index("<tbody>"):]
    assert table.index("Fund status changed") < table.index("Fund created")
    assert ">14 Jan 2026, 21:30</time>" in body and ">1 Feb 2026, 12:00</time>" in body
    assert "Laura Méndez" in body and "status: closed" in body


def test_the_page_speaks_spanish_by_default(app, organizer):
    add_entry("results.published", utcnow(), organizer, subject_type="session", subject_id=1)
    db.session.commit()
    body = signed_in(app, organizer, lang="es_MX").get("/audit").get_data(as_text=True)
    assert 'lang="es-MX"' in body
    assert "Resultados publicados" in body and "Bitácora de auditoría" in body


def test_the_page_is_paginated(app, organizer):
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    for number in range(55):
        add_entry("fund.status", start + timedelta(minutes=number), organizer, status=f"state-{number:02d}")
    db.session.commit()
    client = signed_in(app, organizer)
    first = client.get("/audit").get_data(as_text=True)
    assert "state-54" in first and "state-05" in first and "state-04" not in first
    assert "Page 1 of 2" in first
    second = client.get("/audit?page=2").get_data(as_text=True)
    assert "state-04" in second and "state-00" in second and "state-05" not in second
    # A page past the end shows the last one; a nonsense page number the first.
    assert "state-00" in client.get("/audit?page=99").get_data(as_text=True)
    assert "state-54" in client.get("/audit?page=abc").get_data(as_text=True)


def test_filters_by_action_and_by_mexico_city_days(app, organizer):
    # 2026-04-10 05:30 UTC is still April 9 in Mexico City (UTC-6).
    add_entry("fund.created", datetime(2026, 4, 10, 5, 30, tzinfo=UTC), organizer, subject_id=1)
    add_entry("fund.created", datetime(2026, 4, 10, 6, 30, tzinfo=UTC), organizer, subject_id=2)
    add_entry("fund.status", datetime(2026, 4, 10, 7, 0, tzinfo=UTC), organizer, subject_id=3)
    add_entry("fund.created", datetime(2026, 4, 12, 7, 0, tzinfo=UTC), organizer, subject_id=4)
    db.session.commit()
    client = signed_in(app, organizer)

    def subjects(query: str) -> list[str]:
        body = client.get(f"/audit?{query}").get_data(as_text=True)
        return [f"#{n}" for n in range(1, 5) if f"Fund #{n}" in body]

    assert subjects("action=fund.created") == ["#1", "#2", "#4"]
    assert subjects("date_from=2026-04-10&date_to=2026-04-10") == ["#2", "#3"]
    assert subjects("action=fund.created&date_from=2026-04-09&date_to=2026-04-10") == ["#1", "#2"]
    assert subjects("date_from=2026-04-11") == ["#4"]


def test_bad_filters_are_explained_and_ignored(app, organizer):
    add_entry("fund.created", utcnow(), organizer, subject_id=1)
    db.session.commit()
    client = signed_in(app, organizer)
    backwards = client.get("/audit?date_from=2026-05-02&date_to=2026-05-01")
    assert backwards.status_code == 422
    assert "The end day comes before the start day." in backwards.get_data(as_text=True)
    unknown = client.get("/audit?action=<b>nope</b>&date_from=yesterday")
    assert unknown.status_code == 422
    body = unknown.get_data(as_text=True)
    assert "Choose an action from the list." in body and "Not a valid date value." in body
    assert "<b>nope</b>" not in body and "Fund #1" in body


def test_reasons_and_details_are_shown_escaped(app, organizer):
    payload = '<script>alert("x")</script>'
    add_entry("allocation.reversed", utcnow(), organizer, reason=payload, note=f"{payload}'; DROP TABLE users;--")
    db.session.commit()
    body = signed_in(app, organizer).get("/audit").get_data(as_text=True)
    assert payload not in body
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in body
    assert db.session.scalar(select(func.count(User.id))) >= 1  # the SQL-looking text stayed text


def test_system_entries_and_deleted_people_are_named_as_such(app, make, organizer):
    gone = make.user(Role.ENTREPRENEUR)
    gone.name = f"Deleted user #{gone.id}"
    add_entry("stripe.card_saved", utcnow(), None, subject_type="organization")
    add_entry("account.deleted", utcnow() + timedelta(seconds=1), gone, subject_type="user", subject_id=gone.id)
    db.session.commit()
    body = signed_in(app, organizer).get("/audit").get_data(as_text=True)
    assert "System" in body and f"Deleted user #{gone.id}" in body and "Account deleted" in body


def test_the_export_holds_the_filtered_entries_with_formulas_neutralised(app, organizer):
    add_entry("fund.created", datetime(2026, 6, 1, 18, 0, tzinfo=UTC), organizer, subject_id=1,
              reason="=HYPERLINK(\"http://evil.example\")")
    add_entry("fund.status", datetime(2026, 6, 2, 18, 0, tzinfo=UTC), organizer, subject_id=2)
    db.session.commit()
    client = signed_in(app, organizer)
    response = client.get("/audit/export.csv?action=fund.created")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="pitchtank-audit-log.csv"'
    assert response.headers["Cache-Control"] == "private, no-store"
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert rows[0][:4] == ["Entry", "When (Mexico City time)", "Who", "Action"]
    assert [row[3] for row in rows[1:]] == ["fund.created"]
    assert rows[1][1] == "2026-06-01 12:00:00" and rows[1][2] == "Laura Méndez"
    assert rows[1][6] == "'=HYPERLINK(\"http://evil.example\")"
    [exported] = entries("export.downloaded")
    assert exported.details == {"export": "audit", "format": "csv", "filters": {"action": "fund.created"}}

    workbook = load_workbook(io.BytesIO(client.get("/audit/export.xlsx").get_data()))
    values = [[cell.value for cell in row] for row in workbook.active.iter_rows()]
    # Newest first: this export and the one before it, then the two entries.
    assert [row[3] for row in values[1:]] == ["export.downloaded", "export.downloaded", "fund.status", "fund.created"]
    assert values[4][6] == "'=HYPERLINK(\"http://evil.example\")"
    assert values[1][7] == "export: audit; format: xlsx"


@pytest.mark.parametrize("role", [None, Role.ENTREPRENEUR, Role.JUDGE, Role.INVESTOR])
@pytest.mark.parametrize("path", ["/audit", "/audit/export.csv", "/audit/export.xlsx"])
def test_only_organizers_read_the_log(app, make, role, path):
    add_entry("fund.created", utcnow(), None, subject_id=1)
    user = make.user(role) if role else None
    db.session.commit()
    response = signed_in(app, user).get(path)
    if user is None:
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    else:
        assert response.status_code == 403
    assert entries("export.downloaded") == []


def test_no_route_can_change_the_log(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("audit."):
            assert rule.methods <= {"GET", "HEAD", "OPTIONS"}, rule
    assert {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.startswith("audit.")} == {
        "audit.index", "audit.export"}


# --------------------------------------------------------------------------
# Nobody can edit: the ORM everywhere, PostgreSQL itself as well
# --------------------------------------------------------------------------


@pytest.fixture
def stored_entry(db, organizer):
    entry = record("results.published", actor=organizer, subject_type="session", subject_id=7, reason="original")
    db.session.commit()
    return entry


def test_the_orm_refuses_to_change_an_entry(stored_entry):
    stored_entry.reason = "rewritten"
    with pytest.raises(AuditLogImmutable):
        db.session.flush()
    db.session.rollback()
    assert db.session.get(AuditEntry, stored_entry.id).reason == "original"


def test_the_orm_refuses_to_delete_an_entry(stored_entry):
    db.session.delete(stored_entry)
    with pytest.raises(AuditLogImmutable):
        db.session.commit()
    db.session.rollback()
    assert count_entries() == 1


@pytest.mark.parametrize("statement", [
    update(AuditEntry).values(reason="rewritten"),
    delete(AuditEntry),
    update(AuditEntry).where(AuditEntry.action == "results.published").values(actor_id=None),
], ids=["update", "delete", "update-where"])
def test_the_orm_refuses_update_and_delete_statements(stored_entry, statement):
    with pytest.raises(AuditLogImmutable):
        db.session.execute(statement)
    db.session.rollback()
    assert db.session.get(AuditEntry, stored_entry.id).reason == "original" and count_entries() == 1


def test_adding_entries_still_works_after_a_refusal(stored_entry, organizer):
    stored_entry.reason = "rewritten"
    with pytest.raises(AuditLogImmutable):
        db.session.commit()
    db.session.rollback()
    record("fund.created", actor=organizer, subject_type="fund", subject_id=1)
    db.session.commit()
    assert [e.action for e in entries()] == ["results.published", "fund.created"]


@pytest.mark.parametrize("sql", [
    "UPDATE audit_entries SET reason = 'rewritten'",
    "DELETE FROM audit_entries",
    "TRUNCATE audit_entries",
], ids=["update", "delete", "truncate"])
def test_postgresql_refuses_to_rewrite_the_log(stored_entry, sql):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the trigger is PostgreSQL's; on SQLite the ORM guard above is the protection")
    with db.engine.connect() as connection:
        with pytest.raises(DBAPIError, match="the audit log is append-only"):
            connection.execute(text(sql))
        connection.rollback()
    assert db.session.get(AuditEntry, stored_entry.id).reason == "original" and count_entries() == 1


def test_every_recorded_action_has_a_label_in_both_languages(app):
    """A new ``record("...")`` call needs a label, or organizers read a bare code."""
    import re
    from pathlib import Path

    from flask_babel import force_locale

    from pitchtank.audit.services import action_labels

    source = Path(app.root_path)
    recorded = set()
    for path in source.rglob("*.py"):
        recorded |= set(re.findall(r'record\(\s*"([a-z_.]+)"', path.read_text(encoding="utf-8")))
    recorded |= {"offer.declined"}  # recorded through a conditional expression
    with app.test_request_context():
        with force_locale("en"):
            english = action_labels()
        assert recorded - set(english) == set(), "actions without a label"
        with force_locale("es_MX"):
            spanish = action_labels()
    untranslated = sorted(code for code in recorded if spanish[code] == english[code])
    assert untranslated == [], "labels without a Spanish translation"
