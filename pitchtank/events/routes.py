"""Pages: events and their sessions, applying, reviewing applications, running orders, judges."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from pitchtank.accounts.models import Role, User, UserRole
from pitchtank.core.authz import roles_required
from pitchtank.core.errors import Conflict, NotFound, ValidationFailed
from pitchtank.core.forms import ConfirmForm, apply_errors
from pitchtank.events import services
from pitchtank.events.forms import (
    AddPitchForm,
    ApplyForm,
    DecisionForm,
    EventForm,
    JudgesForm,
    MovePitchForm,
    SessionForm,
)
from pitchtank.events.models import SubmissionStatus
from pitchtank.extensions import db
from pitchtank.ventures.models import Venture
from pitchtank.ventures.services import ventures_of

bp = Blueprint("events", __name__)


def _form_status(form) -> int:
    return 422 if form.errors else 200


@bp.route("/events/")
def index():
    """Upcoming and current events, then past ones."""
    return render_template("events/index.html", events=services.upcoming_events(),
                           past=services.past_events())


@bp.route("/events/<int:event_id>")
def show(event_id: int):
    """An event: its dates, sessions and the ventures it accepted."""
    event = services.get_event(event_id)
    accepted = [s for s in event.submissions if s.status == SubmissionStatus.ACCEPTED]
    mine = []
    if current_user.is_authenticated and current_user.has_role(Role.ENTREPRENEUR):
        mine = [s for s in event.submissions if s.venture.owner_id == current_user.id]
    return render_template("events/show.html", event=event, accepted=accepted, mine=mine,
                           withdraw_form=ConfirmForm())


@bp.route("/events/new", methods=["GET", "POST"])
@roles_required(Role.ORGANIZER)
def new():
    """Create an event with its call for pitches."""
    form = EventForm()
    if form.validate_on_submit():
        try:
            event = services.create_event(current_user, form.to_data())
            db.session.commit()
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            flash(_("The event was created. Add its pitch sessions."), "success")
            return redirect(url_for("events.manage", event_id=event.id))
    return render_template("events/form.html", form=form, event=None), _form_status(form)


@bp.route("/events/<int:event_id>/edit", methods=["GET", "POST"])
@roles_required(Role.ORGANIZER)
def edit(event_id: int):
    """Change an event's details and dates."""
    event = services.get_event(event_id)
    form = EventForm(obj=event)
    if form.validate_on_submit():
        try:
            services.update_event(event, form.to_data())
            db.session.commit()
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            flash(_("The event was saved."), "success")
            return redirect(url_for("events.manage", event_id=event.id))
    return render_template("events/form.html", form=form, event=event), _form_status(form)


@bp.route("/events/<int:event_id>/manage")
@roles_required(Role.ORGANIZER)
def manage(event_id: int):
    """Organizers: an event's applications and sessions on one page."""
    event = services.get_event(event_id)
    return render_template("events/manage.html", event=event,
                           submissions=services.submissions_of_event(event),
                           decision_form=DecisionForm())


@bp.route("/events/<int:event_id>/apply", methods=["GET", "POST"])
@roles_required(Role.ENTREPRENEUR)
def apply(event_id: int):
    """Apply to an event with one of one's ventures."""
    event = services.get_event(event_id)
    ventures = ventures_of(current_user)
    if not ventures:
        flash(_("First describe your venture; then you can apply."), "info")
        return redirect(url_for("ventures.new"))
    form = ApplyForm()
    form.venture_id.choices = [(v.id, v.name) for v in ventures]
    if form.validate_on_submit():
        venture = db.session.get(Venture, form.venture_id.data)
        try:
            services.apply(venture, event, current_user)
            db.session.commit()
        except (ValidationFailed, Conflict) as error:
            db.session.rollback()
            if isinstance(error, ValidationFailed):
                apply_errors(form, error, {"event_id": "venture_id"})
            else:
                form.venture_id.errors.append(error.message)
        else:
            flash(_("Your application was sent. You can follow it in My ventures."), "success")
            return redirect(url_for("ventures.mine"))
    return render_template("events/apply.html", event=event, form=form), _form_status(form)


@bp.route("/submissions/<int:submission_id>/withdraw", methods=["POST"])
@roles_required(Role.ENTREPRENEUR)
def withdraw(submission_id: int):
    """Take an application back."""
    submission = services.get_submission(submission_id)
    if ConfirmForm().validate_on_submit():
        services.withdraw(submission, current_user)
        db.session.commit()
        flash(_("Your application was withdrawn."), "info")
    return redirect(url_for("ventures.mine"))


@bp.route("/submissions/<int:submission_id>/decision", methods=["POST"])
@roles_required(Role.ORGANIZER)
def decide(submission_id: int):
    """Accept or reject an application."""
    submission = services.get_submission(submission_id)
    form = DecisionForm()
    if form.validate_on_submit():
        try:
            services.decide(submission, accept=form.decision.data == "accept",
                            note=form.note.data or "", actor=current_user)
            db.session.commit()
        except (ValidationFailed, Conflict) as error:
            db.session.rollback()
            flash(error.message or _("The decision could not be saved."), "error")
        else:
            flash(_("The decision on %(venture)s was saved.", venture=submission.venture.name), "success")
    else:
        for messages in form.errors.values():
            for message in messages:
                flash(message, "error")
    return redirect(url_for("events.manage", event_id=submission.event_id) + f"#submission-{submission.id}")


@bp.route("/events/<int:event_id>/sessions/new", methods=["GET", "POST"])
@roles_required(Role.ORGANIZER)
def new_session(event_id: int):
    """Add a pitch session to an event."""
    event = services.get_event(event_id)
    form = SessionForm()
    if request.method == "GET":
        form.starts_at.data = event.starts_at
    if form.validate_on_submit():
        try:
            session = services.create_session(event, form.to_data())
            db.session.commit()
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            flash(_("The session was added."), "success")
            return redirect(url_for("events.manage_session", session_id=session.id))
    return render_template("events/session_form.html", form=form, event=event, session=None), _form_status(form)


@bp.route("/sessions/<int:session_id>/edit", methods=["GET", "POST"])
@roles_required(Role.ORGANIZER)
def edit_session(session_id: int):
    """Reschedule a session that has not started."""
    session = services.get_session(session_id)
    form = SessionForm(obj=session)
    if form.validate_on_submit():
        try:
            services.update_session(session, form.to_data())
            db.session.commit()
        except (ValidationFailed, Conflict) as error:
            db.session.rollback()
            if isinstance(error, ValidationFailed):
                apply_errors(form, error)
            else:
                flash(error.message, "error")
        else:
            flash(_("The session was saved."), "success")
            return redirect(url_for("events.manage_session", session_id=session.id))
    return render_template("events/session_form.html", form=form, event=session.event,
                           session=session), _form_status(form)


@bp.route("/sessions/<int:session_id>")
def show_session(session_id: int):
    """A session's running order, for anyone."""
    session = services.get_session(session_id)
    return render_template("events/session.html", session=session)


def _judge_candidates() -> list[User]:
    return list(db.session.scalars(
        select(User).join(UserRole).where(UserRole.role == Role.JUDGE).order_by(User.name)
    ))


@bp.route("/sessions/<int:session_id>/manage")
@roles_required(Role.ORGANIZER)
def manage_session(session_id: int):
    """Organizers: the running order and the judges of a session."""
    session = services.get_session(session_id)
    placed = {p.submission_id for p in session.pitches}
    add_form = AddPitchForm()
    add_form.submission_id.choices = [
        (s.id, s.venture.name) for s in session.event.submissions
        if s.status == SubmissionStatus.ACCEPTED and s.pitch is None and s.id not in placed
    ]
    judges_form = JudgesForm(judge_ids=[a.user_id for a in session.judge_assignments])
    judges_form.judge_ids.choices = [(u.id, f"{u.name} <{u.email}>") for u in _judge_candidates()]
    from pitchtank.invitations.services import session_login_links

    return render_template("events/session_manage.html", session=session, add_form=add_form,
                           judges_form=judges_form, move_form=MovePitchForm(), remove_form=ConfirmForm(),
                           login_links=session_login_links(session))


def _back_to_session(session_id: int):
    return redirect(url_for("events.manage_session", session_id=session_id))


def _change_order(session, new_order: list[int]) -> None:
    try:
        services.set_running_order(session, new_order)
        db.session.commit()
    except (ValidationFailed, Conflict) as error:
        db.session.rollback()
        messages = error.errors.get("submission_ids", []) if isinstance(error, ValidationFailed) else []
        for message in messages or [error.message]:
            flash(message, "error")
    else:
        flash(_("The running order was saved."), "success")


@bp.route("/sessions/<int:session_id>/pitches", methods=["POST"])
@roles_required(Role.ORGANIZER)
def add_pitch(session_id: int):
    """Place an accepted venture at the end of the running order."""
    session = services.get_session(session_id)
    form = AddPitchForm()
    form.submission_id.choices = [(s.id, "") for s in session.event.submissions]
    if form.validate_on_submit():
        _change_order(session, [p.submission_id for p in session.pitches] + [form.submission_id.data])
    else:
        flash(_("Choose an accepted venture."), "error")
    return _back_to_session(session_id)


@bp.route("/sessions/<int:session_id>/pitches/<int:pitch_id>/move", methods=["POST"])
@roles_required(Role.ORGANIZER)
def move_pitch(session_id: int, pitch_id: int):
    """Move a pitch one place up or down."""
    session = services.get_session(session_id)
    form = MovePitchForm()
    if form.validate_on_submit():
        try:
            services.move_pitch(session, pitch_id, -1 if form.direction.data == "up" else 1)
            db.session.commit()
        except (ValidationFailed, Conflict) as error:
            db.session.rollback()
            flash(error.message, "error")
    return _back_to_session(session_id)


@bp.route("/sessions/<int:session_id>/pitches/<int:pitch_id>/remove", methods=["POST"])
@roles_required(Role.ORGANIZER)
def remove_pitch(session_id: int, pitch_id: int):
    """Take a pitch out of the running order (the application stays accepted)."""
    session = services.get_session(session_id)
    if not any(p.id == pitch_id for p in session.pitches):
        raise NotFound(_("That pitch is not in this session."))
    if ConfirmForm().validate_on_submit():
        _change_order(session, [p.submission_id for p in session.pitches if p.id != pitch_id])
    return _back_to_session(session_id)


@bp.route("/sessions/<int:session_id>/judges", methods=["POST"])
@roles_required(Role.ORGANIZER)
def set_judges(session_id: int):
    """Choose the judges of a session."""
    session = services.get_session(session_id)
    form = JudgesForm()
    form.judge_ids.choices = [(u.id, u.name) for u in _judge_candidates()]
    if form.validate_on_submit():
        try:
            services.set_judges(session, form.judge_ids.data or [])
            db.session.commit()
        except (ValidationFailed, Conflict) as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            flash(_("The judges were saved."), "success")
    else:
        flash(_("Choose judges from the list."), "error")
    return _back_to_session(session_id)
