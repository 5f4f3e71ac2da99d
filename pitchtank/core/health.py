"""Whether the services a request needs answer: the database and, when configured, Redis."""

from __future__ import annotations

import logging

import redis
from flask import current_app
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import text

from pitchtank.extensions import db

log = logging.getLogger(__name__)

OK, UNAVAILABLE, NOT_CONFIGURED = "ok", "unavailable", "not configured"
_REDIS_KEY = "pitchtank_health_redis"
PROBE_TIMEOUT_SECONDS = 1.0


def database_state() -> str:
    """``ok`` when the database answers ``SELECT 1``, ``unavailable`` otherwise."""
    try:
        db.session.execute(text("SELECT 1"))
        return OK
    except Exception as error:  # any failure to reach the database means "not healthy"
        log.warning("health: database unavailable: %s", getattr(error, "orig", None) or error)
        try:
            db.session.rollback()
        except Exception:  # the connection itself is gone; the pool replaces it later
            log.debug("health: rollback failed", exc_info=True)
        return UNAVAILABLE


def _redis_client(url: str) -> redis.Redis:
    # One client (and connection pool) per app and URL, answering within a second or not at all.
    clients = current_app.extensions.setdefault(_REDIS_KEY, {})
    client = clients.get(url)
    if client is None:
        client = clients[url] = redis.Redis.from_url(
            url, socket_connect_timeout=PROBE_TIMEOUT_SECONDS, socket_timeout=PROBE_TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 0))
    return client


def redis_state() -> str:
    """``ok`` when Redis answers PING, ``unavailable`` if not, ``not configured`` without REDIS_URL."""
    url = current_app.config.get("REDIS_URL")
    if not url:
        return NOT_CONFIGURED
    try:
        _redis_client(url).ping()
        return OK
    except (redis.RedisError, OSError) as error:
        log.warning("health: Redis unavailable: %s", error)
        return UNAVAILABLE
