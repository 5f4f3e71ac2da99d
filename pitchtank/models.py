"""Imports every model so that SQLAlchemy and Alembic see the whole schema."""

from pitchtank.accounts.models import ApiToken, User, UserRole
from pitchtank.api.idempotency import IdempotencyRecord
from pitchtank.audit.models import AuditEntry
from pitchtank.events.models import Event, Pitch, PitchSession, SessionJudge, Submission
from pitchtank.invitations.models import Invitation
from pitchtank.judging.models import (
    AudienceVote,
    Recusal,
    ResultSnapshot,
    RubricCriterion,
    Score,
    ScoreSheet,
)
from pitchtank.organizations.models import Organization
from pitchtank.ventures.models import Venture

__all__ = [
    "ApiToken",
    "AudienceVote",
    "AuditEntry",
    "Recusal",
    "ResultSnapshot",
    "RubricCriterion",
    "Score",
    "ScoreSheet",
    "Event",
    "IdempotencyRecord",
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
