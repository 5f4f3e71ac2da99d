"""gunicorn settings for production: ``gunicorn -c gunicorn.conf.py wsgi:app``.

gevent workers hold a thousand long-lived leaderboard streams per process cheaply;
psycopg 3 and redis-py cooperate with gevent's monkey-patching by themselves.
"""

import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "gevent"
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "3000"))
# With gevent, the timeout only catches a worker whose event loop is stuck.
timeout = 30
graceful_timeout = 20
keepalive = 5
max_requests = 0  # streams are recycled by STREAM_MAX_SECONDS instead
accesslog = os.environ.get("ACCESS_LOG", "-") or None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
