"""Seed the multi-server tests' database through the app's services; run as a subprocess.

    PITCHTANK_CONFIG=production SECRET_KEY=... DATABASE_URL=... python -m tests.multiserver.seed OUT.json RUN

One live session (scoring open for every pitch, leaderboard shown to the audience), judges
with API tokens, and accounts with a known password for the login and voting tests.
Writes what the tests need as JSON. ``RUN`` makes the emails unique to this run: the login
rate limit's counters live in the shared Redis for a minute.
"""

from __future__ import annotations

import json
import sys

from pitchtank import create_app
from pitchtank.accounts import services as accounts
from pitchtank.accounts.models import Role
from pitchtank.extensions import db
from pitchtank.judging import rubrics, show
from tests import factories

PITCHES = 6
JUDGES = 6
ACCOUNTS = 8


def seed(run: str) -> dict[str, object]:
    session, judges = factories.pitching_session(pitches=PITCHES, judges=JUDGES)
    rubrics.set_rubric(session, rubrics.default_rubric())
    organizer = factories.user(Role.ORGANIZER)
    people = [factories.user(Role.ENTREPRENEUR, email=f"persona{n}-{run}@multiserver.test") for n in range(ACCOUNTS)]
    db.session.commit()
    show.control(session.id, "start", organizer)
    db.session.commit()
    pitch_ids = [p.id for p in session.pitches]
    for pitch_id in pitch_ids:
        show.control(session.id, "open_scoring", organizer, pitch_id=pitch_id)
        db.session.commit()
    assert session.leaderboard_public, "the audience must see the leaderboard"
    tokens = [{"judge_id": j.id, "token": accounts.issue_token(j)} for j in judges]
    db.session.commit()
    criteria = {c.key: {"min": c.min_value, "max": c.max_value} for c in rubrics.criteria_of(session)}
    return {
        "session_id": session.id,
        "pitch_ids": pitch_ids,
        "judges": tokens,
        "criteria": criteria,
        "accounts": [{"id": p.id, "email": p.email} for p in people],
        "password": factories.PASSWORD,
    }


def main() -> None:
    # Only seeded accounts log in, a handful of times: a cheap scrypt work factor is enough.
    app = create_app(PASSWORD_HASH_METHOD="scrypt:1024:8:1")  # noqa: S106 (a method, not a secret)
    with app.app_context():
        data = seed(sys.argv[2])
        db.session.remove()
    with open(sys.argv[1], "w", encoding="utf-8") as handle:
        json.dump(data, handle)


if __name__ == "__main__":
    main()
