"""gunicorn settings for production: ``gunicorn -c gunicorn.conf.py wsgi:app``.

gevent workers hold a thousand long-lived leaderboard streams per process cheaply;
psycopg 3 and redis-py cooperate with gevent's monkey-patching by themselves.

Logs: gunicorn's own lines are JSON like the app's (``LOG_FORMAT=text`` for readable lines).
The app writes one access line per request with its request id, so gunicorn's access log is
off unless ``GUNICORN_ACCESS_LOG`` names a file (or ``-``, standard output).

Metrics: every worker writes its Prometheus values to files in ``PROMETHEUS_MULTIPROC_DIR``
(a fresh temporary directory unless set; emptied at start, removed at exit if created
here) and ``/metrics`` adds them up; a dead worker's live gauges are dropped.
"""

import multiprocessing
import os
import shutil
import tempfile

from gunicorn.glogging import Logger
from pythonjsonlogger.json import JsonFormatter

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "gevent"
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "3000"))
# With gevent, the timeout only catches a worker whose event loop is stuck.
timeout = 30
graceful_timeout = 20
keepalive = 5
max_requests = 0  # streams are recycled by STREAM_MAX_SECONDS instead
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

_production = os.environ.get("PITCHTANK_CONFIG") == "production"
LOG_FORMAT = os.environ.get("LOG_FORMAT") or ("json" if _production else "text")
loglevel = (os.environ.get("LOG_LEVEL") or "info").lower()


class PitchTankLogger(Logger):
    """gunicorn's logger, writing JSON objects (time, level, logger, message) when asked to."""

    def setup(self, cfg):
        super().setup(cfg)
        if LOG_FORMAT == "json":
            formatter = JsonFormatter(["levelname", "name", "message", "process"],
                                      rename_fields={"levelname": "level", "name": "logger"}, timestamp="time")
            for log in (self.error_log, self.access_log):
                for handler in log.handlers:
                    handler.setFormatter(formatter)


logger_class = PitchTankLogger

_OWNED_METRICS_DIR = "PITCHTANK_OWNED_METRICS_DIR"  # survives a configuration reload (HUP)


def on_starting(server):
    """Before any worker forks: give the workers an empty directory for their metrics."""
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not metrics_dir:
        metrics_dir = tempfile.mkdtemp(prefix="pitchtank-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ[_OWNED_METRICS_DIR] = metrics_dir
    os.makedirs(metrics_dir, exist_ok=True)
    for name in os.listdir(metrics_dir):  # a previous run's values must not count in this one
        if name.endswith(".db"):
            os.remove(os.path.join(metrics_dir, name))


def child_exit(server, worker):
    """A worker ended: its live gauges (viewers connected) stop counting; its counters stay."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    owned = os.environ.get(_OWNED_METRICS_DIR)
    if owned:
        shutil.rmtree(owned, ignore_errors=True)
