"""Configuration classes, selected by ``PITCHTANK_CONFIG``; values come from the environment."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"


def _database_url(default: str) -> str:
    url = os.environ.get("DATABASE_URL", default)
    # Hosting platforms hand out postgres:// URLs; SQLAlchemy needs the driver named.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = _database_url(f"sqlite:///{INSTANCE_DIR / 'pitchtank.sqlite3'}")
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    REDIS_URL = os.environ.get("REDIS_URL") or None

    BABEL_DEFAULT_LOCALE = "es_MX"
    BABEL_DEFAULT_TIMEZONE = "America/Mexico_City"
    LANGUAGES = ("es_MX", "en")
    CURRENCY = "MXN"

    WTF_CSRF_TIME_LIMIT = None  # a judge's tablet page stays open for a whole session
    # CSRF is enforced in one before_request hook so that bearer-token API calls can skip it.
    WTF_CSRF_CHECK_DEFAULT = False

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"

    MAX_CONTENT_LENGTH = 11 * 1024 * 1024  # a 10 MB deck plus the form around it
    DECK_STORAGE_DIR = os.environ.get("DECK_STORAGE_DIR", str(INSTANCE_DIR / "decks"))

    PASSWORD_HASH_METHOD = "scrypt"  # noqa: S105 (a method name, not a secret)
    LOGIN_RATE_LIMIT = "10 per minute"
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_STORAGE_URI = REDIS_URL or "memory://"
    INVITATION_TTL_HOURS = 72
    DEMO_ALLOWED = True
    # Streams end after this long and the browser reconnects, recycling worker connections.
    STREAM_MAX_SECONDS = 300
    # While scores pour in, leaderboard readers may get standings this many seconds old.
    LEADERBOARD_MAX_STALENESS = 0.25

    STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY") or None
    STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET") or None
    STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE") or None

    @classmethod
    def validate(cls) -> None:
        """Refuse configurations that must never run."""


class DevelopmentConfig(Config):
    DEBUG = False
    SECRET_KEY = Config.SECRET_KEY or "development-only-not-secret"


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "testing-only-not-secret"  # noqa: S105
    SQLALCHEMY_DATABASE_URI = _database_url("sqlite://")
    # Hashing stays scrypt; a lower work factor keeps hundreds of test logins fast.
    PASSWORD_HASH_METHOD = "scrypt:1024:8:1"  # noqa: S105
    LOGIN_RATE_LIMIT = "1000 per minute"
    # Tests read their own writes at once; staleness is covered by its own unit test.
    LEADERBOARD_MAX_STALENESS = 0.0


class ProductionConfig(Config):
    DEMO_ALLOWED = False
    # gevent workers run many requests per process; give them enough pooled connections.
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "pool_size": 20, "max_overflow": 20, "pool_timeout": 10}
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"

    @classmethod
    def validate(cls) -> None:
        if not cls.SECRET_KEY:
            raise RuntimeError("SECRET_KEY must be set in production (PITCHTANK_CONFIG=production).")


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_from_environment() -> type[Config]:
    name = os.environ.get("PITCHTANK_CONFIG", "development")
    try:
        return CONFIGS[name]
    except KeyError:
        raise RuntimeError(
            f"PITCHTANK_CONFIG={name!r} is not one of {', '.join(CONFIGS)}."
        ) from None
