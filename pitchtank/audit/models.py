"""An append-only record of sensitive actions, readable by organizers, editable by nobody."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import DDL, JSON, ForeignKey, Index, String, Text, event
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from pitchtank.core.types import UTCDateTime, utcnow
from pitchtank.extensions import db

if TYPE_CHECKING:
    from pitchtank.accounts.models import User


class AuditEntry(db.Model):
    __tablename__ = "audit_entries"
    # "Entries about this person" (the data download) and the page's subject filter.
    __table_args__ = (Index("ix_audit_entries_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    action: Mapped[str] = mapped_column(String(60), index=True)
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[int | None] = mapped_column()
    reason: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    actor: Mapped[User | None] = relationship()


class AuditLogImmutable(RuntimeError):
    """Something tried to change or remove an audit entry; the audit log is append-only."""


# On PostgreSQL the database itself refuses to rewrite the log (migration 0005 creates the same
# trigger; this hook covers schemas made with create_all, as in the test suite). A literal
# percent sign in DDL text is written %%.
APPEND_ONLY_FUNCTION = DDL("""
CREATE OR REPLACE FUNCTION pitchtank_audit_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only: %% on %% refused', TG_OP, TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql
""")
APPEND_ONLY_TRIGGERS = (
    DDL("CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries "
        "FOR EACH ROW EXECUTE FUNCTION pitchtank_audit_append_only()"),
    DDL("CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries "
        "FOR EACH STATEMENT EXECUTE FUNCTION pitchtank_audit_append_only()"),
)
event.listen(AuditEntry.__table__, "after_create", APPEND_ONLY_FUNCTION.execute_if(dialect="postgresql"))
for _trigger in APPEND_ONLY_TRIGGERS:
    event.listen(AuditEntry.__table__, "after_create", _trigger.execute_if(dialect="postgresql"))


# Every database, SQLite included: the ORM refuses to flush a changed or deleted entry, and to
# run an UPDATE or DELETE statement aimed at the audit log.
@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session: Session, flush_context, instances) -> None:
    for entry in session.deleted:
        if isinstance(entry, AuditEntry):
            raise AuditLogImmutable(f"audit entry {entry.id} cannot be deleted: the audit log is append-only")
    for entry in session.dirty:
        if isinstance(entry, AuditEntry) and session.is_modified(entry, include_collections=False):
            raise AuditLogImmutable(f"audit entry {entry.id} cannot be changed: the audit log is append-only")


@event.listens_for(Session, "do_orm_execute")
def _refuse_audit_statements(state) -> None:
    if (state.is_update or state.is_delete) and any(m.class_ is AuditEntry for m in state.all_mappers):
        raise AuditLogImmutable("UPDATE or DELETE on the audit log refused: the audit log is append-only")
