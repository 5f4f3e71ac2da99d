"""What keeps a thousand viewers cheap: shared encodings, shared opening snapshots, spread reconnects."""

from __future__ import annotations

import re
import time

from pitchtank.accounts.models import Role
from pitchtank.events.models import PitchSession
from pitchtank.judging import live_state, rubrics
from pitchtank.live.hub import LiveHub, Message
from pitchtank.live.sse import RECONNECT_JITTER_MS, RECONNECT_MS, event_stream


def test_jittered_streams_spread_their_reconnects_and_deadlines():
    delays = set()
    for _ in range(40):
        stream = event_stream(LiveHub().subscribe("c"), [], max_seconds=0.2, jitter=True)
        first = next(stream)
        delays.add(int(re.match(r"retry: (\d+)\n\n", first).group(1)))
        stream.close()
    assert all(RECONNECT_MS <= d <= RECONNECT_MS + RECONNECT_JITTER_MS for d in delays)
    assert len(delays) > 10  # spread, not one value for everyone
    started = time.monotonic()
    assert len(list(event_stream(LiveHub().subscribe("c"), [], max_seconds=0.3, jitter=True))) == 1
    assert 0.25 <= time.monotonic() - started <= 0.5  # ends within 10 % before the limit


def test_every_viewer_gets_the_same_encoded_bytes():
    hub = LiveHub()
    streams = [event_stream(hub.subscribe("c"), [], heartbeat_seconds=5, as_bytes=True) for _ in range(3)]
    assert [next(s) for s in streams] == [b"retry: 3000\n\n"] * 3
    message = Message("leaderboard", 1, {"name": "Café"})
    hub.publish_local("c", message)
    chunks = [next(s) for s in streams]
    assert chunks[0] == message.sse_text().encode() and all(c is chunks[0] for c in chunks)
    for stream in streams:
        stream.close()


def test_the_opening_snapshot_is_built_once_per_version(make, db, client, api_token):
    session, judges = make.pitching_session(pitches=2, judges=1)
    rubrics.set_rubric(session, rubrics.default_rubric())
    organizer = api_token(Role.ORGANIZER)
    for action in ("start", "open_scoring"):
        assert client.post(f"/api/v1/sessions/{session.id}/control", json={"action": action},
                           headers=organizer).status_code == 200
    first = live_state.messages_for(db.session.get(PitchSession, session.id))
    second = live_state.messages_for(db.session.get(PitchSession, session.id))
    assert second[1] is first[1]  # the leaderboard message, encoded once for both
    assert second[0].data["server_time"] >= first[0].data["server_time"]
    body = {"scores": dict.fromkeys(("problem", "solution", "market", "team", "pitch"), 8), "client_seq": 1}
    assert client.put(f"/api/v1/pitches/{session.pitches[0].id}/scores/me", json=body,
                      headers=api_token(judges[0])).status_code == 200
    db.session.expire_all()
    third = live_state.messages_for(db.session.get(PitchSession, session.id))
    assert third[1] is not first[1] and third[1].id > first[1].id
    assert third[1].data["entries"][0]["judges_scored"] == 1
