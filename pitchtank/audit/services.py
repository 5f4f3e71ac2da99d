"""Record sensitive actions in the audit log."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, func, select

from pitchtank.audit.models import AuditEntry
from pitchtank.core.spreadsheets import Table, local_time
from pitchtank.core.timefields import local_zone
from pitchtank.extensions import db


def record(action: str, *, actor, subject_type: str, subject_id: int | None, reason: str = "",
           **details: Any) -> AuditEntry:
    """Add an audit entry in the current transaction, so it exists exactly when the action does."""
    entry = AuditEntry(actor_id=getattr(actor, "id", None), action=action, subject_type=subject_type,
                       subject_id=subject_id, reason=reason, details=details)
    db.session.add(entry)
    return entry


def entries_for(subject_type: str, subject_ids: list[int] | None = None, limit: int = 1000) -> list[AuditEntry]:
    statement = select(AuditEntry).where(AuditEntry.subject_type == subject_type)
    if subject_ids is not None:
        statement = statement.where(AuditEntry.subject_id.in_(subject_ids))
    return list(db.session.scalars(statement.order_by(AuditEntry.created_at, AuditEntry.id).limit(limit)))


# --------------------------------------------------------------------------
# Reading the log: the organizers' page and its export
# --------------------------------------------------------------------------

PAGE_SIZE = 50
EXPORT_MAX_ROWS = 100_000


def action_labels() -> dict[str, str]:
    """What each recorded action means, in the reader's language (unknown codes show as they are)."""
    return {
        "account.deleted": _("Account deleted"),
        "account.locked": _("Logins paused after repeated failures"),
        "account.login": _("Organizer logged in"),
        "allocation.created": _("Capital allocated to a venture"),
        "allocation.reversed": _("Allocation reversed"),
        "capital_call.issued": _("Capital call issued"),
        "export.downloaded": _("Export downloaded"),
        "fund.created": _("Fund created"),
        "fund.status": _("Fund status changed"),
        "invitation.accepted": _("Invitation accepted (role granted)"),
        "invitation.revoked": _("Invitation revoked"),
        "judge_logins.switched_off": _("New judge logins switched off"),
        "judge_logins.switched_on": _("New judge logins switched on"),
        "leaderboard.visibility": _("Leaderboard visibility changed"),
        "login_code.revoked": _("Judge login code revoked"),
        "offer.accepted": _("Offer accepted"),
        "offer.declined": _("Offer declined"),
        "password.reset": _("Password reset"),
        "payment.card_charge_started": _("Card charge started"),
        "payment.checkout_started": _("Payment page opened"),
        "payment.dispute_won": _("Dispute won"),
        "payment.disputed": _("Payment disputed"),
        "payment.failed": _("Payment failed"),
        "payment.reconciled": _("Payment reconciled with Stripe"),
        "payment.recorded": _("Bank transfer recorded"),
        "payment.refund_undone": _("Refund undone"),
        "payment.refunded": _("Payment refunded"),
        "payment.stripe_booked": _("Stripe payment booked"),
        "payment.stripe_mismatch": _("Stripe payment with another amount not booked"),
        "payment.stripe_recorded": _("Stripe payment recorded"),
        "payment.stripe_unbooked_money_back": _("Money back on a payment not booked"),
        "payment.stripe_unreachable": _("Payment processor unreachable"),
        "privacy.data_downloaded": _("Personal data downloaded"),
        "results.published": _("Results published"),
        "scores.voided": _("Scores voided"),
        "scoring.reopened": _("Scoring reopened"),
        "stripe.card_saved": _("Card saved"),
        "stripe.card_setup_failed": _("Card set-up failed"),
        "stripe.card_setup_started": _("Card set-up started"),
        "stripe.customer_created": _("Stripe customer created"),
        "two_factor.disabled": _("Two-factor authentication turned off"),
        "two_factor.enabled": _("Two-factor authentication turned on"),
        "two_factor.recovery_code_used": _("Recovery code used"),
        "two_factor.recovery_codes_regenerated": _("New recovery codes made"),
        "user.created": _("User created"),
        "user.roles_changed": _("Roles changed"),
    }


@dataclass(frozen=True)
class AuditQuery:
    """The page's filters: one action, and a range of Mexico City calendar days (both inclusive)."""

    action: str = ""
    date_from: date | None = None
    date_to: date | None = None


def _local_midnight_utc(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=local_zone()).astimezone(UTC)


def _filtered(query: AuditQuery) -> Select:
    statement = select(AuditEntry)
    if query.action:
        statement = statement.where(AuditEntry.action == query.action)
    if query.date_from is not None:
        statement = statement.where(AuditEntry.created_at >= _local_midnight_utc(query.date_from))
    if query.date_to is not None:
        statement = statement.where(AuditEntry.created_at < _local_midnight_utc(query.date_to + timedelta(days=1)))
    return statement


def recorded_actions() -> list[str]:
    """Every action code the log holds, for the filter's choices."""
    return list(db.session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    page: int
    pages: int
    total: int


def search(query: AuditQuery, page: int = 1, per_page: int = PAGE_SIZE) -> AuditPage:
    """One page of the matching entries, newest first."""
    total = db.session.scalar(select(func.count()).select_from(_filtered(query).subquery())) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    entries = list(db.session.scalars(
        _filtered(query).order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        .limit(per_page).offset((page - 1) * per_page)))
    return AuditPage(rows=describe(entries), page=page, pages=pages, total=total)


def all_matching(query: AuditQuery) -> list[AuditRow]:
    entries = list(db.session.scalars(
        _filtered(query).order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc()).limit(EXPORT_MAX_ROWS)))
    return describe(entries)


@dataclass(frozen=True)
class AuditRow:
    """One entry as people read it: names instead of ids where the database still knows them."""

    id: int
    created_at: datetime
    actor: str
    action: str
    label: str
    subject: str
    reason: str
    details: str


def names_by_id(model, ids: set[int], column: str = "name") -> dict[int, str]:
    if not ids:
        return {}
    return {row.id: str(getattr(row, column)) for row in db.session.scalars(select(model).where(model.id.in_(ids)))}


def _subject_names(entries: list[AuditEntry]) -> dict[tuple[str, int], str]:
    from pitchtank.accounts.models import User
    from pitchtank.events.models import Pitch, PitchSession
    from pitchtank.fund.models import CallLine, Fund
    from pitchtank.organizations.models import Organization

    wanted: dict[str, set[int]] = {}
    for entry in entries:
        if entry.subject_id is not None:
            wanted.setdefault(entry.subject_type, set()).add(entry.subject_id)
    names: dict[tuple[str, int], str] = {}
    sources = {
        "user": (User, "name"), "session": (PitchSession, "title"), "fund": (Fund, "name"),
        "organization": (Organization, "name"), "call_line": (CallLine, "reference"),
    }
    for kind, (model, column) in sources.items():
        for row_id, name in names_by_id(model, wanted.get(kind, set()), column).items():
            names[(kind, row_id)] = name
    pitch_ids = wanted.get("pitch", set())
    if pitch_ids:
        for pitch in db.session.scalars(select(Pitch).where(Pitch.id.in_(pitch_ids))):
            names[("pitch", pitch.id)] = pitch.venture.name
    return names


def subject_type_label(kind: str) -> str:
    return {
        "user": _("User"), "session": _("Session"), "pitch": _("Pitch"), "fund": _("Fund"),
        "organization": _("Company"), "call_line": _("Call line"), "payment": _("Payment"),
        "offer": _("Offer"), "invitation": _("Invitation"), "audit": _("Audit log"),
        "login_code": _("Judge login code"),
    }.get(kind, kind)


def _subject_texts(entries: list[AuditEntry]) -> Callable[[AuditEntry], str]:
    """``Fund #3: Semilla 2026``: the kind, the id and, while the database still has it, the name."""
    names = _subject_names(entries)

    def subject_of(entry: AuditEntry) -> str:
        subject = subject_type_label(entry.subject_type)
        if entry.subject_id is not None:
            subject = f"{subject} #{entry.subject_id}"
            if (entry.subject_type, entry.subject_id) in names:
                subject = f"{subject}: {names[(entry.subject_type, entry.subject_id)]}"
        return subject

    return subject_of


def detail_text(key: str, value: Any) -> str:
    """One recorded detail as ``key: value``, for details no page knows better how to show."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return f"{key}: {text}"


def _details_text(entry: AuditEntry) -> str:
    return "; ".join(detail_text(key, value) for key, value in sorted((entry.details or {}).items()))


def describe(entries: list[AuditEntry], *, subject_of: Callable[[AuditEntry], str] | None = None,
             details_of: Callable[[AuditEntry], str] | None = None) -> list[AuditRow]:
    """The entries as people read them. A page that knows its entries better (one session's log)
    passes ``subject_of``/``details_of`` to name subjects and details in its own terms."""
    from pitchtank.accounts.models import User

    actors = names_by_id(User, {e.actor_id for e in entries if e.actor_id is not None})
    subject_of = subject_of or _subject_texts(entries)
    details_of = details_of or _details_text
    labels = action_labels()
    return [
        AuditRow(
            id=entry.id, created_at=entry.created_at,
            actor=actors.get(entry.actor_id, f"#{entry.actor_id}") if entry.actor_id is not None else "",
            action=entry.action, label=labels.get(entry.action, entry.action), subject=subject_of(entry),
            reason=entry.reason or "", details=details_of(entry),
        )
        for entry in entries
    ]


def audit_table(rows: list[AuditRow]) -> Table:
    """The log as a spreadsheet, with times in Mexico City."""
    headers = [_("Entry"), _("When (Mexico City time)"), _("Who"), _("Action"), _("Description"), _("Subject"),
               _("Reason"), _("Details")]
    return Table(_("Audit log"), headers, [
        [r.id, local_time(r.created_at), r.actor or _("System"), r.action, r.label, r.subject, r.reason, r.details]
        for r in rows])
