"""Operations: liveness and readiness, JSON logs with request ids, Prometheus metrics."""

from __future__ import annotations

import http.client
import io
import json
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.middleware.proxy_fix import ProxyFix

from pitchtank.accounts.models import Role
from pitchtank.core.logs import configure_logging, make_handler, request_id_var
from pitchtank.judging import rubrics

# ---------------------------------------------------------------------------- helpers


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class CapturedLog:
    """Every record the app's loggers write during a test, formatted as in production."""

    def __init__(self, fmt: str) -> None:
        self.stream = io.StringIO()
        self.handler = make_handler(fmt, self.stream)

    def lines(self) -> list[str]:
        return [line for line in self.stream.getvalue().splitlines() if line]

    def records(self) -> list[dict]:
        return [json.loads(line) for line in self.lines()]

    def access(self) -> list[dict]:
        return [r for r in self.records() if r["logger"] == "pitchtank.access"]


@pytest.fixture
def captured_log() -> Iterator[callable]:
    """``captured_log("json")``: a handler on the root logger, as configure_logging installs."""
    root = logging.getLogger()
    installed: list[logging.Handler] = []
    previous_level = root.level

    def capture(fmt: str = "json") -> CapturedLog:
        log = CapturedLog(fmt)
        root.addHandler(log.handler)
        installed.append(log.handler)
        root.setLevel(logging.INFO)
        return log

    yield capture
    for handler in installed:
        root.removeHandler(handler)
    root.setLevel(previous_level)


def metric_value(client, name: str, **labels: str) -> float:
    """The value of one sample of ``/metrics`` (0 if it was never observed)."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.get_data(as_text=True)
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


@pytest.fixture
def live_session(make, db, client, api_token):
    """A started session with scoring open for the first pitch, and a judge's token."""
    session, judges = make.pitching_session(pitches=2, judges=1)
    rubrics.set_rubric(session, rubrics.default_rubric())
    organizer = api_token(Role.ORGANIZER)
    db.session.commit()
    for action in ("start", "open_scoring"):
        response = client.post(f"/api/v1/sessions/{session.id}/control", json={"action": action}, headers=organizer)
        assert response.status_code == 200, response.get_json()
    return session, api_token(judges[0])


def put_scores(client, pitch_id: int, headers: dict, seq: int):
    scores = {"problem": 7, "solution": 7, "market": 7, "team": 7, "pitch": 7}
    return client.put(f"/api/v1/pitches/{pitch_id}/scores/me", json={"scores": scores, "client_seq": seq},
                      headers=headers)


# ------------------------------------------------------------------- health, readiness


def test_healthz_and_readyz_answer_ok_uncached_and_without_touching_the_session(client, login_as, app):
    login_as(Role.ORGANIZER)
    for path in ("/healthz", "/readyz"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store"
        assert "Set-Cookie" not in response.headers, path
    assert client.get("/healthz").get_json() == {"status": "ok", "database": "ok"}
    expected_redis = "ok" if app.config["REDIS_URL"] else "not configured"
    assert client.get("/readyz").get_json() == {"status": "ok", "database": "ok", "redis": expected_redis}


def test_readyz_names_redis_when_it_does_not_answer_but_healthz_stays_up(client, app, captured_log):
    log = captured_log("json")
    previous = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = f"redis://127.0.0.1:{closed_port()}/0"
    try:
        ready = client.get("/readyz", headers={"X-Request-ID": "probe-redis-1"})
        live = client.get("/healthz")
    finally:
        app.config["REDIS_URL"] = previous
    assert ready.status_code == 503
    assert ready.get_json() == {"status": "unavailable", "database": "ok", "redis": "unavailable"}
    assert ready.headers["Cache-Control"] == "no-store"
    assert live.status_code == 200  # liveness does not depend on Redis
    warning = [r for r in log.records() if r["logger"] == "pitchtank.core.health"]
    assert warning and warning[0]["level"] == "WARNING" and warning[0]["request_id"] == "probe-redis-1"


def test_readyz_without_redis_configured_only_needs_the_database(client, app):
    previous = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = None
    try:
        response = client.get("/readyz")
    finally:
        app.config["REDIS_URL"] = previous
    assert response.status_code == 200
    assert response.get_json()["redis"] == "not configured"


# --------------------------------------------------------------------------------- logs


def test_each_request_writes_one_json_access_line_with_its_request_id(client, login_as, captured_log, app):
    log = captured_log("json")
    user = login_as(Role.ENTREPRENEUR)
    response = client.get("/dashboard", headers={"X-Request-ID": "req-from-proxy-42"})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "req-from-proxy-42"
    (line,) = log.access()
    assert line["request_id"] == "req-from-proxy-42"
    assert (line["method"], line["path"], line["endpoint"], line["status"]) == ("GET", "/dashboard",
                                                                              "core.dashboard", 200)
    assert line["user_id"] == user.id and line["level"] == "INFO"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["time"].endswith("+00:00")
    assert line["message"].startswith("GET /dashboard 200 ")

    anonymous = app.test_client().get("/no-such-page")
    assert anonymous.status_code == 404
    last = log.access()[-1]
    assert last["user_id"] is None and last["endpoint"] == "unmatched" and last["status"] == 404
    assert last["request_id"] == anonymous.headers["X-Request-ID"]


@pytest.mark.parametrize("sent", ["", "has space", "<script>", "x" * 200, "é-accent", '"quoted"', "-leading-dash"])
def test_a_malformed_request_id_is_replaced_by_a_new_one(client, captured_log, sent):
    log = captured_log("json")
    response = client.get("/healthz", headers={"X-Request-ID": sent})
    given = response.headers["X-Request-ID"]
    assert given != sent and len(given) == 32 and int(given, 16) >= 0
    assert log.access()[-1]["request_id"] == given


def test_every_line_written_during_a_request_carries_its_id_sqlalchemy_included(client, captured_log):
    log = captured_log("json")
    engine_log = logging.getLogger("sqlalchemy.engine.Engine")
    previous = engine_log.level
    engine_log.setLevel(logging.INFO)
    try:
        client.get("/healthz", headers={"X-Request-ID": "trace-me"})
    finally:
        engine_log.setLevel(previous)
    records = log.records()
    sql = [r for r in records if r["logger"].startswith("sqlalchemy")]
    assert any("SELECT 1" in r["message"] for r in sql)
    assert records and {r["request_id"] for r in records} == {"trace-me"}
    assert request_id_var.get() == "-"  # and nothing leaks past the request


def test_the_text_format_is_one_readable_line_with_the_request_id(client, captured_log):
    log = captured_log("text")
    client.get("/healthz", headers={"X-Request-ID": "readable-1"})
    (line,) = [line for line in log.lines() if "pitchtank.access" in line]
    assert " INFO [readable-1] pitchtank.access: GET /healthz 200 " in line and line.endswith(" ms")


def test_access_log_can_be_turned_off(client, app, captured_log):
    log = captured_log("json")
    app.config["ACCESS_LOG"] = False
    try:
        response = client.get("/healthz")
    finally:
        app.config["ACCESS_LOG"] = True
    assert response.headers["X-Request-ID"] and log.access() == []


def test_configure_logging_installs_one_handler_however_often_it_runs():
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    try:
        configure_logging("json", "warning")
        handler = configure_logging("text", "debug")
        ours = [h for h in root.handlers if h not in before]
        assert ours == [handler] and root.level == logging.DEBUG
        with pytest.raises(RuntimeError, match="LOG_FORMAT"):
            configure_logging("xml", "info")
    finally:
        root.handlers[:] = before
        root.setLevel(level)


# ------------------------------------------------------------------------------ metrics


def test_metrics_are_served_to_loopback_uncached(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    for name in ("pitchtank_http_request_duration_seconds", "pitchtank_scores_stored_total",
                 "pitchtank_live_viewers", "pitchtank_stream_events_sent_total"):
        assert f"# TYPE {name.removesuffix('_total')}" in text, name


def test_metrics_are_refused_elsewhere_unless_the_bearer_holds_the_token(client, app):
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    refused = client.get("/metrics", environ_base=outside)
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"
    assert "pitchtank_" not in refused.get_data(as_text=True)
    app.config["METRICS_TOKEN"] = "scrape-secret-0123456789"
    try:
        assert client.get("/metrics", environ_base=outside,
                          headers={"Authorization": "Bearer scrape-secret-0123456789"}).status_code == 200
        assert client.get("/metrics", environ_base=outside,
                          headers={"Authorization": "Bearer wrong"}).status_code == 403
        assert client.get("/metrics", environ_base=outside).status_code == 403
    finally:
        app.config["METRICS_TOKEN"] = None


def test_behind_a_proxy_both_the_peer_and_the_forwarded_client_must_be_allowed(client, app):
    original = app.wsgi_app
    app.wsgi_app = ProxyFix(original, x_for=1)  # as in production
    try:
        # A public client relayed by the local reverse proxy:
        relayed = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"},
                             headers={"X-Forwarded-For": "198.51.100.7"})
        # A public client forging the header, straight to the app server:
        forged = client.get("/metrics", environ_base={"REMOTE_ADDR": "198.51.100.7"},
                            headers={"X-Forwarded-For": "127.0.0.1"})
        # Prometheus on the same machine, straight to the app server:
        local = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    finally:
        app.wsgi_app = original
    assert (relayed.status_code, forged.status_code, local.status_code) == (403, 403, 200)


def test_metrics_allowed_networks_are_configurable(client, app):
    from pitchtank.core import metrics

    previous = app.extensions["pitchtank_metrics_networks"]
    app.extensions["pitchtank_metrics_networks"] = metrics.parse_networks("10.0.0.0/8, 192.0.2.1")
    try:
        assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
        assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.1"}).status_code == 200
        assert client.get("/metrics").status_code == 403  # loopback is no longer listed
    finally:
        app.extensions["pitchtank_metrics_networks"] = previous
    with pytest.raises(RuntimeError, match="not-a-network"):
        metrics.parse_networks("10.0.0.0/8,not-a-network")


def test_a_real_score_write_moves_the_scores_counter_and_the_latency_histogram(live_session, client):
    session, judge = live_session
    pitch_id = session.pitches[0].id
    labels = {"endpoint": "api.put_my_scores", "method": "PUT", "status": "200"}
    stored_before = metric_value(client, "pitchtank_scores_stored_total")
    timed_before = metric_value(client, "pitchtank_http_request_duration_seconds_count", **labels)

    assert put_scores(client, pitch_id, judge, seq=1).get_json()["stored"] is True
    assert metric_value(client, "pitchtank_scores_stored_total") == stored_before + 1
    resend = put_scores(client, pitch_id, judge, seq=1)  # a tablet's resend: nothing new stored
    assert resend.status_code == 200 and resend.get_json()["stored"] is False
    refused = put_scores(client, session.pitches[1].id, judge, seq=1)  # scoring not open there
    assert refused.status_code == 409

    assert metric_value(client, "pitchtank_scores_stored_total") == stored_before + 1
    assert metric_value(client, "pitchtank_http_request_duration_seconds_count", **labels) == timed_before + 2
    assert metric_value(client, "pitchtank_http_request_duration_seconds_count",
                        endpoint="api.put_my_scores", method="PUT", status="409") >= 1
    assert metric_value(client, "pitchtank_http_request_duration_seconds_bucket", le="+Inf", **labels) \
        == timed_before + 2


def test_an_open_stream_counts_as_a_viewer_and_its_events_are_counted(live_session, client):
    session, _judge = live_session
    viewers_before = metric_value(client, "pitchtank_live_viewers")
    sent_before = {event: metric_value(client, "pitchtank_stream_events_sent_total", event=event)
                   for event in ("pitch", "leaderboard")}
    response = client.get(f"/api/v1/sessions/{session.id}/stream", buffered=False)
    assert response.status_code == 200
    chunks = iter(response.response)
    received = ""
    try:
        while received.count("event: ") < 2:  # retry, then the pitch and leaderboard snapshots
            chunk = next(chunks)
            received += chunk.decode() if isinstance(chunk, bytes) else chunk
        assert metric_value(client, "pitchtank_live_viewers") == viewers_before + 1
    finally:
        response.close()
    assert metric_value(client, "pitchtank_live_viewers") == viewers_before
    for event in ("pitch", "leaderboard"):
        assert metric_value(client, "pitchtank_stream_events_sent_total", event=event) == sent_before[event] + 1


# ------------------------------------------------------------- gunicorn, several workers


def _get(port: int, path: str, headers: dict | None = None) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_under_gunicorn_logs_are_json_and_metrics_add_up_every_worker(tmp_path):
    """The production setup: gunicorn.conf.py, two workers, multi-process metrics."""
    root = Path(__file__).resolve().parent.parent
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left over from an earlier run")
    port = closed_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PITCHTANK_", "LOG_", "METRICS_"))}
    env |= {"PITCHTANK_CONFIG": "production", "SECRET_KEY": "gunicorn-test-secret-0123456789",
            "PUBLIC_URL": "https://pitchtank.test",
            "DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "PYTHONPATH": str(root), "DECK_STORAGE_DIR": str(tmp_path / "decks")}
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log_file:
        server = subprocess.Popen([str(root / ".venv" / "bin" / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
                                  cwd=root, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log_path.read_text()
            try:
                status, _ = _get(port, "/healthz")
                if status == 200 and len(list(metrics_dir.glob("gauge_livesum_*.db"))) == 2:
                    break  # both workers have imported the app
            except OSError:
                pass
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        assert not (metrics_dir / "counter_999999.db").exists()  # emptied at start

        def healthz_count() -> float:
            status, text = _get(port, "/metrics")
            assert status == 200
            counts = [s.value for family in text_string_to_metric_families(text) for s in family.samples
                      if s.name == "pitchtank_http_request_duration_seconds_count"
                      and s.labels == {"endpoint": "core.healthz", "method": "GET", "status": "200"}]
            assert len(counts) == 1  # one sample, summed over both workers' files
            return counts[0]

        before = healthz_count()
        for n in range(30):
            assert _get(port, "/healthz", {"X-Request-ID": f"gunicorn-{n}"})[0] == 200
        assert healthz_count() == before + 30

        # A worker that exits is marked dead (child_exit): its live gauge stops counting.
        pids = [int(p.stem.rsplit("_", 1)[1]) for p in metrics_dir.glob("gauge_livesum_*.db")]
        worker = next(pid for pid in pids if Path(f"/proc/{pid}/stat").read_text().split()[3] == str(server.pid))
        os.kill(worker, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while (metrics_dir / f"gauge_livesum_{worker}.db").exists():
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=30)

    records = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    assert any(r["logger"] == "gunicorn.error" and "Booting worker" in r["message"] for r in records)
    access = {r["request_id"] for r in records if r["logger"] == "pitchtank.access"}
    assert {f"gunicorn-{n}" for n in range(30)} <= access
    assert not any(r["logger"] == "gunicorn.access" for r in records)  # the app writes the access log
