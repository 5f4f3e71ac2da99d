"""Pages every visitor needs: home, one's dashboard, the language switch; health, readiness
and metrics for operators."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from pitchtank.accounts.models import Role
from pitchtank.core import health
from pitchtank.core import metrics as app_metrics
from pitchtank.core.authz import login_required
from pitchtank.core.forms import safe_next_url
from pitchtank.core.problem import problem_response
from pitchtank.events.models import PitchSession, SessionJudge
from pitchtank.events.services import submissions_of_owner, upcoming_events
from pitchtank.extensions import db
from pitchtank.ventures.services import public_ventures, ventures_of

bp = Blueprint("core", __name__)


@bp.route("/")
def home():
    """What PitchTank is, the next events and some accepted ventures."""
    return render_template("core/home.html", events=upcoming_events()[:6], ventures=public_ventures()[:6])


@bp.route("/dashboard")
@login_required
def dashboard():
    """One's own starting page, with what each of one's roles needs next."""
    context: dict = {}
    if current_user.has_role(Role.ENTREPRENEUR):
        context["my_ventures"] = ventures_of(current_user)
        context["my_submissions"] = submissions_of_owner(current_user)
    if current_user.has_role(Role.JUDGE):
        context["judging_sessions"] = list(db.session.scalars(
            select(PitchSession).join(SessionJudge).where(SessionJudge.user_id == current_user.id)
            .order_by(PitchSession.starts_at)
        ))
    if current_user.has_role(Role.ORGANIZER, Role.INVESTOR):
        context["events"] = upcoming_events()
    return render_template("core/dashboard.html", **context)


@bp.route("/language", methods=["POST"])
def set_language():
    """Switch between Spanish and English (a form, so it carries the CSRF token)."""
    lang = request.form.get("lang", "")
    if lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang
        if current_user.is_authenticated:
            current_user.language = lang
            db.session.commit()
    return redirect(safe_next_url(url_for("core.home")))


def _no_store(response):
    """Probes and scrapes must always reach the app, never a cache."""
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/healthz")
def healthz():
    """Liveness with a database check: 200 when the database answers, 503 otherwise."""
    database = health.database_state()
    status = 200 if database == health.OK else 503
    return _no_store(jsonify({"status": "ok" if status == 200 else "degraded", "database": database})), status


@bp.route("/readyz")
def readyz():
    """Readiness: 200 when the database and (if REDIS_URL is set) Redis answer, 503 naming the
    one that does not."""
    database, redis = health.database_state(), health.redis_state()
    ready = database == health.OK and redis in (health.OK, health.NOT_CONFIGURED)
    body = {"status": "ok" if ready else "unavailable", "database": database, "redis": redis}
    return _no_store(jsonify(body)), 200 if ready else 503


@bp.route("/metrics")
def metrics():
    """Prometheus metrics, for the configured networks or the bearer of METRICS_TOKEN only."""
    if not app_metrics.may_read_metrics(current_app):
        return _no_store(problem_response(403, _("Metrics are readable only from allowed networks or with the "
                                                 "metrics token.")))
    body, content_type = app_metrics.exposition()
    return _no_store(current_app.response_class(body, content_type=content_type))
