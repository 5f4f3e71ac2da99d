"""The organizer's pages: events and sessions, decisions, running orders, judges, member
companies, users and their roles, invitations.

Messages are checked in English (after POST /language lang=en): the msgids are English and the
Spanish catalog will translate them.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from pitchtank.accounts.models import Role, User
from pitchtank.core.types import utcnow
from pitchtank.events import services as event_services
from pitchtank.events.models import Event, PitchSession, SubmissionStatus
from pitchtank.extensions import db
from pitchtank.invitations import services as invitation_services
from pitchtank.invitations.models import Invitation
from pitchtank.organizations.models import MembershipStatus, Organization

PASSWORD = "una clave bastante larga"
EVENT_FORM = {
    "name": "Demo Day León 2027", "venue": "Poliforum León", "description": "Pitches del clúster TI.",
    "starts_at": "2027-03-10T09:00", "ends_at": "2027-03-10T18:30",
    "submissions_open_at": "2027-01-10T00:00", "submissions_close_at": "2027-03-01T23:59",
}


def browser(app, user: User | None = None, *, english: bool = True) -> FlaskClient:
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


def location(response) -> str:
    return response.headers.get("Location", "")


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def at(year, month, day, hour=0, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def organizer(make):
    user = make.user(Role.ORGANIZER, name="Olga Organizadora")
    db.session.commit()
    return user


@pytest.fixture
def client(app, organizer):
    """The organizer's browser, in English."""
    return browser(app, organizer)


# ---------------------------------------------------------------- events and sessions


def test_an_event_is_typed_in_mexico_city_time_and_stored_in_utc(client):
    response = client.post("/events/new", data=EVENT_FORM)
    assert response.status_code == 302
    event = db.session.scalar(select(Event))
    assert location(response).endswith(f"/events/{event.id}/manage")
    assert event.name == "Demo Day León 2027"
    assert event.starts_at == at(2027, 3, 10, 15, 0)  # 09:00 in Mexico City is 15:00 UTC
    assert event.ends_at == at(2027, 3, 11, 0, 30)
    assert event.submissions_open_at == at(2027, 1, 10, 6, 0)
    assert event.submissions_close_at == at(2027, 3, 2, 5, 59)
    # The form shows the same local times back.
    edit = client.get(f"/events/{event.id}/edit").get_data(as_text=True)
    assert 'value="2027-03-10T09:00"' in edit and 'value="2027-03-10T18:30"' in edit
    # Mexico City has kept UTC-6 all year since 2022: no summer time.
    response = client.post(f"/events/{event.id}/edit", data={**EVENT_FORM, "starts_at": "2027-03-10T07:00",
                                                             "submissions_close_at": "2027-03-09T12:00"})
    assert response.status_code == 302
    db.session.refresh(event)
    assert event.starts_at == at(2027, 3, 10, 13, 0) and event.submissions_close_at == at(2027, 3, 9, 18, 0)
    response = client.post("/events/new", data={**EVENT_FORM, "name": "Verano", "starts_at": "2027-07-10T09:00",
                                                "ends_at": "2027-07-10T18:00"})
    assert response.status_code == 302
    summer = db.session.scalar(select(Event).where(Event.name == "Verano"))
    assert summer.starts_at == at(2027, 7, 10, 15, 0)


BAD_EVENTS = {
    "the end before the start": ({"ends_at": "2027-03-10T08:00"}, "The event must end after it starts."),
    "applications closing before they open": ({"submissions_close_at": "2027-01-09T00:00"},
                                              "Applications must close after they open."),
    "applications closing after the event": ({"submissions_close_at": "2027-03-11T00:00"},
                                             "Applications must close before the event ends."),
    "an impossible date": ({"starts_at": "2027-13-45T09:00"}, "Not a valid datetime value."),
    "a date in another format": ({"starts_at": "10/03/2027 9:00"}, "Not a valid datetime value."),
    "no name": ({"name": "   "}, "This field is required."),
    "no start": ({"starts_at": ""}, "This field is required."),
}


@pytest.mark.parametrize("case", BAD_EVENTS, ids=list(BAD_EVENTS))
def test_bad_event_dates_are_refused_and_nothing_is_written(client, case):
    overrides, message = BAD_EVENTS[case]
    response = client.post("/events/new", data={**EVENT_FORM, **overrides})
    assert response.status_code == 422
    assert message in text(response)
    assert count(Event) == 0


def test_a_session_is_added_during_the_event(client, organizer, make):
    event = make.event(organizer=organizer, starts_at=at(2027, 3, 10, 15), ends_at=at(2027, 3, 11, 0, 30),
                       submissions_open_at=at(2027, 1, 10), submissions_close_at=at(2027, 3, 1))
    db.session.commit()
    form = {"title": "Sesión de la mañana", "starts_at": "2027-03-10T10:30", "pitch_minutes": "5", "qa_minutes": "3"}
    response = client.post(f"/events/{event.id}/sessions/new", data=form)
    assert response.status_code == 302
    session = db.session.scalar(select(PitchSession))
    assert location(response).endswith(f"/sessions/{session.id}/manage")
    assert session.starts_at == at(2027, 3, 10, 16, 30)
    assert (session.title, session.pitch_minutes, session.qa_minutes) == ("Sesión de la mañana", 5, 3)
    assert client.get(f"/sessions/{session.id}/manage").status_code == 200

    outside = client.post(f"/events/{event.id}/sessions/new", data={**form, "starts_at": "2027-03-12T10:00"})
    assert outside.status_code == 422
    assert "The session must start during the event." in text(outside)
    for field, value in (("pitch_minutes", "0"), ("pitch_minutes", "61"), ("qa_minutes", "-1"),
                         ("qa_minutes", "tres"), ("title", "")):
        assert client.post(f"/events/{event.id}/sessions/new", data={**form, field: value}).status_code == 422
    assert count(PitchSession) == 1


# ---------------------------------------------------------------- applications


def test_accept_and_reject_with_notes_that_the_entrepreneur_reads(app, client, organizer, make):
    event = make.event(organizer=organizer, name="Hackathon Celaya")
    owner = make.user(Role.ENTREPRENEUR)
    good = make.submission(make.venture(owner, name="Cosecha Lista"), event)
    weak = make.submission(make.venture(owner, name="Idea Verde"), event)
    db.session.commit()

    page = client.get(f"/events/{event.id}/manage")
    assert page.status_code == 200 and "Cosecha Lista" in text(page) and "Idea Verde" in text(page)
    response = client.post(f"/submissions/{good.id}/decision",
                           data={"decision": "accept", "note": "¡Felicidades! Lleguen a las 9:00."})
    assert response.status_code == 302
    assert urlsplit(location(response)).path == f"/events/{event.id}/manage"
    response = client.post(f"/submissions/{weak.id}/decision",
                           data={"decision": "reject", "note": "Les falta tracción; vuelvan el próximo año."})
    assert response.status_code == 302
    db.session.refresh(good)
    db.session.refresh(weak)
    assert (good.status, good.decision_note, good.decided_by_id) == (
        SubmissionStatus.ACCEPTED, "¡Felicidades! Lleguen a las 9:00.", organizer.id)
    assert weak.status == SubmissionStatus.REJECTED and good.decided_at is not None

    mine = text(browser(app, owner).get("/ventures/mine"))
    assert "¡Felicidades! Lleguen a las 9:00." in mine and "Les falta tracción; vuelvan el próximo año." in mine
    assert "Accepted" in mine and "Not selected" in mine
    # Acceptance makes a venture public; the rejected one stays private.
    anonymous = browser(app)
    assert anonymous.get(f"/ventures/{good.venture_id}").status_code == 200
    assert anonymous.get(f"/ventures/{weak.venture_id}").status_code == 404


def test_decisions_that_do_not_fit_change_nothing(client, organizer, make):
    event = make.event(organizer=organizer)
    submission = make.submission(event_=event)
    withdrawn = make.submission(event_=event)
    event_services.withdraw(withdrawn, withdrawn.venture.owner)
    db.session.commit()

    page = client.post(f"/submissions/{submission.id}/decision", data={"decision": "maybe"}, follow_redirects=True)
    assert page.status_code == 200
    db.session.refresh(submission)
    assert submission.status == SubmissionStatus.PENDING

    page = client.post(f"/submissions/{submission.id}/decision", data={"decision": "reject", "note": "x" * 2001},
                       follow_redirects=True)
    db.session.refresh(submission)
    assert submission.status == SubmissionStatus.PENDING and submission.decision_note == ""

    client.post(f"/submissions/{submission.id}/decision", data={"decision": "accept", "note": ""})
    page = client.post(f"/submissions/{submission.id}/decision", data={"decision": "accept", "note": "otra vez"},
                       follow_redirects=True)
    assert "This application was already decided that way." in text(page)
    db.session.refresh(submission)
    assert submission.decision_note == ""

    page = client.post(f"/submissions/{withdrawn.id}/decision", data={"decision": "accept"}, follow_redirects=True)
    assert "The entrepreneur withdrew this application." in text(page)
    db.session.refresh(withdrawn)
    assert withdrawn.status == SubmissionStatus.WITHDRAWN


# ---------------------------------------------------------------- running order and judges


def order_of(session) -> list[int]:
    db.session.expire_all()
    return [p.submission_id for p in sorted(session.pitches, key=lambda p: p.position)]


def test_the_running_order_is_built_moved_and_trimmed(client, organizer, make):
    event = make.event(organizer=organizer)
    session = make.session(event)
    a, b, c = (make.submission(event_=event, accepted=True) for _ in range(3))
    pending = make.submission(event_=event)
    db.session.commit()
    manage = f"/sessions/{session.id}/manage"

    page = client.get(manage)
    assert page.status_code == 200 and a.venture.name in text(page)
    for submission in (a, b, c):
        response = client.post(f"/sessions/{session.id}/pitches", data={"submission_id": str(submission.id)})
        assert response.status_code == 302 and location(response).endswith(manage)
    assert order_of(session) == [a.id, b.id, c.id]
    assert [p.position for p in session.pitches] == [1, 2, 3]

    page = client.post(f"/sessions/{session.id}/pitches", data={"submission_id": str(pending.id)},
                       follow_redirects=True)
    assert f"Only accepted applications can pitch (application {pending.id})." in text(page)
    page = client.post(f"/sessions/{session.id}/pitches", data={"submission_id": str(a.id)}, follow_redirects=True)
    assert "A venture can appear only once in the running order." in text(page)
    assert order_of(session) == [a.id, b.id, c.id]

    pitch_of = {p.submission_id: p.id for p in session.pitches}
    client.post(f"/sessions/{session.id}/pitches/{pitch_of[c.id]}/move", data={"direction": "up"})
    assert order_of(session) == [a.id, c.id, b.id]
    client.post(f"/sessions/{session.id}/pitches/{pitch_of[a.id]}/move", data={"direction": "up"})  # already first
    assert order_of(session) == [a.id, c.id, b.id]
    client.post(f"/sessions/{session.id}/pitches/{pitch_of[a.id]}/move", data={"direction": "down"})
    assert order_of(session) == [c.id, a.id, b.id]
    client.post(f"/sessions/{session.id}/pitches/{pitch_of[b.id]}/move", data={"direction": "sideways"})
    assert order_of(session) == [c.id, a.id, b.id]

    response = client.post(f"/sessions/{session.id}/pitches/{pitch_of[a.id]}/remove")
    assert response.status_code == 302
    assert order_of(session) == [c.id, b.id]
    assert [p.position for p in sorted(session.pitches, key=lambda p: p.position)] == [1, 2]
    db.session.refresh(a)
    assert a.status == SubmissionStatus.ACCEPTED  # still accepted, just not on stage
    assert client.post(f"/sessions/{session.id}/pitches/{pitch_of[a.id]}/remove").status_code == 404


def test_only_judges_can_be_assigned_to_a_session(client, organizer, make):
    session = make.session(make.event(organizer=organizer))
    first, second = make.user(Role.JUDGE, name="Jueza Uno"), make.user(Role.JUDGE, name="Juez Dos")
    not_a_judge = make.user(Role.INVESTOR, name="Inversionista")
    db.session.commit()

    page = client.get(f"/sessions/{session.id}/manage")
    assert "Jueza Uno" in text(page) and "Inversionista" not in text(page)
    response = client.post(f"/sessions/{session.id}/judges", data={"judge_ids": [str(first.id), str(second.id)]})
    assert response.status_code == 302
    db.session.expire_all()
    assert {a.user_id for a in session.judge_assignments} == {first.id, second.id}

    page = client.post(f"/sessions/{session.id}/judges", data={"judge_ids": [str(not_a_judge.id)]},
                       follow_redirects=True)
    assert "Choose judges from the list." in text(page)
    db.session.expire_all()
    assert {a.user_id for a in session.judge_assignments} == {first.id, second.id}

    client.post(f"/sessions/{session.id}/judges", data={"judge_ids": [str(second.id)]})
    db.session.expire_all()
    assert {a.user_id for a in session.judge_assignments} == {second.id}


# ---------------------------------------------------------------- member companies


COMPANY_FORM = {"name": "Bajío Software Factory", "legal_name": "Bajío Software Factory, S.A. de C.V.",
                "rfc": "BSF150312AB1", "membership_status": "active"}


def test_member_companies_with_valid_unique_names_and_rfcs(client):
    response = client.post("/companies/new", data={**COMPANY_FORM, "rfc": " bsf-150312-ab1 "})
    assert response.status_code == 302
    company = db.session.scalar(select(Organization))
    assert location(response).endswith(f"/companies/{company.id}")
    assert (company.rfc, company.membership_status) == ("BSF150312AB1", MembershipStatus.ACTIVE)
    assert "Bajío Software Factory" in text(client.get("/companies/"))

    refusals = [
        ({"name": "Otra", "rfc": "BSF15031"}, "The RFC does not have a valid format (for example ABC010203XY1)."),
        ({"name": "Otra", "rfc": "BSF151312AB1"}, "The RFC does not have a valid format (for example ABC010203XY1)."),
        ({"name": "bajío software factory", "rfc": ""}, "A member company with this name already exists."),
        ({"name": "Otra", "rfc": "BSF150312AB1"}, "Another member company has this RFC."),
        ({"name": ""}, "This field is required."),
        ({"name": "Otra", "rfc": "", "membership_status": "gold"}, "Not a valid choice."),
    ]
    for overrides, message in refusals:
        response = client.post("/companies/new", data={**COMPANY_FORM, **overrides})
        assert response.status_code == 422, overrides
        assert message in text(response), overrides
    assert count(Organization) == 1

    # A person's RFC (13 characters) and no RFC at all are fine too.
    assert client.post("/companies/new", data={**COMPANY_FORM, "name": "Consultora Ana", "rfc": "TOAA800101AB1"}
                       ).status_code == 302
    assert client.post("/companies/new", data={**COMPANY_FORM, "name": "Sin RFC", "rfc": ""}).status_code == 302
    # Editing keeps its own name and RFC without calling them duplicates.
    response = client.post(f"/companies/{company.id}/edit", data={**COMPANY_FORM, "membership_status": "suspended"})
    assert response.status_code == 302
    db.session.refresh(company)
    assert company.membership_status == MembershipStatus.SUSPENDED


# ---------------------------------------------------------------- users and roles


def test_organizers_set_roles_within_the_rules(client, organizer, make):
    person = make.user(Role.ENTREPRENEUR, name="Pedro Páramo", email="pedro@example.mx")
    company = make.organization("Industrias Bajío")
    db.session.commit()

    listing = client.get("/users?q=pedro")
    assert listing.status_code == 200 and "pedro@example.mx" in text(listing)
    assert "pedro@example.mx" not in text(client.get("/users?q=nadie"))

    response = client.post(f"/users/{person.id}", data={"roles": ["entrepreneur", "judge"], "organization_id": "0"})
    assert response.status_code == 302 and location(response).endswith("/users")
    db.session.expire_all()
    assert person.roles == {Role.ENTREPRENEUR, Role.JUDGE}

    refused = client.post(f"/users/{person.id}", data={"roles": ["investor"], "organization_id": "0"})
    assert refused.status_code == 422
    assert "Link the user to a member company before making them an investor." in text(refused)
    db.session.expire_all()
    assert person.roles == {Role.ENTREPRENEUR, Role.JUDGE} and person.organization_id is None

    response = client.post(f"/users/{person.id}", data={"roles": ["investor"], "organization_id": str(company.id)})
    assert response.status_code == 302
    db.session.expire_all()
    assert person.roles == {Role.INVESTOR} and person.organization_id == company.id

    own = client.post(f"/users/{organizer.id}", data={"roles": ["judge"], "organization_id": "0"})
    assert own.status_code == 403
    assert "You cannot remove your own organizer role." in text(own)
    db.session.expire_all()
    assert organizer.roles == {Role.ORGANIZER}
    assert client.post(f"/users/{person.id}", data={"roles": ["emperor"], "organization_id": "0"}).status_code == 422
    assert client.get("/users/999999").status_code == 404


# ---------------------------------------------------------------- invitations


INVITATION_FORM = {"role": "judge", "invitee_name": "Dra. Elena López", "organization_id": "0", "ttl_hours": "72"}
NEW_ACCOUNT = {"name": "Elena López", "email": "elena@example.mx", "password": PASSWORD, "password_confirm": PASSWORD}
USED_UP = "This invitation was already used: each invitation link works once."
REFUSALS = {"revoked": "This invitation was revoked by the organizer.",
            "expired": "This invitation has expired. Ask the organizer for a new one."}


def invitation_path(invitation) -> str:
    return f"/invite/{invitation_services.invitation_token(invitation)}"


def test_a_judge_invitation_is_shown_as_link_and_qr_and_works_once(app, client):
    response = client.post("/invitations", data=INVITATION_FORM)
    assert response.status_code == 302
    invitation = db.session.scalar(select(Invitation))
    assert location(response).endswith(f"/invitations/{invitation.id}")
    assert invitation.role == Role.JUDGE and invitation.invitee_name == "Dra. Elena López"
    assert invitation.expires_at - utcnow() > timedelta(hours=71)

    page = client.get(f"/invitations/{invitation.id}")
    body = page.get_data(as_text=True)
    link = f"http://pitchtank.test{invitation_path(invitation)}"
    assert page.status_code == 200 and link in body
    assert re.search(r'<img[^>]+src="data:image/svg\+xml', body)
    assert "Dra. Elena López" in text(client.get("/invitations"))

    visitor = browser(app)
    page = visitor.get(invitation_path(invitation))
    assert page.status_code == 200 and "Dra. Elena López" in text(page)
    response = visitor.post(invitation_path(invitation), data=NEW_ACCOUNT)
    assert response.status_code == 302 and location(response).endswith("/dashboard")
    judge = db.session.scalar(select(User).where(User.email == "elena@example.mx"))
    assert judge.roles == {Role.JUDGE} and judge.language == "en"
    db.session.refresh(invitation)
    assert invitation.accepted_by_id == judge.id and invitation.accepted_at is not None
    assert visitor.get("/dashboard").status_code == 200

    someone_else = browser(app)
    again = someone_else.get(invitation_path(invitation))
    assert again.status_code == 409 and USED_UP in text(again)
    again = someone_else.post(invitation_path(invitation), data={**NEW_ACCOUNT, "email": "otra@example.mx"})
    assert again.status_code == 409
    assert count(User) == 2
    assert "used this invitation" in text(client.get(f"/invitations/{invitation.id}"))


def test_revoked_expired_and_forged_links_are_refused(app, client, organizer):
    revoked = invitation_services.create_invitation(organizer, role=Role.JUDGE)
    expired = invitation_services.create_invitation(organizer, role=Role.ORGANIZER)
    db.session.commit()

    response = client.post(f"/invitations/{revoked.id}/revoke")
    assert response.status_code == 302
    db.session.refresh(revoked)
    assert revoked.revoked_at is not None
    expired.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()

    visitor = browser(app)
    for invitation, why in ((revoked, "revoked"), (expired, "expired")):
        refused = visitor.get(invitation_path(invitation))
        assert refused.status_code == 409 and REFUSALS[why] in text(refused)
        refused = visitor.post(invitation_path(invitation), data=NEW_ACCOUNT)
        assert refused.status_code == 409
    token = invitation_services.invitation_token(revoked)
    forged = visitor.get(f"/invite/{expired.id}-{token.split('-', 1)[1]}")
    assert forged.status_code == 404 and "This invitation link is not valid." in text(forged)
    assert visitor.get("/invite/not-a-token").status_code == 404
    assert count(User) == 1

    # Revoking twice is harmless.
    assert client.post(f"/invitations/{revoked.id}/revoke").status_code == 302


def test_an_investor_invitation_needs_a_member_company(app, client, make):
    company = make.organization("Grupo Inversor del Bajío")
    db.session.commit()
    refused = client.post("/invitations", data={**INVITATION_FORM, "role": "investor"})
    assert refused.status_code == 422
    assert "An investor represents a member company: choose one." in text(refused)
    assert count(Invitation) == 0

    response = client.post("/invitations", data={**INVITATION_FORM, "role": "investor",
                                                  "organization_id": str(company.id)})
    assert response.status_code == 302
    invitation = db.session.scalar(select(Invitation))
    assert invitation.organization_id == company.id
    visitor = browser(app)
    assert visitor.post(invitation_path(invitation), data=NEW_ACCOUNT).status_code == 302
    investor = db.session.scalar(select(User).where(User.email == "elena@example.mx"))
    assert investor.roles == {Role.INVESTOR} and investor.organization_id == company.id


def test_a_logged_in_user_adds_the_invited_role(app, client, organizer, make):
    entrepreneur = make.user(Role.ENTREPRENEUR)
    invitation = invitation_services.create_invitation(organizer, role=Role.JUDGE)
    db.session.commit()
    them = browser(app, entrepreneur)
    assert them.get(invitation_path(invitation)).status_code == 200
    response = them.post(invitation_path(invitation))
    assert response.status_code == 302
    db.session.expire_all()
    assert entrepreneur.roles == {Role.ENTREPRENEUR, Role.JUDGE}
    assert invitation.accepted_by_id == entrepreneur.id
