"""Record sensitive actions in the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from pitchtank.audit.models import AuditEntry
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
