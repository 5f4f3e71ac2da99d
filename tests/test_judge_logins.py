"""Invitation links and judges' QR login codes: single use, expiry, revocation by the organizer,
and the organizer's switch that pauses new judge logins during a session."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from flask_babel import force_locale
from sqlalchemy import func, select

from pitchtank.accounts.models import Role, User
from pitchtank.audit.models import AuditEntry
from pitchtank.core.errors import Conflict
from pitchtank.core.types import utcnow
from pitchtank.events.models import PitchSession
from pitchtank.extensions import db
from pitchtank.invitations import services
from pitchtank.invitations.models import Invitation, LoginLink
from tests import factories

NEW_ACCOUNT = {"name": "Elena López", "email": "elena@example.mx", "password": factories.PASSWORD,
               "password_confirm": factories.PASSWORD}


def browser(app, user: User | None = None) -> FlaskClient:
    client = app.test_client()
    if user is not None:
        with client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
            session["tfa_user_id"] = user.id  # as if two-factor was verified
    assert client.post("/language", data={"lang": "en"}).status_code == 302
    return client


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def audit(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


@pytest.fixture
def judged(make):
    """A session with one judge, an organizer and a fresh login code for the judge."""
    session, (judge,) = factories.pitching_session(pitches=1, judges=1)
    organizer = make.user(Role.ORGANIZER)
    link = services.create_login_link(organizer, judge, session)
    db.session.commit()
    return session, judge, organizer, link


def code_path(link: LoginLink) -> str:
    return f"/login/code/{services.login_link_token(link)}"


def tablet_path(session: PitchSession) -> str:
    return f"/sessions/{session.id}/judge"


# --------------------------------------------------------------------------
# Login codes: once, for two hours, until revoked
# --------------------------------------------------------------------------


def test_a_login_code_logs_in_once(app, judged):
    session, judge, _organizer, link = judged
    tablet = browser(app)
    page = tablet.get(code_path(link))
    assert page.status_code == 200 and judge.name in text(page)
    assert tablet.get(code_path(link)).status_code == 200  # looking does not spend it
    used = tablet.post(code_path(link))
    assert used.status_code == 302 and used.headers["Location"].endswith(tablet_path(session))
    assert tablet.get(tablet_path(session)).status_code == 200

    second = browser(app)
    for method in ("GET", "POST"):
        refused = second.open(code_path(link), method=method)
        assert refused.status_code == 409
        assert "This login code was already used: each code logs in once." in text(refused)
    assert second.get(tablet_path(session)).status_code == 302


def test_a_login_code_expires_after_two_hours(app, judged):
    _session, _judge, _organizer, link = judged
    lifetime = link.expires_at - link.created_at
    assert abs(lifetime - timedelta(minutes=services.LOGIN_LINK_MINUTES)) < timedelta(seconds=1)
    link.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    tablet = browser(app)
    for method in ("GET", "POST"):
        refused = tablet.open(code_path(link), method=method)
        assert refused.status_code == 409 and "This login code has expired." in text(refused)
    db.session.refresh(link)
    assert link.used_at is None


def test_a_forged_login_code_is_not_found(app, judged):
    _session, _judge, _organizer, link = judged
    token = services.login_link_token(link)
    assert browser(app).get(f"/login/code/{link.id}-{'A' * len(token.split('-', 1)[1])}").status_code == 404


def test_the_organizer_lists_and_revokes_a_sessions_login_codes(app, judged):
    session, judge, organizer, link = judged
    boss = browser(app, organizer)
    page = text(boss.get(f"/sessions/{session.id}/manage"))
    assert "Login codes of this session" in page and f"/login-codes/{link.id}/revoke" in page
    revoke = boss.post(f"/login-codes/{link.id}/revoke", data={"next": f"/sessions/{session.id}/manage#judge-logins"})
    assert revoke.status_code == 302 and revoke.headers["Location"].endswith(f"/sessions/{session.id}/manage#judge-logins")
    assert "The login code was revoked." in text(boss.get(f"/sessions/{session.id}/manage"))
    (entry,) = audit("login_code.revoked")
    assert entry.actor_id == organizer.id and entry.subject_id == link.id and entry.details["judge_id"] == judge.id

    tablet = browser(app)
    for method in ("GET", "POST"):
        refused = tablet.open(code_path(link), method=method)
        assert refused.status_code == 409 and "This login code was revoked by the organizer." in text(refused)
    assert tablet.get(tablet_path(session)).status_code == 302
    # Revoking again changes nothing; the code's own page says it was revoked.
    boss.post(f"/login-codes/{link.id}/revoke")
    assert len(audit("login_code.revoked")) == 1
    assert "This code was revoked and no longer works." in text(boss.get(f"/login-codes/{link.id}"))


def test_a_used_login_code_cannot_be_revoked(app, judged):
    session, _judge, organizer, link = judged
    assert browser(app).post(code_path(link)).status_code == 302
    boss = browser(app, organizer)
    boss.post(f"/login-codes/{link.id}/revoke")
    assert "This login code was already used; it cannot be revoked." in text(boss.get(f"/sessions/{session.id}/manage"))
    db.session.refresh(link)
    assert link.revoked_at is None and audit("login_code.revoked") == []


def spend_elsewhere(statement) -> None:
    """Another worker's transaction, committed while this one still holds what it read before."""
    from sqlalchemy.orm import Session

    with Session(db.engine) as other, other.begin():
        other.execute(statement)


def test_two_tablets_spending_one_code_at_once_log_in_only_one(app, judged):
    from sqlalchemy import update

    _session, _judge, _organizer, link = judged
    stale = db.session.get(LoginLink, link.id)
    assert stale.used_at is None
    spend_elsewhere(update(LoginLink).where(LoginLink.id == link.id).values(used_at=utcnow()))
    with force_locale("en"), pytest.raises(Conflict) as refused:
        services.use_login_link(stale)
    assert "already used" in refused.value.message
    db.session.rollback()


# --------------------------------------------------------------------------
# Switching new judge logins off during a session
# --------------------------------------------------------------------------


def test_switching_judge_logins_off_refuses_codes_but_keeps_judges_in(app, judged, make):
    session, judge, organizer, link = judged
    already_in = browser(app, judge)
    assert already_in.get(tablet_path(session)).status_code == 200
    boss = browser(app, organizer)
    console = text(boss.get(f"/sessions/{session.id}/console"))
    assert "Switch off new judge logins" in console

    off = boss.post(f"/sessions/{session.id}/judge-logins",
                    data={"state": "off", "next": f"/sessions/{session.id}/console#judge-logins"})
    assert off.status_code == 302 and off.headers["Location"].endswith(f"/sessions/{session.id}/console#judge-logins")
    db.session.refresh(session)
    assert session.judge_logins_open is False
    assert "Switch on new judge logins" in text(boss.get(f"/sessions/{session.id}/console"))
    assert [e.subject_id for e in audit("judge_logins.switched_off")] == [session.id]

    tablet = browser(app)
    for method in ("GET", "POST"):
        refused = tablet.open(code_path(link), method=method)
        assert refused.status_code == 409
        assert "New judge logins are switched off for this session right now." in text(refused)
    db.session.refresh(link)
    assert link.used_at is None
    assert already_in.get(tablet_path(session)).status_code == 200  # the judge already in keeps scoring

    # Switching off twice records nothing more; switching on lets the same code work.
    boss.post(f"/sessions/{session.id}/judge-logins", data={"state": "off"})
    assert len(audit("judge_logins.switched_off")) == 1
    boss.post(f"/sessions/{session.id}/judge-logins", data={"state": "on"})
    assert len(audit("judge_logins.switched_on")) == 1
    assert tablet.post(code_path(link)).status_code == 302
    assert tablet.get(tablet_path(session)).status_code == 200


def test_the_switch_refuses_a_made_up_state(app, judged):
    session, _judge, organizer, _link = judged
    boss = browser(app, organizer)
    response = boss.post(f"/sessions/{session.id}/judge-logins", data={"state": "maybe"})
    assert response.status_code == 302
    assert "Choose whether new judge logins are on or off." in text(boss.get(f"/sessions/{session.id}/manage"))
    db.session.refresh(session)
    assert session.judge_logins_open is True


def test_only_organizers_revoke_codes_or_switch_logins(app, judged, make):
    session, judge, _organizer, link = judged
    for user in (judge, make.user(Role.ENTREPRENEUR), make.user(Role.INVESTOR)):
        db.session.commit()
        client = browser(app, user)
        assert client.post(f"/login-codes/{link.id}/revoke").status_code == 403
        assert client.post(f"/sessions/{session.id}/judge-logins", data={"state": "off"}).status_code == 403
    anonymous = browser(app)
    assert anonymous.post(f"/sessions/{session.id}/judge-logins", data={"state": "off"}).status_code == 302
    db.session.refresh(session)
    db.session.refresh(link)
    assert session.judge_logins_open is True and link.revoked_at is None


# --------------------------------------------------------------------------
# Invitation links
# --------------------------------------------------------------------------


def invitation_path(invitation: Invitation) -> str:
    return f"/invite/{services.invitation_token(invitation)}"


def test_the_invitations_list_revokes_an_unused_link_and_the_link_says_so(app, make):
    organizer = make.user(Role.ORGANIZER)
    invitation = services.create_invitation(organizer, role=Role.JUDGE, invitee_name="Dra. López")
    used = services.create_invitation(organizer, role=Role.JUDGE)
    db.session.commit()
    assert browser(app).post(invitation_path(used), data=NEW_ACCOUNT).status_code == 302
    boss = browser(app, organizer)
    listing = text(boss.get("/invitations"))
    assert f"/invitations/{invitation.id}/revoke" in listing
    assert f"/invitations/{used.id}/revoke" not in listing  # a used link has nothing to revoke

    response = boss.post(f"/invitations/{invitation.id}/revoke", data={"next": "/invitations"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/invitations")
    (entry,) = audit("invitation.revoked")
    assert entry.actor_id == organizer.id and entry.subject_id == invitation.id
    visitor = browser(app)
    refused = visitor.get(invitation_path(invitation))
    assert refused.status_code == 409 and "This invitation was revoked by the organizer." in text(refused)
    assert visitor.post(invitation_path(invitation), data={**NEW_ACCOUNT, "email": "otra@example.mx"}).status_code == 409
    assert db.session.scalar(select(func.count(User.id)).where(User.email == "otra@example.mx")) == 0
    again = visitor.get(invitation_path(used))
    assert again.status_code == 409 and "This invitation was already used" in text(again)


def test_an_invitation_accepted_twice_at_once_makes_one_account(app, make):
    from sqlalchemy import update

    organizer = make.user(Role.ORGANIZER)
    first = make.user(Role.ENTREPRENEUR)
    invitation = services.create_invitation(organizer, role=Role.JUDGE)
    db.session.commit()
    stale = db.session.get(Invitation, invitation.id)
    assert stale.accepted_at is None
    spend_elsewhere(update(Invitation).where(Invitation.id == invitation.id)
                    .values(accepted_at=utcnow(), accepted_by_id=first.id))
    with force_locale("en"), pytest.raises(Conflict) as refused:
        services.accept_with_new_account(stale, name="Otra", email="otra@example.mx",
                                         password=factories.PASSWORD, language="es_MX")
    assert "already used" in refused.value.message
    db.session.rollback()
    assert db.session.scalar(select(func.count(User.id)).where(User.email == "otra@example.mx")) == 0


def test_an_organizer_invitation_revokes_the_accepting_accounts_api_tokens(app, make):
    from pitchtank.accounts import services as accounts

    organizer = make.user(Role.ORGANIZER)
    judge = make.user(Role.JUDGE)
    accounts.issue_token(judge)
    invitation = services.create_invitation(organizer, role=Role.ORGANIZER)
    db.session.commit()
    client = browser(app, judge)
    assert client.post(invitation_path(invitation)).status_code == 302
    db.session.refresh(judge)
    assert judge.has_role(Role.ORGANIZER)
    from pitchtank.accounts.models import ApiToken

    assert db.session.scalar(select(func.count(ApiToken.id)).where(ApiToken.revoked_at.is_(None))) == 0
