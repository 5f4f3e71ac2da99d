"""Pages: the audit log of sensitive actions, for organizers, and its download. Read-only:
no route here or anywhere changes or removes an entry."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from pitchtank.accounts.models import Role
from pitchtank.audit import services
from pitchtank.audit.forms import AuditFilterForm
from pitchtank.audit.services import AuditQuery, record
from pitchtank.core import spreadsheets
from pitchtank.core.authz import roles_required
from pitchtank.core.i18n import current_language
from pitchtank.extensions import db

bp = Blueprint("audit", __name__, url_prefix="/audit")


def _filters() -> tuple[AuditFilterForm, AuditQuery]:
    """The filters from the query string; invalid ones are shown with their message and ignored."""
    form = AuditFilterForm(request.args)
    codes = sorted(set(services.recorded_actions()) | set(services.action_labels()))
    labels = services.action_labels()
    form.action.choices = [("", _("Every action"))] + sorted(
        ((code, labels.get(code, code)) for code in codes), key=lambda choice: choice[1].casefold())
    form.validate()
    return form, AuditQuery(
        action=form.action.data if form.action.data and not form.action.errors else "",
        date_from=form.date_from.data if not form.date_from.errors else None,
        date_to=form.date_to.data if not (form.date_to.errors or form.date_from.errors) else None,
    )


def _filter_args(query: AuditQuery) -> dict[str, str]:
    args = {"action": query.action, "date_from": query.date_from.isoformat() if query.date_from else "",
            "date_to": query.date_to.isoformat() if query.date_to else ""}
    return {key: value for key, value in args.items() if value}


@bp.route("")
@roles_required(Role.ORGANIZER)
def index():
    """Every sensitive action, newest first, filtered by action and day."""
    form, query = _filters()
    page = request.args.get("page", "1")
    found = services.search(query, int(page) if page.isdigit() and len(page) < 7 else 1)
    return render_template("audit/index.html", form=form, found=found, args=_filter_args(query)), \
        422 if form.errors else 200


@bp.route("/export.<any(csv, xlsx):extension>")
@roles_required(Role.ORGANIZER)
def export(extension: str):
    """Download the matching entries as CSV or Excel; the download itself is recorded first."""
    _form, query = _filters()
    filters = _filter_args(query)
    record("export.downloaded", actor=current_user, subject_type="audit", subject_id=None,
           export="audit", format=extension, **({"filters": filters} if filters else {}))
    db.session.commit()
    table = services.audit_table(services.all_matching(query))
    name = "auditoria" if current_language() == "es_MX" else "audit-log"
    return spreadsheets.download(table, extension, f"pitchtank-{name}.{extension}")
