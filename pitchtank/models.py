"""Imports every model so that SQLAlchemy and Alembic see the whole schema."""

from pitchtank.accounts.models import ApiToken, LoginThrottle, RecoveryCode, User, UserRole
from pitchtank.api.idempotency import IdempotencyRecord
from pitchtank.audit.models import AuditEntry
from pitchtank.events.models import Event, Pitch, PitchSession, SessionJudge, Submission

# Registers the ledger's append-only triggers with the metadata.
from pitchtank.fund import ledger as _ledger  # noqa: E402,F401
from pitchtank.fund.models import (
    Allocation,
    CallLine,
    CapitalCall,
    Fund,
    LedgerEntry,
    LedgerTransaction,
    Offer,
    Payment,
    Pledge,
    StripeCustomer,
    StripeEvent,
)
from pitchtank.invitations.models import Invitation, LoginLink

# Registers the listener that bumps a session's state_version whenever its scoring rules change.
from pitchtank.judging import scoring_rules as _scoring_rules  # noqa: E402,F401
from pitchtank.judging.models import (
    AudienceVote,
    Recusal,
    ResultSnapshot,
    RubricCriterion,
    Score,
    ScoreSheet,
)
from pitchtank.notices.models import OutboxAttachment, OutboxEmail
from pitchtank.organizations.models import Organization
from pitchtank.ventures.models import Venture

__all__ = [
    "Allocation",
    "CallLine",
    "CapitalCall",
    "Fund",
    "LedgerEntry",
    "LedgerTransaction",
    "Offer",
    "Payment",
    "Pledge",
    "StripeCustomer",
    "StripeEvent",
    "ApiToken",
    "LoginThrottle",
    "RecoveryCode",
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
    "LoginLink",
    "Organization",
    "OutboxAttachment",
    "OutboxEmail",
    "Pitch",
    "PitchSession",
    "SessionJudge",
    "Submission",
    "User",
    "UserRole",
    "Venture",
]
