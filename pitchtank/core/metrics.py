"""Prometheus metrics: request latency by endpoint, scores stored, live viewers, stream events.

Under gunicorn each worker is its own process: with ``PROMETHEUS_MULTIPROC_DIR`` set (see
gunicorn.conf.py, which sets it before any worker imports this module) the values live in
files in that directory and ``/metrics`` adds up every worker's.
"""

from __future__ import annotations

import hmac
import ipaddress
import os

from flask import Flask, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

REQUEST_LATENCY = Histogram(
    "pitchtank_http_request_duration_seconds",
    "Time from receiving a request to its response being ready (for streams: to the first byte), "
    "by Flask endpoint, method and status.",
    ["endpoint", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
SCORES_STORED = Counter(
    "pitchtank_scores_stored",
    "Judges' score sheet writes committed to the database (resends that change nothing not counted).",
)
LIVE_VIEWERS = Gauge(
    "pitchtank_live_viewers",
    "Live event streams (leaderboard and pitch screens) open right now.",
    multiprocess_mode="livesum",
)
STREAM_EVENTS_SENT = Counter(
    "pitchtank_stream_events_sent",
    "Server-sent events written to live viewers (heartbeats not counted), by event type.",
    ["event"],
)

LOOPBACK = "127.0.0.0/8,::1/128"
_NETWORKS_KEY = "pitchtank_metrics_networks"


def observe_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    REQUEST_LATENCY.labels(endpoint, method, str(status)).observe(seconds)


def parse_networks(spec: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``"10.0.0.0/8, ::1"`` as networks; raises RuntimeError naming a malformed entry."""
    networks = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise RuntimeError(f"METRICS_ALLOWED_NETWORKS: {part!r} is not an address or network.") from None
    return tuple(networks)


def _addresses_of_request() -> list[str]:
    """The peer that connected and, behind a proxy, the client it forwarded for: both must be
    allowed, so neither a forged X-Forwarded-For nor a public client relayed by a local proxy
    gets in."""
    addresses = [request.remote_addr or ""]
    original = request.environ.get("werkzeug.proxy_fix.orig", {}).get("REMOTE_ADDR")
    if original is not None:
        addresses.append(original)
    return addresses


def may_read_metrics(app: Flask) -> bool:
    """A bearer token equal to ``METRICS_TOKEN``, or a request from an allowed network."""
    token = app.config.get("METRICS_TOKEN")
    from pitchtank.accounts.auth_loader import bearer_token

    given = bearer_token()
    if token and given and hmac.compare_digest(given.encode(), token.encode()):
        return True
    networks = app.extensions[_NETWORKS_KEY]
    for address in _addresses_of_request():
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if not any(ip in network for network in networks):
            return False
    return bool(networks)


def exposition() -> tuple[bytes, str]:
    """The metrics text: every worker's, added up, when running multi-process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def init_app(app: Flask) -> None:
    app.extensions[_NETWORKS_KEY] = parse_networks(app.config.get("METRICS_ALLOWED_NETWORKS", LOOPBACK))
