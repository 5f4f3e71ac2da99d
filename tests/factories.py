"""Build domain objects through the real services, with sensible defaults."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

from pitchtank.accounts import services as accounts
from pitchtank.accounts.models import Role, User
from pitchtank.core.types import utcnow
from pitchtank.events import services as events
from pitchtank.events.models import Event, PitchSession, Submission
from pitchtank.extensions import db
from pitchtank.organizations.models import Organization
from pitchtank.ventures import services as ventures
from pitchtank.ventures.models import Sector, Stage, Venture

PASSWORD = "correct horse battery"
_sequence = itertools.count(1)


def organization(name: str | None = None, **kwargs) -> Organization:
    org = Organization(name=name or f"Empresa {next(_sequence)}", **kwargs)
    db.session.add(org)
    db.session.flush()
    return org


def user(role: Role | None = Role.ENTREPRENEUR, *, email: str | None = None, name: str | None = None,
         password: str = PASSWORD, organization_: Organization | None = None, **kwargs) -> User:
    number = next(_sequence)
    roles = [role] if role else []
    if Role.INVESTOR in roles and organization_ is None:
        organization_ = organization()
    kwargs.setdefault("email_verified", True)  # sign-up's confirmation link is tested on its own
    return accounts.register_user(
        email=email or f"user{number}@example.mx", name=name or f"Persona {number}",
        password=password, roles=roles, organization=organization_, **kwargs,
    )


def venture_data(**overrides) -> ventures.VentureData:
    values = dict(
        name=f"Emprendimiento {next(_sequence)}", tagline="Software para PyMEs del Bajío",
        sector=Sector.IT_SOFTWARE, stage=Stage.MVP, description="Una descripción completa.",
        ask_cents=150_000_000, equity_offered_pct=Decimal("12.50"),
    )
    values.update(overrides)
    return ventures.VentureData(**values)


def venture(owner: User | None = None, **overrides) -> Venture:
    return ventures.create_venture(owner or user(Role.ENTREPRENEUR), venture_data(**overrides))


def event(*, open_for_submissions: bool = True, organizer: User | None = None, **overrides) -> Event:
    now = utcnow()
    if open_for_submissions:
        window = dict(submissions_open_at=now - timedelta(days=1), submissions_close_at=now + timedelta(days=10))
    else:
        window = dict(submissions_open_at=now - timedelta(days=10), submissions_close_at=now - timedelta(days=1))
    values = dict(name=f"Pitch Day {next(_sequence)}", venue="León, Gto.",
                  starts_at=now + timedelta(days=20), ends_at=now + timedelta(days=21), **window)
    values.update(overrides)
    return events.create_event(organizer or user(Role.ORGANIZER), events.EventData(**values))


def session(event_: Event | None = None, **overrides) -> PitchSession:
    event_ = event_ or event()
    values = dict(title=f"Sesión {next(_sequence)}", starts_at=event_.starts_at, pitch_minutes=5, qa_minutes=3)
    values.update(overrides)
    return events.create_session(event_, events.SessionData(**values))


def submission(venture_: Venture | None = None, event_: Event | None = None, *, accepted: bool = False) -> Submission:
    venture_ = venture_ or venture()
    event_ = event_ or event()
    applied = events.apply(venture_, event_, venture_.owner, now=event_.submissions_open_at)
    if accepted:
        events.decide(applied, accept=True, note="", actor=user(Role.ORGANIZER))
    return applied


def pitching_session(pitches: int = 3, judges: int = 2) -> tuple[PitchSession, list[User]]:
    """A session with ``pitches`` accepted ventures in its running order and ``judges`` judges."""
    event_ = event()
    session_ = session(event_)
    subs = [submission(event_=event_, accepted=True) for _ in range(pitches)]
    events.set_running_order(session_, [s.id for s in subs])
    judge_users = [user(Role.JUDGE) for _ in range(judges)]
    events.set_judges(session_, [j.id for j in judge_users])
    return session_, judge_users


def enroll_two_factor(user_: User) -> str:
    """Turn two-factor authentication on for ``user_`` (only when a test asks); returns the secret."""
    import pyotp

    from pitchtank.accounts import two_factor

    secret = two_factor.new_secret()
    two_factor.enable(user_, secret, pyotp.TOTP(secret).now())
    user_.totp_last_step = None  # the code used to enrol stays usable for the test's first login
    db.session.flush()
    return secret


def totp_code(secret: str, steps_ahead: int = 0) -> str:
    """The authenticator app's code now, or ``steps_ahead`` 30-second steps later (a fresh one)."""
    import pyotp

    totp = pyotp.TOTP(secret)
    return totp.generate_otp(totp.timecode(utcnow()) + steps_ahead)
