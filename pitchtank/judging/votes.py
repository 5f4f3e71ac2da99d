"""People's Choice: one vote per person and session, by account or by browser, never by address.

A venue's thousand phones share one public address behind the Wi-Fi's NAT, so the address
identifies nobody. A logged-in person votes as their account; anyone else as their browser,
through a random, signed, long-lived cookie.
"""

from __future__ import annotations

import secrets

from flask import current_app, g, request
from flask_babel import gettext as _
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.exc import IntegrityError

from pitchtank.core.errors import Conflict, NotFound
from pitchtank.events.models import PitchSession, SessionStatus
from pitchtank.extensions import db
from pitchtank.judging.models import AudienceVote

VOTER_COOKIE = "pt_voter"
VOTER_COOKIE_DAYS = 400


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="pitchtank-voter")


def voter_key() -> str:
    """Who is voting: the account, or the browser's own random id (issued on first vote)."""
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    raw = request.cookies.get(VOTER_COOKIE)
    if raw:
        try:
            return f"browser:{_serializer().loads(raw)}"
        except BadSignature:
            pass
    browser_id = secrets.token_urlsafe(16)
    g.new_voter_cookie = _serializer().dumps(browser_id)
    return f"browser:{browser_id}"


def remember_voter(response):
    cookie = g.pop("new_voter_cookie", None)
    if cookie:
        response.set_cookie(VOTER_COOKIE, cookie, max_age=VOTER_COOKIE_DAYS * 86400, httponly=True,
                            samesite="Lax", secure=current_app.config.get("SESSION_COOKIE_SECURE", False))
    return response


def cast(session: PitchSession, pitch_id: int, voter: str) -> AudienceVote:
    if session.status != SessionStatus.LIVE:
        raise Conflict(_("Voting is open only while the session is live."))
    if not any(p.id == pitch_id for p in session.pitches):
        raise NotFound(_("That pitch is not in this session."))
    vote = AudienceVote(session_id=session.id, pitch_id=pitch_id, voter_key=voter)
    try:
        with db.session.begin_nested():
            db.session.add(vote)
    except IntegrityError:
        raise Conflict(_("You have already voted in this session.")) from None
    return vote
