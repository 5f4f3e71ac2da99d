"""The live transport under gevent monkey-patching (run in a subprocess: patching is global)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
import uuid

import pytest

SCRIPT = textwrap.dedent(
    """
    from gevent import monkey

    monkey.patch_all()

    import sys

    import gevent

    from pitchtank.live.hub import LiveHub, Message
    from pitchtank.live.redis_bridge import RedisBridge
    from pitchtank.live.sse import event_stream

    redis_url, channel = sys.argv[1], sys.argv[2]

    # Fan-out: 200 greenlets blocked in get() all wake on one publish.
    hub = LiveHub()
    subs = [hub.subscribe("c") for _ in range(200)]
    got = []
    readers = [gevent.spawn(lambda s=s: got.append(s.get(timeout=2))) for s in subs]
    gevent.sleep(0.01)
    hub.publish_local("c", Message("leaderboard", 1, {}))
    gevent.joinall(readers, timeout=3)
    assert [m.id for m in got] == [1] * 200, got[:3]

    # An idle stream yields to other greenlets while it waits for its heartbeat.
    ticks = []
    ticker = gevent.spawn(lambda: [ticks.append(gevent.sleep(0.01)) for _ in range(20)])
    chunks = list(event_stream(hub.subscribe("h"), [], heartbeat_seconds=0.05, max_seconds=0.3))
    ticker.join(timeout=1)
    assert len(ticks) == 20, len(ticks)
    assert ": ping\\n\\n" in chunks, chunks

    # The Redis listener runs as a greenlet and relays messages.
    bridge = RedisBridge(redis_url, LiveHub(), poll_seconds=0.05)
    sub = bridge.subscribe(channel)
    assert bridge.wait_healthy(2)
    assert monkey.is_module_patched("threading")  # so the listener above is a greenlet
    message = Message("pitch", 2, {"pitch_id": 1})
    assert bridge.publish(channel, message)
    assert sub.get(timeout=1) == message
    bridge.stop()

    dead = RedisBridge("redis://127.0.0.1:1/0", LiveHub())
    assert dead.publish(channel, message) is False
    print("gevent ok")
    """
)


def test_live_transport_under_gevent(redis_url):
    if importlib.util.find_spec("gevent") is None:
        pytest.skip("gevent is not installed (only needed with gunicorn's gevent worker)")
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, redis_url, f"test:{uuid.uuid4().hex}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "gevent ok"
