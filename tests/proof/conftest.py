"""A populated world for the proof tests: every kind of object exists, owned by the people who
act on it, so that generated requests reach the code behind the id checks."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings

from pitchtank.accounts import services as accounts
from pitchtank.accounts.models import Role, User
from pitchtank.core.types import utcnow
from pitchtank.events import services as events
from pitchtank.extensions import db as _db
from pitchtank.fund import offers
from pitchtank.fund import services as fund
from pitchtank.judging import rubrics, show

# CI keeps the generated runs short (PROOF_EXAMPLES per form); HYPOTHESIS_PROFILE=thorough digs deeper.
settings.register_profile(
    "proof-ci", max_examples=int(os.environ.get("PROOF_EXAMPLES", "15")), deadline=None,
    database=None, suppress_health_check=list(HealthCheck), derandomize=False,
)
settings.register_profile(
    "proof-thorough", max_examples=int(os.environ.get("PROOF_EXAMPLES", "200")), deadline=None,
    database=None, suppress_health_check=list(HealthCheck),
)
PROOF_SETTINGS = settings.get_profile(
    "proof-thorough" if os.environ.get("HYPOTHESIS_PROFILE") == "thorough" else "proof-ci")

VALID_CLABE = "002010077777777771"
ROLES = ("entrepreneur", "judge", "investor", "organizer")


@dataclass
class World:
    """Ids and people of the populated world; ``ids`` maps a path parameter to existing ids."""

    people: dict[str, User]
    tokens: dict[str, dict[str, str]]
    ids: dict[str, list[int]] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return dict(self.tokens.get(who, {}))

    def refresh_token(self, who: str) -> None:
        """A fresh bearer token (after a fuzzed ``DELETE /tokens/current`` revoked it)."""
        self.tokens[who] = {"Authorization": f"Bearer {accounts.issue_token(self.people[who])}"}
        _db.session.commit()


def build_world(make) -> World:
    """An event open for applications with a live session (rubric set, scoring open on the first
    pitch), a judge, an investor's pledge, a capital call paid by transfer, an allocation and
    offers; the entrepreneur owns one pitching venture and one draft."""
    organizer = make.user(Role.ORGANIZER, name="Olga Organizadora")
    entrepreneur = make.user(Role.ENTREPRENEUR, name="Ernesto Emprendedor")
    judge = make.user(Role.JUDGE, name="Julia Jurado")
    company = make.organization("Bajío Software")
    investor = make.user(Role.INVESTOR, name="Iván Inversionista", organization_=company)

    event = make.event(organizer=organizer)
    session = make.session(event)
    own = make.venture(entrepreneur)
    draft = make.venture(entrepreneur)
    other = make.venture()
    pending = make.submission(make.venture(), event)  # awaiting a decision
    subs = [make.submission(own, event, accepted=True), make.submission(other, event, accepted=True)]
    events.set_running_order(session, [s.id for s in subs])
    events.set_judges(session, [judge.id])
    rubrics.set_rubric(session, rubrics.default_rubric())
    show.control(session.id, "start", organizer)
    show.control(session.id, "open_scoring", organizer)
    later = make.session(event)  # scheduled: rubric, running order and judges still editable

    the_fund = fund.create_fund(organizer, fund.FundData(
        name="Fondo Clúster", target_cents=50_000_000_00, min_pledge_cents=100_000_00,
        commitment_deadline=utcnow().date() + timedelta(days=90), clabe=VALID_CLABE))
    pledge = fund.pledge(the_fund.id, investor, 1_000_000_00)
    call = fund.issue_capital_call(the_fund.id, organizer, percent=Decimal("50"),
                                   due_date=utcnow().date() + timedelta(days=30))
    line = call.lines[0]
    fund.record_transfer(line.id, organizer, amount_cents=200_000_00,
                         paid_on=utcnow().date() - timedelta(days=1), reference="SPEI 0001")
    allocation = fund.allocate(the_fund.id, organizer, venture_id=own.id, amount_cents=100_000_00)
    pitch = session.pitches[0]
    offer = offers.make_offer(pitch.id, investor, amount_cents=1_000_000_00, equity_pct=Decimal("10"))
    other_offer = offers.make_offer(pitch.id, investor, amount_cents=500_000_00, equity_pct=Decimal("5"))

    people = {"organizer": organizer, "entrepreneur": entrepreneur, "judge": judge, "investor": investor}
    tokens = {who: {"Authorization": f"Bearer {accounts.issue_token(user)}"} for who, user in people.items()}
    tokens["anonymous"] = {}
    world = World(people=people, tokens=tokens, ids={
        "event_id": [event.id],
        "session_id": [session.id, later.id],
        "pitch_id": [p.id for p in session.pitches],
        "venture_id": [own.id, draft.id, other.id],
        "submission_id": [pending.id, *(s.id for s in subs)],
        "fund_id": [the_fund.id],
        "pledge_id": [pledge.id],
        "call_id": [call.id],
        "line_id": [line.id],
        "allocation_id": [allocation.id],
        "offer_id": [offer.id, other_offer.id],
        "organization_id": [company.id],
        "user_id": [judge.id, investor.id],
    })
    _db.session.commit()
    return world


@pytest.fixture
def world(make, db) -> World:
    return build_world(make)


def pytest_terminal_summary(terminalreporter):
    """Report how many generated cases each fuzzing run executed (the lead quotes the counts)."""
    from tests.proof import counts

    for line in counts.summary_lines():
        terminalreporter.write_line(line)
    counts.write_report()
