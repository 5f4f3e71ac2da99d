"""The database goes away mid-request and comes back: a clear 503 with Retry-After, nothing
half-written, and the next request after its return succeeds without restarting anything.

On PostgreSQL a TCP proxy started here sits between a second app and the server, and is cut
(open connections dropped, new ones refused) and restored. On SQLite, where there is no
connection to cut, the engine raises the driver's "unable to open database file" instead.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import socket
import sqlite3
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url

from config import TestingConfig
from pitchtank import create_app
from pitchtank.accounts.models import Role
from pitchtank.core.logs import make_handler
from pitchtank.extensions import db as _db
from pitchtank.judging import rubrics
from pitchtank.judging.models import Score, ScoreSheet

SPANISH = "El servicio no está disponible por un momento. No se guardó nada; inténtalo de nuevo."
ENGLISH = "The service is briefly unavailable. Nothing was saved; please try again."


class TcpProxy:
    """Relays 127.0.0.1:<port> to the database; ``cut()`` drops every connection and refuses
    new ones, as a database restart or a network failure does; ``restore()`` relays again."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        listener.settimeout(0.05)
        self._listener, self._stop = listener, threading.Event()
        self._thread = threading.Thread(target=self._accept, args=(listener, self._stop), daemon=True)
        self._thread.start()

    def _accept(self, listener: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    restore = start


class Outage:
    """Makes the second app's database unreachable: at once, or in the middle of a request."""

    def __init__(self, engine, proxy: TcpProxy | None) -> None:
        self.proxy = proxy
        self.down = False
        self._cut_after: str | None = None
        self._cut_next = False
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def cut(self) -> None:
        self.down = True
        if self.proxy is not None:
            self.proxy.cut()

    def restore(self) -> None:
        self.down = False
        if self.proxy is not None:
            self.proxy.restore()

    def cut_after(self, fragment: str) -> None:
        """Cut right after the statement containing ``fragment`` ran: the request's transaction
        has written something, and the next statement finds the database gone."""
        self._cut_after = fragment

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self._cut_after and self._cut_after in statement:
            self._cut_after, self._cut_next = None, True

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self._cut_next:
            self._cut_next = False
            self.cut()
        if self.down and self.proxy is None:  # SQLite: what the driver says when the file is gone
            raise sqlite3.OperationalError("unable to open database file")


@pytest.fixture
def outage(app, db) -> Iterator[tuple]:
    """A second app on the test database, reached through something that can fail."""
    uri = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    proxy = None
    if uri.get_backend_name() == "postgresql":
        proxy = TcpProxy(uri.host or "127.0.0.1", uri.port or 5432)
        proxy.start()
        uri = uri.set(host="127.0.0.1", port=proxy.port)
    flaky = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=uri.render_as_string(hide_password=False),
                       DECK_STORAGE_DIR=app.config["DECK_STORAGE_DIR"], WTF_CSRF_ENABLED=False,
                       SERVER_NAME="pitchtank.test")
    flaky.test_client_class = app.test_client_class
    with flaky.app_context():
        engine = _db.engine
    controls = Outage(engine, proxy)
    try:
        yield flaky, controls
    finally:
        if proxy is not None:
            proxy.cut()
        flaky.extensions["live"].close()
        engine.dispose()


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = make_handler("json", stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


@pytest.fixture
def live_pitch(make, db, client, api_token):
    session, judges = make.pitching_session(pitches=1, judges=1)
    rubrics.set_rubric(session, rubrics.default_rubric())
    organizer = api_token(Role.ORGANIZER)
    db.session.commit()
    for action in ("start", "open_scoring"):
        assert client.post(f"/api/v1/sessions/{session.id}/control", json={"action": action},
                           headers=organizer).status_code == 200
    return session.pitches[0].id, api_token(judges[0])


def put_scores(http, pitch_id: int, headers: dict, seq: int, language: str = "es-MX"):
    scores = {"problem": 8, "solution": 8, "market": 8, "team": 8, "pitch": 8}
    return http.put(f"/api/v1/pitches/{pitch_id}/scores/me", json={"scores": scores, "client_seq": seq},
                    headers={**headers, "Accept-Language": language})


def stored_rows(db, pitch_id: int) -> tuple[int, int]:
    sheets = db.session.scalar(select(func.count()).select_from(ScoreSheet).where(ScoreSheet.pitch_id == pitch_id))
    scores = db.session.scalar(select(func.count()).select_from(Score).join(ScoreSheet)
                               .where(ScoreSheet.pitch_id == pitch_id))
    return sheets, scores


@pytest.mark.parametrize("language, detail", [("es-MX", SPANISH), ("en", ENGLISH)])
def test_a_score_write_cut_midway_answers_503_keeps_nothing_and_the_next_one_succeeds(
        outage, live_pitch, db, captured, language, detail):
    flaky, controls = outage
    pitch_id, judge = live_pitch
    http = flaky.test_client()
    assert http.get("/healthz").status_code == 200  # the pool holds a live connection

    controls.cut_after("INSERT INTO score_sheets")  # the sheet is written, then the database goes
    response = put_scores(http, pitch_id, judge, seq=1, language=language)
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"] == "5"
    assert response.get_json()["detail"] == detail
    assert stored_rows(db, pitch_id) == (0, 0)  # nothing half-written
    errors = [json.loads(line) for line in captured.getvalue().splitlines() if "database unavailable" in line]
    assert errors and errors[0]["level"] == "ERROR"
    assert errors[0]["request_id"] == response.headers["X-Request-ID"]

    controls.restore()
    again = put_scores(http, pitch_id, judge, seq=1, language=language)
    assert again.status_code == 200, again.get_json()
    assert again.get_json()["stored"] is True
    assert stored_rows(db, pitch_id) == (1, 5)


def test_pages_and_probes_say_so_clearly_while_the_database_is_down_then_recover(outage, db, make):
    flaky, controls = outage
    judge = make.user(Role.JUDGE)
    db.session.commit()
    anonymous, logged_in = flaky.test_client(), flaky.test_client()
    with logged_in.session_transaction() as session:
        session["_user_id"] = judge.get_id()
    assert logged_in.get("/dashboard").status_code == 200

    controls.cut()
    for http in (anonymous, logged_in):  # loading the logged-in user is what fails first
        page = http.get("/events/")
        assert page.status_code == 503 and page.mimetype == "text/html"
        assert page.headers["Retry-After"] == "5"
        assert SPANISH in page.get_data(as_text=True)
        english = http.get("/events/?lang=en")
        assert english.status_code == 503 and ENGLISH in english.get_data(as_text=True)
    for path in ("/healthz", "/readyz"):
        probe = anonymous.get(path)
        assert probe.status_code == 503 and probe.get_json()["database"] == "unavailable", path

    controls.restore()
    assert logged_in.get("/dashboard").status_code == 200
    assert anonymous.get("/events/").status_code == 200
    assert anonymous.get("/readyz").status_code == 200
