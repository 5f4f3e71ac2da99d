"""What PitchTank holds about a person (the ARCO "access" right) and deleting an account (the
"cancellation" right), keeping anonymised what the fund's ledger and the audit log must keep.

Deleting an account never deletes the ``users`` row: payments, ledger transactions, scores,
offers and audit entries point at it. The row is anonymised instead ("Deleted user #id", an
unusable address on the reserved ``.invalid`` domain, no password, no roles, no company), every
way in is closed (API tokens revoked, login sessions ended, unused judge login codes revoked,
two-factor secret and recovery codes erased), and what is only the person's own goes: ventures
that no event accepted, with their decks (removed from storage once the transaction commits),
stored API replies and the emails sent to them.
"""

from __future__ import annotations

import io
import json
import re
import secrets
import unicodedata
import zipfile
from datetime import date, datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import delete, func, or_, select, update
from werkzeug.security import check_password_hash

from pitchtank.accounts.models import PASSWORD_MAX, ApiToken, RecoveryCode, Role, User, UserRole
from pitchtank.accounts.services import revoke_all_tokens
from pitchtank.api.idempotency import IdempotencyRecord
from pitchtank.audit.models import AuditEntry
from pitchtank.audit.services import record
from pitchtank.core.errors import Conflict, ValidationFailed
from pitchtank.core.transaction import on_commit
from pitchtank.core.types import utcnow
from pitchtank.events.models import Pitch, PitchSession, SessionJudge
from pitchtank.extensions import db
from pitchtank.fund import ledger
from pitchtank.fund.models import Allocation, CallLine, LedgerEntry, Offer, Payment, Pledge
from pitchtank.invitations.models import LoginLink
from pitchtank.judging.models import Recusal, ScoreSheet
from pitchtank.notices.models import OutboxEmail
from pitchtank.ventures import storage
from pitchtank.ventures.models import Venture

FORMAT_VERSION = 1
DELETED_EMAIL_DOMAIN = "deleted.invalid"  # RFC 2606: can never receive mail
UNUSABLE_PASSWORD = "!deleted"  # noqa: S105  # nosec B105 # not a werkzeug hash: no password ever matches it


# --------------------------------------------------------------------------
# The data download
# --------------------------------------------------------------------------


def _when(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _venture(venture: Venture) -> dict[str, Any]:
    return {
        "id": venture.id, "name": venture.name, "tagline": venture.tagline, "sector": venture.sector.value,
        "stage": venture.stage.value, "description": venture.description, "problem": venture.problem,
        "solution": venture.solution, "market": venture.market, "traction": venture.traction,
        "team": venture.team, "website": venture.website, "ask_cents": venture.ask_cents,
        "currency": venture.currency, "equity_offered_pct": str(venture.equity_offered_pct),
        "created_at": _when(venture.created_at), "updated_at": _when(venture.updated_at),
        "deck": None if not venture.deck_file else {
            "file": deck_archive_name(venture), "size_bytes": venture.deck_size, "pages": venture.deck_pages,
            "uploaded_at": _when(venture.deck_uploaded_at)},
        "submissions": [{
            "id": s.id, "event": {"id": s.event_id, "name": s.event.name}, "status": s.status.value,
            "decision_note": s.decision_note, "created_at": _when(s.created_at), "decided_at": _when(s.decided_at),
        } for s in sorted(venture.submissions, key=lambda s: s.id)],
    }


def _offer(offer: Offer) -> dict[str, Any]:
    return {
        "id": offer.id, "venture": {"id": offer.venture_id, "name": offer.venture.name},
        "company": {"id": offer.organization_id, "name": offer.organization.name},
        "amount_cents": offer.amount_cents, "currency": offer.currency, "equity_pct": str(offer.equity_pct),
        "terms": offer.terms, "status": offer.status.value, "created_at": _when(offer.created_at),
        "decided_at": _when(offer.decided_at),
    }


def _scores_given(user: User) -> list[dict[str, Any]]:
    sheets = db.session.scalars(select(ScoreSheet).where(ScoreSheet.judge_id == user.id).order_by(ScoreSheet.id))
    return [{
        "session": {"id": sheet.pitch.session_id, "title": sheet.pitch.session.title},
        "pitch": {"id": sheet.pitch_id, "position": sheet.pitch.position, "venture": sheet.pitch.venture.name},
        "scores": dict(sorted(sheet.values.items())), "comment": sheet.comment,
        "created_at": _when(sheet.created_at), "updated_at": _when(sheet.updated_at),
        "voided": sheet.voided_at is not None, "void_reason": sheet.void_reason,
    } for sheet in sheets]


def _company(user: User) -> dict[str, Any] | None:
    """The member company the investor represents: its pledges, calls and payments."""
    organization = user.organization
    if organization is None:
        return None
    company: dict[str, Any] = {"id": organization.id, "name": organization.name,
                               "legal_name": organization.legal_name, "rfc": organization.rfc, "pledges": []}
    if not user.has_role(Role.INVESTOR):
        return company
    for pledge in db.session.scalars(select(Pledge).where(Pledge.organization_id == organization.id)
                                     .order_by(Pledge.id)):
        figures = ledger.company_figures(pledge.fund_id, organization.id)
        lines = db.session.scalars(select(CallLine).where(CallLine.pledge_id == pledge.id).order_by(CallLine.id))
        company["pledges"].append({
            "id": pledge.id, "fund": {"id": pledge.fund_id, "name": pledge.fund.name}, "status": pledge.status.value,
            "created_at": _when(pledge.created_at), "committed_cents": figures.committed_cents,
            "called_cents": figures.called_cents, "paid_cents": figures.paid_cents,
            "outstanding_cents": figures.outstanding_cents, "currency": pledge.fund.currency,
            "capital_calls": [{
                "call_number": line.call.number, "reference": line.reference, "amount_cents": line.amount_cents,
                "due_date": _when(line.call.due_date),
                "payments": [{
                    "id": p.id, "method": p.method.value, "status": p.status.value, "amount_cents": p.amount_cents,
                    "currency": p.currency, "paid_on": _when(p.paid_on), "reference": p.reference,
                    "refunded_cents": p.refunded_cents, "created_at": _when(p.created_at),
                } for p in db.session.scalars(select(Payment).where(Payment.call_line_id == line.id)
                                              .order_by(Payment.id))],
            } for line in lines],
        })
    return company


def audit_entries_about(user: User) -> list[AuditEntry]:
    """Entries where the person acted or that are about their account."""
    return list(db.session.scalars(select(AuditEntry).where(or_(
        AuditEntry.actor_id == user.id, (AuditEntry.subject_type == "user") & (AuditEntry.subject_id == user.id),
    )).order_by(AuditEntry.created_at, AuditEntry.id)))


def personal_data(user: User) -> dict[str, Any]:
    """Everything PitchTank holds about ``user``, as plain JSON values. Audience votes are not
    included: they are anonymous and cannot be linked back to anyone."""
    ventures = list(db.session.scalars(select(Venture).where(Venture.owner_id == user.id).order_by(Venture.id)))
    judging = db.session.scalars(select(PitchSession).join(SessionJudge)
                                 .where(SessionJudge.user_id == user.id).order_by(PitchSession.id))
    recusals = db.session.scalars(select(Recusal).where(Recusal.judge_id == user.id).order_by(Recusal.id))
    venture_ids = [v.id for v in ventures]
    received = db.session.scalars(select(Offer).where(Offer.venture_id.in_(venture_ids)).order_by(Offer.id)) \
        if venture_ids else []
    return {
        "format_version": FORMAT_VERSION,
        "generated_at": _when(utcnow()),
        "profile": {
            "id": user.id, "name": user.name, "email": user.email, "language": user.language,
            "created_at": _when(user.created_at), "active": user.is_active,
            "roles": sorted(role.value for role in user.roles),
        },
        "company": _company(user),
        "ventures": [_venture(v) for v in ventures],
        "judging_sessions": [{"id": s.id, "title": s.title, "event": s.event.name, "starts_at": _when(s.starts_at)}
                             for s in judging],
        "scores_given": _scores_given(user),
        "recusals": [{"pitch_id": r.pitch_id, "reason": r.reason, "created_at": _when(r.created_at)}
                     for r in recusals],
        "offers_made": [_offer(o) for o in db.session.scalars(
            select(Offer).where(Offer.investor_id == user.id).order_by(Offer.id))],
        "offers_received": [_offer(o) for o in received],
        "api_tokens": [{"created_at": _when(t.created_at), "expires_at": _when(t.expires_at),
                        "revoked_at": _when(t.revoked_at)}
                       for t in db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)
                                                   .order_by(ApiToken.id))],
        "audit_entries": [{
            "id": e.id, "created_at": _when(e.created_at), "action": e.action,
            "by_you": e.actor_id == user.id, "subject_type": e.subject_type, "subject_id": e.subject_id,
            "reason": e.reason, "details": e.details or {},
        } for e in audit_entries_about(user)],
    }


def deck_archive_name(venture: Venture) -> str:
    """``decks/12-ruta-bajio.pdf``: ASCII, safe in any zip tool."""
    ascii_name = unicodedata.normalize("NFKD", venture.name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:40] or "venture"
    return f"decks/{venture.id}-{slug}.pdf"


def data_archive(user: User) -> bytes:
    """A zip with ``pitchtank-data.json`` and the person's own pitch decks."""
    data = personal_data(user)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("pitchtank-data.json", json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True))
        for venture in db.session.scalars(select(Venture).where(Venture.owner_id == user.id,
                                                                Venture.deck_file.is_not(None))):
            try:
                path = storage.deck_path(venture.deck_file)
                archive.write(path, deck_archive_name(venture))
            except (OSError, ValueError):  # a deck missing from storage: the JSON still names it
                continue
    return buffer.getvalue()


def record_download(user: User) -> None:
    record("privacy.data_downloaded", actor=user, subject_type="user", subject_id=user.id)


# --------------------------------------------------------------------------
# Deleting an account
# --------------------------------------------------------------------------


def _other_organizers(user: User, *, lock: bool) -> int:
    """Active organizers besides ``user``. When deleting, their rows are locked so that two
    organizers deleting their accounts at once cannot both pass the check."""
    statement = (select(User.id).join(UserRole, UserRole.user_id == User.id)
                 .where(UserRole.role == Role.ORGANIZER, User.id != user.id, User.deleted_at.is_(None),
                        User.is_active_account.is_(True)).order_by(User.id))
    if lock:
        statement = statement.with_for_update(of=User)
    return len(list(db.session.scalars(statement)))


def _is_removable(venture: Venture) -> bool:
    """A venture no event accepted and nothing else points at: the owner's draft."""
    if venture.is_public:
        return False
    submission_ids = [s.id for s in venture.submissions]
    if submission_ids and db.session.scalar(select(func.count(Pitch.id)).where(
            Pitch.submission_id.in_(submission_ids))):
        return False
    for model, column in ((Allocation, Allocation.venture_id), (Offer, Offer.venture_id),
                          (LedgerEntry, LedgerEntry.venture_id)):
        if db.session.scalar(select(func.count()).select_from(model).where(column == venture.id)):
            return False
    return True


def deletion_blockers(user: User, *, lock: bool = False) -> list[str]:
    """Why the account cannot be deleted now (empty when it can)."""
    if user.has_role(Role.ORGANIZER) and _other_organizers(user, lock=lock) == 0:
        return [_("You are the only organizer: make someone else an organizer before deleting your account, "
                  "so that the platform keeps someone who can run it.")]
    return []


def delete_account(user: User, password: str) -> None:
    """Delete the person's account as described at the top of this module. Flushes; the
    caller commits (the decks leave storage only after the commit)."""
    if user.deleted_at is not None:
        raise Conflict(_("This account was already deleted."))
    if not check_password_hash(user.password_hash, (password or "")[:PASSWORD_MAX]):
        raise ValidationFailed({"password": [_("The password is not right.")]})
    if blockers := deletion_blockers(user, lock=True):
        raise Conflict(blockers[0])
    now = utcnow()
    roles = sorted(role.value for role in user.roles)
    removed, kept, decks = [], [], []
    for venture in list(db.session.scalars(select(Venture).where(Venture.owner_id == user.id))):
        if _is_removable(venture):
            removed.append(venture.id)
            if venture.deck_file:
                decks.append(venture.deck_file)
            db.session.delete(venture)
        else:
            kept.append(venture.id)
    record("account.deleted", actor=user, subject_type="user", subject_id=user.id, roles=roles,
           organization_id=user.organization_id, ventures_removed=removed, ventures_kept=kept)
    # Row by row, so that only this user's cached logins are forgotten in every worker.
    revoke_all_tokens(user)
    db.session.execute(update(LoginLink).where(LoginLink.user_id == user.id, LoginLink.used_at.is_(None),
                                               LoginLink.revoked_at.is_(None)).values(revoked_at=now))
    db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.user_id == user.id))
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    # Emails to the person (queued or sent) hold their name and address and nothing the fund
    # must keep: they go, attachments with them.
    for email in db.session.scalars(select(OutboxEmail).where(OutboxEmail.recipient_id == user.id)):
        db.session.delete(email)
    user.totp_secret = None
    user.totp_enabled_at = None
    user.name = f"Deleted user #{user.id}"
    user.email = f"deleted-{user.id}-{secrets.token_hex(8)}@{DELETED_EMAIL_DOMAIN}"
    user.password_hash = UNUSABLE_PASSWORD
    user.is_active_account = False
    user.session_version += 1  # every login session ends
    user.organization = None  # pledges and payments stay with the company, not the person
    user.role_grants = []
    user.deleted_at = now
    db.session.flush()

    def remove_decks() -> None:
        for file_name in decks:
            storage.remove_deck(file_name)

    on_commit(db.session, remove_decks)
