"""Human names, in the user's language, for every state and choice shown on a page."""

from __future__ import annotations

import enum

from flask_babel import lazy_gettext as _l

from pitchtank.accounts.models import Role
from pitchtank.events.models import EventStatus, PitchStatus, SessionStatus, SubmissionStatus
from pitchtank.organizations.models import MembershipStatus
from pitchtank.ventures.models import Sector, Stage

# Pairs, not a dict: StrEnum members equal their values, so SubmissionStatus.PENDING and
# MembershipStatus.PENDING would collapse into one dict key and share one label.
_PAIRS: tuple[tuple[enum.Enum, object], ...] = (
    (Sector.IT_SOFTWARE, _l("IT / software")),
    (Sector.AUTOMOTIVE, _l("Automotive and auto parts")),
    (Sector.AEROSPACE, _l("Aerospace")),
    (Sector.AGRO_INDUSTRY, _l("Agro-industry")),
    (Sector.FASHION_TEXTILES_FOOTWEAR, _l("Fashion, textiles and footwear")),
    (Sector.CHEMICALS, _l("Chemicals")),
    (Sector.CONSTRUCTION_MATERIALS, _l("Construction materials")),
    (Sector.HEALTH, _l("Health")),
    (Sector.LOGISTICS, _l("Logistics")),
    (Sector.OTHER, _l("Other")),
    (Stage.IDEA, _l("Idea")),
    (Stage.PROTOTYPE, _l("Prototype")),
    (Stage.MVP, _l("Minimum viable product")),
    (Stage.EARLY_REVENUE, _l("First sales")),
    (Stage.GROWTH, _l("Growth")),
    (Role.ENTREPRENEUR, _l("Entrepreneur")),
    (Role.JUDGE, _l("Judge")),
    (Role.INVESTOR, _l("Investor")),
    (Role.ORGANIZER, _l("Organizer")),
    (SubmissionStatus.PENDING, _l("Under review")),
    (SubmissionStatus.ACCEPTED, _l("Accepted")),
    (SubmissionStatus.REJECTED, _l("Not selected")),
    (SubmissionStatus.WITHDRAWN, _l("Withdrawn")),
    (EventStatus.UPCOMING, _l("Upcoming")),
    (EventStatus.SUBMISSIONS_OPEN, _l("Open for applications")),
    (EventStatus.SUBMISSIONS_CLOSED, _l("Applications closed")),
    (EventStatus.IN_PROGRESS, _l("Happening now")),
    (EventStatus.PAST, _l("Past")),
    (SessionStatus.SCHEDULED, _l("Scheduled")),
    (SessionStatus.LIVE, _l("Live")),
    (SessionStatus.ENDED, _l("Ended")),
    (SessionStatus.PUBLISHED, _l("Results published")),
    (PitchStatus.SCHEDULED, _l("Scheduled")),
    (PitchStatus.CURRENT, _l("On stage")),
    (PitchStatus.DONE, _l("Done")),
    (MembershipStatus.ACTIVE, _l("Active")),
    (MembershipStatus.PENDING, _l("Pending")),
    (MembershipStatus.SUSPENDED, _l("Suspended")),
    (MembershipStatus.FORMER, _l("Former member")),
)
LABELS: dict[tuple[type, str], object] = {(type(member), member.value): text for member, text in _PAIRS}


def label(value: enum.Enum) -> str:
    return str(LABELS.get((type(value), value.value), value.value))


def choices(enum_class: type[enum.Enum]) -> list[tuple[str, str]]:
    """(value, label) pairs for a select field, in declaration order."""
    return [(member.value, label(member)) for member in enum_class]
