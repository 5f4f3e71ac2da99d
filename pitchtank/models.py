"""Imports every model so that SQLAlchemy and Alembic see the whole schema."""

from pitchtank.accounts.models import ApiToken, User, UserRole
from pitchtank.events.models import Event, Pitch, PitchSession, SessionJudge, Submission
from pitchtank.invitations.models import Invitation
from pitchtank.organizations.models import Organization
from pitchtank.ventures.models import Venture

__all__ = [
    "ApiToken",
    "Event",
    "Invitation",
    "Organization",
    "Pitch",
    "PitchSession",
    "SessionJudge",
    "Submission",
    "User",
    "UserRole",
    "Venture",
]
