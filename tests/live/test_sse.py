"""SSE wire format and the per-connection event stream."""

from __future__ import annotations

import time

from pitchtank.live.hub import LiveHub, Message
from pitchtank.live.sse import comment, event_stream, format_sse, retry

RETRY = "retry: 3000\n\n"
PING = ": ping\n\n"


def test_format_sse_exact_text():
    message = Message("leaderboard", 7, {"rows": [{"pitch": 1, "score": 8.5}], "final": False})
    assert format_sse(message) == (
        'id: 7\nevent: leaderboard\ndata: {"rows":[{"pitch":1,"score":8.5}],"final":false}\n\n'
    )


def test_format_sse_keeps_data_on_one_line_and_unicode_readable():
    message = Message("pitch", 1, {"title": "Café\r\nAgua"})
    assert format_sse(message) == 'id: 1\nevent: pitch\ndata: {"title":"Café\\r\\nAgua"}\n\n'


def test_comment_and_retry_exact_text():
    assert comment("ping") == PING
    assert comment("two\nlines") == ": two\n: lines\n\n"
    assert retry(3000) == RETRY


def test_stream_sends_retry_then_the_snapshot_then_new_messages():
    hub = LiveHub()
    sub = hub.subscribe("c")
    board = Message("leaderboard", 4, {"rows": []})
    pitch = Message("pitch", 2, {"pitch_id": 9})
    stream = event_stream(sub, [board, pitch], heartbeat_seconds=5)

    assert next(stream) == RETRY
    assert next(stream) == format_sse(board)
    assert next(stream) == format_sse(pitch)

    update = Message("leaderboard", 5, {"rows": [1]})
    hub.publish_local("c", update)
    assert next(stream) == format_sse(update)
    stream.close()


def test_stream_sends_a_heartbeat_when_idle():
    hub = LiveHub()
    stream = event_stream(hub.subscribe("c"), [], heartbeat_seconds=0.05)
    assert next(stream) == RETRY
    started = time.monotonic()
    assert next(stream) == PING
    assert next(stream) == PING
    assert 0.08 <= time.monotonic() - started < 1
    stream.close()


def test_stream_skips_messages_not_newer_than_those_sent_per_event_type():
    hub = LiveHub()
    sub = hub.subscribe("c")
    stream = event_stream(sub, [Message("leaderboard", 5, {})], heartbeat_seconds=5)
    assert next(stream) == RETRY
    assert next(stream) == format_sse(Message("leaderboard", 5, {}))

    hub.publish_local("c", Message("leaderboard", 5, {}))  # the publish that raced the snapshot
    hub.publish_local("c", Message("leaderboard", 4, {}))  # stale
    hub.publish_local("c", Message("pitch", 1, {}))  # other event types keep their own version
    hub.publish_local("c", Message("leaderboard", 6, {}))
    assert next(stream) == format_sse(Message("pitch", 1, {}))
    assert next(stream) == format_sse(Message("leaderboard", 6, {}))
    stream.close()


def test_stream_dedupes_within_the_initial_snapshot_too():
    hub = LiveHub()
    initial = [Message("leaderboard", 2, {}), Message("leaderboard", 1, {})]
    stream = event_stream(hub.subscribe("c"), initial, max_seconds=0)
    assert list(stream) == [RETRY, format_sse(initial[0])]


def test_stream_stops_after_max_seconds_and_closes_the_subscription():
    hub = LiveHub()
    sub = hub.subscribe("c")
    started = time.monotonic()
    chunks = list(event_stream(sub, [], heartbeat_seconds=0.05, max_seconds=0.3))
    elapsed = time.monotonic() - started

    assert 0.3 <= elapsed < 1
    assert chunks[0] == RETRY
    assert set(chunks[1:]) == {PING}
    assert 3 <= len(chunks) - 1 <= 6
    assert sub.closed
    assert hub.subscriber_count() == 0


def test_stream_stops_at_max_seconds_even_while_messages_flow():
    hub = LiveHub()
    stream = event_stream(hub.subscribe("c"), [], heartbeat_seconds=5, max_seconds=0.2)
    started = time.monotonic()
    sent = 0
    for version, _chunk in enumerate(stream):
        hub.publish_local("c", Message("leaderboard", version, {}))
        sent += 1
        time.sleep(0.01)
    assert time.monotonic() - started < 1
    assert sent > 5


def test_stream_ends_when_the_subscription_is_closed_elsewhere():
    hub = LiveHub()
    stream = event_stream(hub.subscribe("c"), [], heartbeat_seconds=5)
    assert next(stream) == RETRY
    hub.close_all()
    started = time.monotonic()
    assert list(stream) == []
    assert time.monotonic() - started < 1


def test_closing_the_stream_on_client_disconnect_closes_the_subscription():
    hub = LiveHub()
    sub = hub.subscribe("c")
    stream = event_stream(sub, [], heartbeat_seconds=5)
    next(stream)
    stream.close()  # what the WSGI server does when the browser goes away
    assert sub.closed
    assert hub.subscriber_count() == 0
