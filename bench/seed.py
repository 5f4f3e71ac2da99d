"""Seed one live session through the app's own services; run with the backend's environment.

    PITCHTANK_CONFIG=... DATABASE_URL=... python bench/seed.py --out seed.json

Creates an organizer, N entrepreneurs with one accepted venture each, J judges, the default
rubric (5 weighted criteria and 1 zero-weight question), starts the session, opens scoring
for every pitch and issues an API token per judge. Writes what the load needs as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import timedelta
from decimal import Decimal

from pitchtank import create_app
from pitchtank.accounts import services as accounts
from pitchtank.accounts.models import Role
from pitchtank.core.types import utcnow
from pitchtank.events import services as events
from pitchtank.extensions import db
from pitchtank.judging import rubrics, show
from pitchtank.ventures import services as ventures
from pitchtank.ventures.models import Sector, Stage

PASSWORD = "bench-password-not-secret"  # noqa: S105 (throwaway accounts in a throwaway database)


def seed(pitches: int, judges: int) -> dict[str, object]:
    now = utcnow()
    organizer = accounts.register_user(email="organizer@bench.mx", name="Organizadora Bench",
                                       password=PASSWORD, roles=[Role.ORGANIZER], email_verified=True)
    event = events.create_event(organizer, events.EventData(
        name="Bench Pitch Day", venue="León, Gto.", starts_at=now + timedelta(days=1),
        ends_at=now + timedelta(days=2), submissions_open_at=now - timedelta(days=1),
        submissions_close_at=now + timedelta(hours=12),
    ))
    session = events.create_session(event, events.SessionData(
        title="Sesión bench", starts_at=event.starts_at, pitch_minutes=5, qa_minutes=3))
    submissions = []
    for number in range(1, pitches + 1):
        owner = accounts.register_user(email=f"founder{number}@bench.mx", name=f"Fundadora {number}",
                                       password=PASSWORD, roles=[Role.ENTREPRENEUR], email_verified=True)
        venture = ventures.create_venture(owner, ventures.VentureData(
            name=f"Emprendimiento {number:03d}", tagline="Software para PyMEs del Bajío",
            sector=Sector.IT_SOFTWARE, stage=Stage.MVP, description="Una descripción completa.",
            ask_cents=150_000_000, equity_offered_pct=Decimal("12.50"),
        ))
        submission = events.apply(venture, event, owner, now=now)
        events.decide(submission, accept=True, note="", actor=organizer)
        submissions.append(submission)
    events.set_running_order(session, [s.id for s in submissions])
    judge_users = [
        accounts.register_user(email=f"judge{number}@bench.mx", name=f"Jurado {number}",
                               password=PASSWORD, roles=[Role.JUDGE], email_verified=True)
        for number in range(1, judges + 1)
    ]
    events.set_judges(session, [j.id for j in judge_users])
    rubrics.set_rubric(session, rubrics.default_rubric())
    db.session.commit()

    show.control(session.id, "start", organizer)
    db.session.commit()
    pitch_ids = [p.id for p in session.pitches]
    for pitch_id in pitch_ids:
        show.control(session.id, "open_scoring", organizer, pitch_id=pitch_id)
        db.session.commit()

    tokens = [{"judge_id": j.id, "token": accounts.issue_token(j)} for j in judge_users]
    db.session.commit()
    criteria = [{"key": c.key, "min": c.min_value, "max": c.max_value, "weight": c.weight}
                for c in rubrics.criteria_of(session)]
    return {"session_id": session.id, "pitch_ids": pitch_ids, "judges": tokens, "criteria": criteria}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--pitches", type=int, default=40)
    parser.add_argument("--judges", type=int, default=15)
    args = parser.parse_args()
    started = time.perf_counter()
    # Nobody logs in with a password here (judges use API tokens): a cheap work factor keeps
    # the seeding step from spending seconds in scrypt.
    app = create_app(PASSWORD_HASH_METHOD="scrypt:1024:8:1")  # noqa: S106 (a method, not a secret)
    with app.app_context():
        data = seed(args.pitches, args.judges)
        db.session.remove()
    data["seconds"] = round(time.perf_counter() - started, 2)
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(data, handle)


if __name__ == "__main__":
    main()
