"""Who may use which page: one table, checked against every page route of the app.

Each row of ``ACCESS`` names an endpoint, how to call it (with real objects from the
factories) and, for every kind of visitor, what must happen: the page works (ALLOW), the
visitor is sent to the login page (LOGIN), refused (FORBIDDEN, 403) or told that the thing
does not exist (NOT_FOUND, 404: another entrepreneur's private venture is not even
confirmed to exist).  A page route that the table does not cover makes the test fail.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

from flask.testing import FlaskClient
from pypdf import PdfWriter

from pitchtank.accounts import recovery, verification
from pitchtank.accounts.models import Role, User
from pitchtank.events import services as event_services
from pitchtank.extensions import db
from pitchtank.fund import services as fund_services
from pitchtank.fund.models import Offer
from pitchtank.invitations import services as invitation_services
from pitchtank.ventures import services as venture_services
from tests import factories

ALLOW, LOGIN, FORBIDDEN, NOT_FOUND = "allow", "login", "forbidden", "not found"

# Who knocks: "entrepreneur" is an entrepreneur who does not own the objects in play,
# "owner" the entrepreneur who does; "judge" is a judge of no session, "session_judge"
# the judge of the session in which the public venture pitches; "investor" represents a
# company with no stake in the fund, "company_investor" the company that pledged, was
# called, paid and made an offer.
PRINCIPALS = ("anonymous", "entrepreneur", "owner", "judge", "session_judge", "investor", "company_investor",
              "organizer")
ROLE_OF = {"entrepreneur": Role.ENTREPRENEUR, "judge": Role.JUDGE, "investor": Role.INVESTOR,
           "organizer": Role.ORGANIZER}


def access(default: str, **overrides: str) -> dict[str, str]:
    table = dict.fromkeys(PRINCIPALS, default)
    table.update(overrides)
    if "company_investor" not in overrides:
        table["company_investor"] = table["investor"]
    return table


PUBLIC = access(ALLOW)
LOGGED_IN = access(ALLOW, anonymous=LOGIN)
ORGANIZERS = access(FORBIDDEN, anonymous=LOGIN, organizer=ALLOW)
ENTREPRENEURS = access(FORBIDDEN, anonymous=LOGIN, entrepreneur=ALLOW, owner=ALLOW)
# Only the owner; a private venture is invisible to everyone else but organizers.
OWNER_OF_PRIVATE = access(FORBIDDEN, anonymous=LOGIN, owner=ALLOW, entrepreneur=NOT_FOUND)
OWNER_OF_PUBLIC = access(FORBIDDEN, anonymous=LOGIN, owner=ALLOW)
# The judges of the session only (the tablet); other judges are refused by the view.
SESSION_JUDGES = access(FORBIDDEN, anonymous=LOGIN, session_judge=ALLOW)
INVESTORS = access(FORBIDDEN, anonymous=LOGIN, investor=ALLOW)
# One company's pledge, call line or payment: its investors and the organizers; another
# company's investors are not told it exists.
COMPANY_AND_ORGANIZERS = access(FORBIDDEN, anonymous=LOGIN, investor=NOT_FOUND, company_investor=ALLOW,
                                organizer=ALLOW)
COMPANY_ONLY = access(FORBIDDEN, anonymous=LOGIN, investor=NOT_FOUND, company_investor=ALLOW)


@dataclass
class World:
    """Real objects for one row: two ventures of one owner, an event, a session, ..."""

    owner: User
    private_venture_id: int
    public_venture_id: int
    event_id: int
    session_id: int
    pitch_id: int
    pending_submission_id: int
    session_judge: User
    organization_id: int
    invitation_id: int
    invitation_token: str
    other_user_id: int
    login_link_id: int
    login_token: str
    company_investor: User
    fund_id: int
    pledge_id: int
    line_id: int
    payment_id: int
    allocation_id: int
    offer_id: int


@dataclass
class Row:
    endpoint: str
    access: dict[str, str]
    params: Callable[[World], dict] = lambda world: {}
    method: str = "GET"
    # Refusals that come from who owns an object rather than from the role decorator.
    ownership: bool = False
    note: str = ""


ACCESS: list[Row] = [
    # core
    Row("core.home", PUBLIC),
    Row("core.healthz", PUBLIC),
    Row("core.readyz", PUBLIC),
    # Metrics are refused by network or token, not by role: the test client calls from
    # 127.0.0.1, which is allowed; other addresses are refused in tests/test_operations.py.
    Row("core.metrics", PUBLIC, note="from loopback"),
    Row("core.set_language", PUBLIC, method="POST"),
    Row("core.dashboard", LOGGED_IN),
    # accounts
    Row("accounts.signup", PUBLIC),
    Row("accounts.login", PUBLIC),
    Row("accounts.logout", PUBLIC, method="POST"),
    Row("accounts.account", LOGGED_IN),
    Row("accounts.change_password", LOGGED_IN, method="POST"),
    # pages reached from emails: confirm the address, reset a forgotten password
    Row("accounts.verify_email", PUBLIC, lambda w: {"token": verification.verification_token(w.owner)}),
    Row("accounts.verify_email_notice", LOGGED_IN),
    Row("accounts.forgot_password", PUBLIC),
    Row("accounts.reset_password", PUBLIC, lambda w: {"token": recovery.reset_token(w.owner)}),
    # two-factor authentication (everyone may turn it on; organizers must)
    Row("two_factor.verify", LOGGED_IN, note="no login waiting for its code"),
    Row("two_factor.overview", LOGGED_IN),
    Row("two_factor.setup", LOGGED_IN),
    Row("two_factor.disable", LOGGED_IN, method="POST"),
    Row("two_factor.regenerate_codes", LOGGED_IN, method="POST"),
    Row("accounts.users", ORGANIZERS),
    Row("accounts.edit_user", ORGANIZERS, lambda w: {"user_id": w.other_user_id}),
    # ventures
    Row("ventures.index", PUBLIC),
    Row("ventures.mine", ENTREPRENEURS),
    Row("ventures.new", ENTREPRENEURS),
    Row("ventures.show", access(NOT_FOUND, owner=ALLOW, organizer=ALLOW),
        lambda w: {"venture_id": w.private_venture_id}, ownership=True, note="private venture"),
    Row("ventures.show", PUBLIC, lambda w: {"venture_id": w.public_venture_id}, note="public venture"),
    Row("ventures.edit", OWNER_OF_PRIVATE, lambda w: {"venture_id": w.private_venture_id},
        ownership=True, note="private venture"),
    Row("ventures.edit", OWNER_OF_PUBLIC, lambda w: {"venture_id": w.public_venture_id},
        ownership=True, note="public venture"),
    Row("ventures.deck_upload", OWNER_OF_PRIVATE, lambda w: {"venture_id": w.private_venture_id},
        ownership=True, note="private venture"),
    Row("ventures.deck_upload", OWNER_OF_PUBLIC, lambda w: {"venture_id": w.public_venture_id},
        ownership=True, note="public venture"),
    Row("ventures.deck_file", access(NOT_FOUND, owner=ALLOW, organizer=ALLOW),
        lambda w: {"venture_id": w.private_venture_id}, ownership=True, note="private venture"),
    Row("ventures.deck_file",
        access(FORBIDDEN, anonymous=LOGIN, owner=ALLOW, organizer=ALLOW, investor=ALLOW, session_judge=ALLOW),
        lambda w: {"venture_id": w.public_venture_id}, ownership=True, note="public venture"),
    # events
    Row("events.index", PUBLIC),
    Row("events.show", PUBLIC, lambda w: {"event_id": w.event_id}),
    Row("events.show_session", PUBLIC, lambda w: {"session_id": w.session_id}),
    Row("events.new", ORGANIZERS),
    Row("events.edit", ORGANIZERS, lambda w: {"event_id": w.event_id}),
    Row("events.manage", ORGANIZERS, lambda w: {"event_id": w.event_id}),
    Row("events.new_session", ORGANIZERS, lambda w: {"event_id": w.event_id}),
    Row("events.edit_session", ORGANIZERS, lambda w: {"session_id": w.session_id}),
    Row("events.manage_session", ORGANIZERS, lambda w: {"session_id": w.session_id}),
    Row("events.apply", ENTREPRENEURS, lambda w: {"event_id": w.event_id}),
    Row("events.withdraw", OWNER_OF_PRIVATE, lambda w: {"submission_id": w.pending_submission_id},
        method="POST", ownership=True),
    Row("events.decide", ORGANIZERS, lambda w: {"submission_id": w.pending_submission_id}, method="POST"),
    Row("events.add_pitch", ORGANIZERS, lambda w: {"session_id": w.session_id}, method="POST"),
    Row("events.move_pitch", ORGANIZERS, lambda w: {"session_id": w.session_id, "pitch_id": w.pitch_id},
        method="POST"),
    Row("events.remove_pitch", ORGANIZERS, lambda w: {"session_id": w.session_id, "pitch_id": w.pitch_id},
        method="POST"),
    Row("events.set_judges", ORGANIZERS, lambda w: {"session_id": w.session_id}, method="POST"),
    # member companies
    Row("organizations.index", ORGANIZERS),
    Row("organizations.new", ORGANIZERS),
    Row("organizations.show", ORGANIZERS, lambda w: {"organization_id": w.organization_id}),
    Row("organizations.edit", ORGANIZERS, lambda w: {"organization_id": w.organization_id}),
    # invitations
    Row("invitations.index", ORGANIZERS),
    Row("invitations.show", ORGANIZERS, lambda w: {"invitation_id": w.invitation_id}),
    Row("invitations.revoke", ORGANIZERS, lambda w: {"invitation_id": w.invitation_id}, method="POST"),
    Row("invitations.accept", PUBLIC, lambda w: {"token": w.invitation_token}),
    # judges' login codes
    Row("invitations.create_login_code", ORGANIZERS,
        lambda w: {"session_id": w.session_id, "user_id": w.session_judge.id}, method="POST"),
    Row("invitations.show_login_code", ORGANIZERS, lambda w: {"link_id": w.login_link_id}),
    Row("invitations.use_login_code", PUBLIC, lambda w: {"token": w.login_token}),
    Row("invitations.revoke_login_code", ORGANIZERS, lambda w: {"link_id": w.login_link_id}, method="POST"),
    Row("invitations.set_judge_logins", ORGANIZERS, lambda w: {"session_id": w.session_id}, method="POST"),
    # live judging: the organizer's console
    Row("judging_console.console", ORGANIZERS, lambda w: {"session_id": w.session_id}),
    Row("judging_console.status", ORGANIZERS, lambda w: {"session_id": w.session_id}),
    Row("judging_console.act", ORGANIZERS, lambda w: {"session_id": w.session_id, "action": "start"},
        method="POST"),
    Row("judging_console.void", ORGANIZERS, lambda w: {"session_id": w.session_id}, method="POST"),
    Row("judging_console.rubric", ORGANIZERS, lambda w: {"session_id": w.session_id}),
    Row("judging_console.copy_rubric", ORGANIZERS, lambda w: {"session_id": w.session_id}, method="POST"),
    Row("judging_console.audit", ORGANIZERS, lambda w: {"session_id": w.session_id}),
    Row("judging_console.export_audit", ORGANIZERS, lambda w: {"session_id": w.session_id}),
    Row("judging_console.export_scores", ORGANIZERS, lambda w: {"session_id": w.session_id, "extension": "csv"}),
    Row("judging_console.export_scores", ORGANIZERS, lambda w: {"session_id": w.session_id, "extension": "xlsx"},
        note="xlsx"),
    Row("judging_console.export_results", ORGANIZERS, lambda w: {"session_id": w.session_id, "extension": "csv"}),
    # live judging: the judges' tablet
    Row("judging_tablet.tablet", SESSION_JUDGES, lambda w: {"session_id": w.session_id}, ownership=True),
    Row("judging_tablet.state", SESSION_JUDGES, lambda w: {"session_id": w.session_id}, ownership=True),
    # live judging: the audience's screens; results and feedback before publication
    Row("judging_screens.screen", PUBLIC, lambda w: {"session_id": w.session_id}),
    Row("judging_screens.vote", PUBLIC, lambda w: {"session_id": w.session_id}),
    Row("judging_screens.results", access(NOT_FOUND, organizer=ALLOW), lambda w: {"session_id": w.session_id},
        note="not published yet"),
    Row("judging_screens.feedback",
        access(FORBIDDEN, anonymous=LOGIN, owner=ALLOW, organizer=ALLOW, entrepreneur=NOT_FOUND),
        lambda w: {"pitch_id": w.pitch_id}, ownership=True),
    # the capital fund: organizers run it
    Row("fund.index", ORGANIZERS),
    Row("fund.new", ORGANIZERS),
    Row("fund.show", ORGANIZERS, lambda w: {"fund_id": w.fund_id}),
    Row("fund.set_status", ORGANIZERS, lambda w: {"fund_id": w.fund_id}, method="POST"),
    Row("fund.new_call", ORGANIZERS, lambda w: {"fund_id": w.fund_id}),
    Row("fund.record_transfer", ORGANIZERS, lambda w: {"line_id": w.line_id}, method="POST"),
    Row("fund.allocate", ORGANIZERS, lambda w: {"fund_id": w.fund_id}, method="POST"),
    Row("fund.reverse_allocation", ORGANIZERS, lambda w: {"allocation_id": w.allocation_id}, method="POST"),
    Row("fund.export_ledger", ORGANIZERS, lambda w: {"fund_id": w.fund_id, "extension": "csv"}),
    Row("fund.export_ledger", ORGANIZERS, lambda w: {"fund_id": w.fund_id, "extension": "xlsx"}, note="xlsx"),
    Row("fund.session_offers", ORGANIZERS, lambda w: {"session_id": w.session_id}),
    # the capital fund: investors pledge and pay for their company
    Row("fund.dashboard", INVESTORS),
    Row("fund.pledge", INVESTORS, lambda w: {"fund_id": w.fund_id}, method="POST"),
    Row("fund.change_pledge", COMPANY_ONLY, lambda w: {"pledge_id": w.pledge_id}, method="POST", ownership=True),
    Row("fund.cancel_pledge", COMPANY_ONLY, lambda w: {"pledge_id": w.pledge_id}, method="POST", ownership=True),
    Row("fund.call_notice_pdf", COMPANY_AND_ORGANIZERS, lambda w: {"line_id": w.line_id}, ownership=True),
    Row("fund.receipt_pdf", COMPANY_AND_ORGANIZERS, lambda w: {"payment_id": w.payment_id}, ownership=True),
    Row("fund.save_card", INVESTORS, method="POST"),
    # Without Stripe configured (as here) card payments answer "pay by SPEI" before looking at
    # the line, so another company's investor learns nothing either way.
    Row("fund.pay_line", INVESTORS, lambda w: {"line_id": w.line_id}, method="POST", note="no Stripe"),
    Row("fund.complete_payment", INVESTORS, lambda w: {"payment_id": w.payment_id}, method="POST",
        note="no Stripe"),
    # offers: investors make them, the venture's owner answers them
    Row("fund.make_offer", INVESTORS, lambda w: {"pitch_id": w.pitch_id}),
    Row("fund.entrepreneur_offers", ENTREPRENEURS),
    Row("fund.decide_offer", OWNER_OF_PRIVATE, lambda w: {"offer_id": w.offer_id, "decision": "decline"},
        method="POST", ownership=True),
    # the audit log: organizers read and download it; nobody changes it
    Row("audit.index", ORGANIZERS),
    Row("audit.export", ORGANIZERS, lambda w: {"extension": "csv"}),
    Row("audit.export", ORGANIZERS, lambda w: {"extension": "xlsx"}, note="xlsx"),
    # privacy: the notice for everyone; one's own data download and account deletion
    Row("privacy.notice", PUBLIC),
    Row("privacy.download", LOGGED_IN),
    Row("privacy.delete_account", LOGGED_IN),
]


def browser(app, user: User | None = None) -> FlaskClient:
    client = app.test_client()
    if user is not None:
        with client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
            session["tfa_user_id"] = user.id  # as if two-factor was verified
    return client


def pdf_bytes() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=842, height=595)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def build_world() -> World:
    owner = factories.user(Role.ENTREPRENEUR)
    private = factories.venture(owner, name="Borrador privado")
    public = factories.venture(owner, name="Emprendimiento aceptado")
    deck = pdf_bytes()
    venture_services.store_deck(private, owner, deck)
    venture_services.store_deck(public, owner, deck)
    event = factories.event()
    session = factories.session(event)
    accepted = factories.submission(public, event, accepted=True)
    pending = factories.submission(private, event)
    (pitch,) = event_services.set_running_order(session, [accepted.id])
    judge = factories.user(Role.JUDGE)
    event_services.set_judges(session, [judge.id])
    organizer = factories.user(Role.ORGANIZER)
    invitation = invitation_services.create_invitation(organizer, role=Role.JUDGE)
    login_link = invitation_services.create_login_link(organizer, judge, session)
    organization = factories.organization()
    other = factories.user(Role.ENTREPRENEUR)
    # The fund: one company pledged, was called, paid by transfer; part went to the public venture.
    fund = fund_services.create_fund(organizer, fund_services.FundData(
        name="Fondo Bajío", target_cents=10_000_000_00, min_pledge_cents=100_000_00,
        commitment_deadline=date.today() + timedelta(days=90), clabe="002180700123456788"))
    company_investor = factories.user(Role.INVESTOR)
    pledge = fund_services.pledge(fund.id, company_investor, 1_000_000_00)
    call = fund_services.issue_capital_call(fund.id, organizer, percent=Decimal("50"),
                                            due_date=date.today() + timedelta(days=30))
    (line,) = call.lines
    payment = fund_services.record_transfer(line.id, organizer, amount_cents=100_000_00, paid_on=date.today(),
                                            reference="SPEI 0001")
    allocation = fund_services.allocate(fund.id, organizer, venture_id=public.id, amount_cents=50_000_00)
    # The offer goes to another of the owner's ventures, pitching in another session, so that
    # taking ``pitch`` out of the running order does not meet it. (Written directly: offers
    # need a pitch that has taken the stage.)
    other_session = factories.session(event)
    offered = factories.submission(factories.venture(owner, name="Otra aceptada"), event, accepted=True)
    (offered_pitch,) = event_services.set_running_order(other_session, [offered.id])
    offer = Offer(pitch_id=offered_pitch.id, venture_id=offered.venture_id, investor_id=company_investor.id,
                  organization_id=company_investor.organization_id, amount_cents=2_000_000_00, equity_bp=1000)
    db.session.add(offer)
    db.session.commit()
    return World(
        owner=owner, private_venture_id=private.id, public_venture_id=public.id, event_id=event.id,
        session_id=session.id, pitch_id=pitch.id, pending_submission_id=pending.id, session_judge=judge,
        organization_id=organization.id, invitation_id=invitation.id,
        invitation_token=invitation_services.invitation_token(invitation), other_user_id=other.id,
        login_link_id=login_link.id, login_token=invitation_services.login_link_token(login_link),
        company_investor=company_investor, fund_id=fund.id, pledge_id=pledge.id, line_id=line.id,
        payment_id=payment.id, allocation_id=allocation.id, offer_id=offer.id,
    )


def principal_users(world: World, plain: dict[str, User]) -> dict[str, User | None]:
    """The users who knock: ``plain`` ones (one per role, owning nothing) and the world's own."""
    return {**plain, "anonymous": None, "owner": world.owner, "session_judge": world.session_judge,
            "company_investor": world.company_investor}


def page_endpoints(app) -> set[str]:
    return {
        rule.endpoint for rule in app.url_map.iter_rules()
        if rule.endpoint != "static" and not rule.rule.startswith("/api/")
    }


def methods_of(app, endpoint: str) -> set[str]:
    methods: set[str] = set()
    for rule in app.url_map.iter_rules(endpoint):
        methods |= rule.methods - {"HEAD", "OPTIONS"}
    return methods


def check(response, expected: str, path: str) -> str | None:
    """What is wrong with ``response`` for the ``expected`` outcome, or None."""
    status = response.status_code
    location = response.headers.get("Location", "")
    target = urlsplit(location)
    to_login = status == 302 and target.path == "/login"
    if expected == ALLOW:
        if status not in (200, 302, 422) or to_login:
            return f"expected the page to work (200/302/422), got {status} {location}"
    elif expected == LOGIN:
        if not to_login:
            return f"expected a redirect to /login, got {status} {location}"
        if parse_qs(target.query).get("next") != [path]:
            return f"expected next={path!r} in {location!r}"
    elif expected == FORBIDDEN and status != 403:
        return f"expected 403, got {status} {location}"
    elif expected == NOT_FOUND and status != 404:
        return f"expected 404, got {status} {location}"
    return None


def test_every_page_route_enforces_its_access_table(app, db):
    # 1. The table covers exactly the app's page routes.
    covered = {row.endpoint for row in ACCESS}
    routes = page_endpoints(app)
    assert routes - covered == set(), f"page routes missing from the access table: {sorted(routes - covered)}"
    assert covered - routes == set(), f"the access table names routes that no longer exist: {sorted(covered - routes)}"

    problems: list[str] = []
    world: World | None = None
    users: dict[str, User | None] = {}
    plain = {principal: factories.user(role) for principal, role in ROLE_OF.items()}
    db.session.commit()
    for row in ACCESS:
        assert set(row.access) == set(PRINCIPALS), row.endpoint
        methods = methods_of(app, row.endpoint)
        assert row.method in methods, f"{row.endpoint} does not answer {row.method}"

        # 2. The table agrees with the role decorator on the view.
        required = getattr(app.view_functions[row.endpoint], "required_roles", None)
        refused_roles = {ROLE_OF[p] for p in ROLE_OF if row.access[p] == FORBIDDEN}
        if required is not None:
            by_decorator = set(Role) - set(required)
            assert by_decorator <= refused_roles, (row.endpoint, "table admits", by_decorator - refused_roles)
            assert row.ownership or refused_roles == by_decorator, (row.endpoint, "table refuses", refused_roles)
        else:
            assert row.ownership or not refused_roles, (row.endpoint, "refuses roles but has no role decorator")

        # 3. Every visitor gets what the table says, refusals first (allowed calls may change things).
        if world is None:
            world = build_world()
            users = principal_users(world, plain)
        path = app.url_map.bind("pitchtank.test").build(row.endpoint, row.params(world))
        order = sorted(PRINCIPALS, key=lambda p: row.access[p] == ALLOW)
        for principal in order:
            expected = row.access[principal]
            calls = [row.method]
            if expected != ALLOW and row.method == "GET" and "POST" in methods:
                calls.append("POST")  # a form route must refuse the submission as well as the page
            for method in calls:
                client = browser(app, users[principal])
                response = client.open(path, method=method, data={})
                problem = check(response, expected, path)
                if problem:
                    label = f"{row.endpoint}{f' ({row.note})' if row.note else ''}"
                    problems.append(f"{method} {path} [{label}] as {principal}: {problem}")
        if row.method != "GET":
            world = None  # an allowed submission may have changed the objects: start afresh
    assert problems == [], "\n".join(problems)
