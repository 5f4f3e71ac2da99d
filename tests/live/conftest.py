"""Fixtures for the live transport: the shared Redis, a private killable Redis, bridges."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from pitchtank.live.hub import LiveHub
from pitchtank.live.redis_bridge import RedisBridge

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
REDIS_SERVER_FALLBACK = "/usr/bin/redis-server"

# Short waits keep the suite fast; production keeps the 0.5 s -> 5 s defaults.
FAST_BRIDGE = {"min_backoff": 0.05, "max_backoff": 0.2, "poll_seconds": 0.05}


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes; its final value."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def channel() -> str:
    """A channel name no other test (or concurrent test run on the shared Redis) uses."""
    return f"test:{uuid.uuid4().hex}"


@pytest.fixture
def redis_url() -> str:
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


@pytest.fixture
def make_bridge() -> Iterator[Callable[..., RedisBridge]]:
    """Build bridges (each with its own hub, like separate processes); all stopped afterwards."""
    bridges: list[RedisBridge] = []

    def make(url: str, **options: float) -> RedisBridge:
        bridge = RedisBridge(url, LiveHub(), **{**FAST_BRIDGE, **options})
        bridges.append(bridge)
        return bridge

    yield make
    for bridge in bridges:
        bridge.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A private redis-server subprocess that a test may kill and restart on the same port."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 5.0) -> None:
        """Start the server and wait until it answers PING."""
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--bind",
                "127.0.0.1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        try:
            if not wait_until(lambda: self._answers(client), timeout):
                raise RuntimeError(f"redis-server on port {self.port} did not start")
        finally:
            client.close()

    def kill(self) -> None:
        """Kill the server at once (no graceful shutdown) and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)
        self.process = None

    def _answers(self, client: redis.Redis) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {self.process.returncode}")
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A private Redis the test controls; always killed at the end."""
    binary = shutil.which("redis-server") or REDIS_SERVER_FALLBACK
    if not os.access(binary, os.X_OK):
        pytest.fail(
            "redis-server is not installed (not on PATH nor at /usr/bin/redis-server); "
            "the live listener recovery test needs it: apt-get install redis-server"
        )
    server = RedisServer(binary)
    try:
        yield server
    finally:
        server.kill()
