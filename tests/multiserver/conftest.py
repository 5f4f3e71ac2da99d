"""Real app servers for the multi-server and fault tests: gunicorn subprocesses on free ports of
127.0.0.1, with the production configuration, sharing one PostgreSQL database and one Redis.

The servers need a database every process can reach, so these tests run only when
``DATABASE_URL`` names PostgreSQL (CI's second pass). Each run creates its own database on
that server (``pitchtank_ms_<random>``), migrates it with ``flask db upgrade``, seeds it in a
subprocess and drops it at the end, so the servers never touch the pytest process's tables.
On the SQLite pass they are skipped; with ``PITCHTANK_REQUIRE_SERVICES=1`` they fail instead.
Everything started here is stopped by its PID in a finalizer.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
SKIP_REASON = (
    "multi-server tests need PostgreSQL and Redis that every server process shares: set "
    "DATABASE_URL=postgresql://... and REDIS_URL (CI's PostgreSQL pass runs them; the SQLite "
    "pass has no database that several processes can share safely)"
)
LOGIN_RATE_LIMIT = "3 per minute"
BOOT_TIMEOUT = 30.0


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy or ``timeout`` passes; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def children_of(pid: int) -> set[int]:
    """Live direct children of ``pid`` (gunicorn's workers), from /proc."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry.name))
    return found


# ---------- services and the database ----------

@dataclass(frozen=True)
class Services:
    database_url: str  # the run's own database
    redis_url: str
    seed: dict[str, Any]
    tmp: Path

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run ``query`` on the servers' database from outside the app (what is committed)."""
        with psycopg.connect(_libpq_url(self.database_url), autocommit=True) as connection:
            return connection.execute(query, params).fetchall()


def _libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def service_urls() -> tuple[str, str]:
    """(DATABASE_URL, REDIS_URL) when both are set and PostgreSQL; skip (or fail in CI) otherwise."""
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not database_url.startswith(("postgresql", "postgres:")) or not redis_url:
        if os.environ.get("PITCHTANK_REQUIRE_SERVICES") == "1":
            pytest.fail(SKIP_REASON, pytrace=False)
        pytest.skip(SKIP_REASON)
    return database_url, redis_url


def server_env(database_url: str, redis_url: str, tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a production server (and of the migration and seed steps)."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PITCHTANK_", "DATABASE_", "REDIS_", "STRIPE_", "GUNICORN"))}
    env.update({
        "PITCHTANK_CONFIG": "production",
        "SECRET_KEY": "multiserver-test-secret-" + "0" * 32,
        "PUBLIC_URL": "https://pitchtank.test",
        # Other runs on this machine share its Redis: keep this run's live events apart.
        "LIVE_CHANNEL_PREFIX": f"pitchtank-multiserver-{os.getpid()}:live:",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "LOGIN_RATE_LIMIT": LOGIN_RATE_LIMIT,
        "DECK_STORAGE_DIR": str(tmp / "decks"),
        "ACCESS_LOG": "",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(ROOT),
    })
    env.update(extra)
    return env


def _run_step(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(command[1:])} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}",
                    pytrace=False)


@pytest.fixture(scope="session")
def services(service_urls, tmp_path_factory) -> Iterator[Services]:
    """A fresh PostgreSQL database for the servers, migrated and seeded; dropped afterwards."""
    base_url, redis_url = service_urls
    tmp = tmp_path_factory.mktemp("multiserver")
    name = f"pitchtank_ms_{secrets.token_hex(4)}"
    admin = _libpq_url(base_url)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    database_url = make_url(base_url).set(database=name).render_as_string(hide_password=False)
    try:
        env = server_env(database_url, redis_url, tmp)
        _run_step([sys.executable, "-m", "flask", "--app", "pitchtank", "db", "upgrade"], env)
        seed_path = tmp / "seed.json"
        # Live channels are named by session id, and Redis pub/sub channels are shared by every
        # client of the server (whatever its database number): start the ids where no other
        # test run's sessions are, so that their messages never reach these streams.
        with psycopg.connect(_libpq_url(database_url), autocommit=True) as connection:
            connection.execute("SELECT setval(pg_get_serial_sequence('pitch_sessions', 'id'), %s)",
                               (secrets.randbelow(10**9) + 10**6,))
        _run_step([sys.executable, "-m", "tests.multiserver.seed", str(seed_path), name], env)
        yield Services(database_url, redis_url, json.loads(seed_path.read_text()), tmp)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------- gunicorn ----------

@dataclass
class AppServer:
    """``gunicorn -c gunicorn.conf.py <app>`` on a free port; stopped by PID."""

    name: str
    env: dict[str, str]
    log_path: Path
    app: str = "wsgi:app"
    workers: int = 1
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        env = self.env | {"BIND": f"{HOST}:{self.port}", "WEB_CONCURRENCY": str(self.workers)}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                # No control socket: gunicorn's default path is shared by every server on the host.
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--no-control-socket", self.app],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout: float = BOOT_TIMEOUT) -> None:
        """Wait until every worker has booted and the server answers /healthz."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                break
            if len(self.workers_pids()) >= self.workers and self.healthy():
                return
            time.sleep(0.1)
        raise RuntimeError(f"server {self.name} did not start; its log:\n{self.log_tail()}")

    def workers_pids(self) -> set[int]:
        return children_of(self.process.pid) if self.process is not None else set()

    def healthy(self) -> bool:
        try:
            return requests.get(self.url + "/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Stop the master at once (SIGINT, gunicorn's quick shutdown: open streams are not
        waited for), then SIGKILL it and any worker left, all by PID."""
        if self.process is None:
            return
        workers = self.workers_pids()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process = None


@pytest.fixture(scope="module")
def start_servers(services) -> Iterator[Callable[..., list[AppServer]]]:
    """``start_servers(spec, ...)``: start gunicorn servers in parallel and wait for all; each
    spec is a dict of ``AppServer`` fields plus ``redis_url``/``env``. All stopped afterwards."""
    started: list[AppServer] = []

    def start(*specs: dict[str, Any]) -> list[AppServer]:
        servers = []
        for spec in specs:
            spec = dict(spec)
            env = server_env(services.database_url, spec.pop("redis_url", services.redis_url), services.tmp,
                             **spec.pop("env", {}))
            name = spec.pop("name")
            server = AppServer(name=name, env=env, log_path=services.tmp / f"{name}.log", **spec)
            started.append(server)
            server.start()
            servers.append(server)
        for server in servers:
            server.wait_ready()
        return servers

    yield start
    for server in started:  # all at once, then wait for each
        if server.process is not None and server.process.poll() is None:
            server.process.send_signal(signal.SIGINT)
    for server in started:
        server.stop()


# ---------- clients ----------

@dataclass
class SseEvent:
    event: str
    id: str
    data: Any
    received_at: float


class SseClient:
    """Reads one ``/stream`` in a thread; events arrive on ``events`` (None once the stream ends)."""

    def __init__(self, base_url: str, path: str, timeout: float = 5.0) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
        self.connection.request("GET", path, headers={"Accept": "text/event-stream"})
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self.events: queue.Queue[SseEvent | None] = queue.Queue()
        self.ended = threading.Event()
        if self.status == 200:
            self.connection.sock.settimeout(None)  # the stream ends by itself or by close()
            self._thread = threading.Thread(target=self._read, daemon=True, name=f"sse {path}")
            self._thread.start()
        else:
            self.body = self.response.read()
            self.connection.close()
            self.ended.set()

    def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            while True:
                line = self.response.readline()
                if not line:
                    break
                text = line.decode().rstrip("\r\n")
                if text == "":
                    if "event" in fields:
                        self.events.put(SseEvent(fields["event"], fields.get("id", ""),
                                                 json.loads(fields.get("data", "null")), time.monotonic()))
                    fields = {}
                elif not text.startswith(":") and ":" in text:
                    key, _, value = text.partition(":")
                    fields[key] = value.removeprefix(" ")
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            pass  # closed by close() (http.client may then fail inside), or by the server
        finally:
            self.ended.set()
            self.events.put(None)

    def next_event(self, timeout: float, where: Callable[[SseEvent], bool] = lambda e: True) -> SseEvent | None:
        """The next event matching ``where`` within ``timeout`` s; None on timeout or end."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                return None
            if event is None:
                self.events.put(None)  # keep telling later callers that the stream ended
                return None
            if where(event):
                return event
        return None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self.connection.sock is not None:
                self.connection.sock.shutdown(socket.SHUT_RDWR)
        self.connection.close()


@pytest.fixture
def sse_clients() -> Iterator[Callable[[str, str], SseClient]]:
    """``open_stream(base_url, path)``; every stream is closed after the test."""
    opened: list[SseClient] = []

    def open_stream(base_url: str, path: str) -> SseClient:
        client = SseClient(base_url, path)
        opened.append(client)
        return client

    yield open_stream
    for client in opened:
        client.close()


class Browser:
    """A cookie jar that, like a browser, keeps Secure cookies too (the servers speak plain
    HTTP on 127.0.0.1 while production marks its cookies Secure)."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = requests.request(method, url, headers=headers, timeout=kwargs.pop("timeout", 10),
                                    allow_redirects=False, **kwargs)
        for cookie in response.cookies:
            self.cookies[cookie.name] = cookie.value or ""
        return response

    def csrf_token(self, base_url: str) -> str:
        """Open the home page (starting a session) and read its CSRF token from the meta tag."""
        page = self.request("GET", base_url + "/")
        assert page.status_code == 200, page.text[:500]
        marker = 'name="csrf-token" content="'
        start = page.text.index(marker) + len(marker)
        return page.text[start:page.text.index('"', start)]


def score_body(seed: dict[str, Any], value: int, client_seq: int) -> dict[str, Any]:
    """Every criterion at ``value`` clamped to its range."""
    scores = {key: max(c["min"], min(c["max"], value)) for key, c in seed["criteria"].items()}
    return {"scores": scores, "client_seq": client_seq}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def entry_of(leaderboard: dict[str, Any], pitch_id: int) -> dict[str, Any]:
    return next(e for e in leaderboard["entries"] if e["pitch_id"] == pitch_id)
