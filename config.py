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
    # Live events travel on Redis channels named with this prefix; pub/sub ignores database
    # numbers, so deployments sharing one Redis server need different prefixes.
    LIVE_CHANNEL_PREFIX = os.environ.get("LIVE_CHANNEL_PREFIX") or "pitchtank:live:"

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

    PASSWORD_HASH_METHOD = "scrypt"  # noqa: S105  # nosec B105 # a method name, not a secret
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT") or "10 per minute"
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_STORAGE_URI = REDIS_URL or "memory://"
    # A Redis outage must not fail logins: each process counts in memory until Redis answers.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_STORAGE_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 1} if REDIS_URL else {}
    # Account lock-out, per email address and shared by every worker (on top of LOGIN_RATE_LIMIT):
    # after this many failed logins in a row the address is locked for LOGIN_LOCKOUT_SECONDS,
    # doubling with each further lock up to the cap; a success (or a day of quiet) starts afresh.
    LOGIN_LOCKOUT_THRESHOLD = 5
    LOGIN_LOCKOUT_SECONDS = 60
    LOGIN_LOCKOUT_MAX_SECONDS = 3600
    LOGIN_LOCKOUT_FORGET_SECONDS = 24 * 3600
    INVITATION_TTL_HOURS = 72
    # "Forgot password" per email address and per caller; resending the confirmation link per account.
    PASSWORD_RESET_RATE_LIMIT = "5 per hour"  # noqa: S105  # nosec B105 # a rate, not a secret
    PASSWORD_RESET_RATE_LIMIT_PER_ADDRESS = "30 per hour"  # noqa: S105  # nosec B105 # a rate, not a secret
    VERIFICATION_RESEND_RATE_LIMIT = "3 per hour"
    DEMO_ALLOWED = True
    # Streams end after this long and the browser reconnects, recycling worker connections.
    STREAM_MAX_SECONDS = 300
    # A stream waits this long for the Redis listener; if it is still down, 503 (screens poll).
    STREAM_READY_SECONDS = 1.0
    # While scores pour in, leaderboard readers may get standings this many seconds old.
    LEADERBOARD_MAX_STALENESS = 0.25
    # A session's public JSON is rebuilt at most this often for an unchanged state version
    # (phase, scoring, judges and rubric changes bump it and show at once).
    SESSION_READ_MAX_STALENESS = 2.0
    # A worker keeps a user (and a bearer token's owner) this long before reading it again;
    # changes apply at once: in the same worker, and in every other one through REDIS_URL (a
    # worker whose Redis listener is down reads the database every time); see
    # pitchtank/accounts/auth_loader.py.
    AUTH_CACHE_SECONDS = float(os.environ.get("AUTH_CACHE_SECONDS", "10"))

    STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY") or None
    STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET") or None
    STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE") or None
    # A charge that Stripe has not answered within this many seconds stays pending and is
    # retried with the same idempotency key; the client also retries connection errors itself.
    STRIPE_TIMEOUT_SECONDS = float(os.environ.get("STRIPE_TIMEOUT_SECONDS") or 20)
    STRIPE_MAX_NETWORK_RETRIES = int(os.environ.get("STRIPE_MAX_NETWORK_RETRIES") or 2)

    # The privacy notice (aviso de privacidad, LFPDPPP): who is responsible and where people
    # send their ARCO requests.
    PRIVACY_CONTROLLER = os.environ.get("PRIVACY_CONTROLLER") or "Clúster de Tecnologías de la Información de Guanajuato"
    PRIVACY_CONTROLLER_ADDRESS = os.environ.get("PRIVACY_CONTROLLER_ADDRESS") or "León, Guanajuato, México"
    PRIVACY_CONTACT_EMAIL = os.environ.get("PRIVACY_CONTACT_EMAIL") or "privacidad@pitchtank.mx"
    PRIVACY_NOTICE_UPDATED = "2026-11-25"  # the date the notice's text last changed

    # Email (pitchtank/notices): "console" prints messages, "smtp" sends them via MAIL_SERVER.
    PUBLIC_URL = os.environ.get("PUBLIC_URL", "http://127.0.0.1:5000")  # links in emails
    MAIL_BACKEND = os.environ.get("MAIL_BACKEND", "console")
    MAIL_SERVER = os.environ.get("MAIL_SERVER") or None
    MAIL_PORT = int(os.environ.get("MAIL_PORT", "587"))
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME") or None
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD") or None
    MAIL_USE_TLS = os.environ.get("MAIL_USE_TLS", "1") not in ("0", "false", "False", "")  # STARTTLS
    MAIL_USE_SSL = os.environ.get("MAIL_USE_SSL", "0") not in ("0", "false", "False", "")  # implicit TLS (465)
    MAIL_TIMEOUT = 20
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "PitchTank <no-reply@pitchtank.mx>")
    MAIL_DELIVER_AFTER_COMMIT_SYNC = False  # True: the request waits for the mail server (tests only)
    MAIL_MAX_ATTEMPTS = 10
    MAIL_RETRY_BASE_SECONDS = 60
    MAIL_RETRY_MAX_SECONDS = 6 * 3600
    MAIL_OPPORTUNISTIC_RETRIES = 5

    # Operations (README "Operations"): logs, the access log, who may read /metrics.
    LOG_FORMAT = os.environ.get("LOG_FORMAT") or "text"  # "json" or "text"
    LOG_LEVEL = os.environ.get("LOG_LEVEL") or "INFO"
    ACCESS_LOG = os.environ.get("ACCESS_LOG", "on").lower() not in ("", "0", "off", "false", "no")
    METRICS_TOKEN = os.environ.get("METRICS_TOKEN") or None
    METRICS_ALLOWED_NETWORKS = os.environ.get("METRICS_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
    # Seconds a client is told to wait (Retry-After) when the database is briefly unreachable.
    DATABASE_RETRY_AFTER = 5

    @classmethod
    def validate(cls) -> None:
        """Refuse configurations that must never run."""


class DevelopmentConfig(Config):
    DEBUG = False
    SECRET_KEY = Config.SECRET_KEY or "development-only-not-secret"


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "testing-only-not-secret"  # noqa: S105  # nosec B105 # the test configuration only
    SQLALCHEMY_DATABASE_URI = _database_url("sqlite://")
    # Hashing stays scrypt; a lower work factor keeps hundreds of test logins fast.
    PASSWORD_HASH_METHOD = "scrypt:1024:8:1"  # noqa: S105  # nosec B105 # a method name, not a secret
    LOGIN_RATE_LIMIT = "1000 per minute"
    # The tests' limiter.reset() deletes every key under the storage prefix: a prefix of this
    # process's own keeps test runs sharing one Redis from wiping each other's counts.
    RATELIMIT_STORAGE_OPTIONS = {**Config.RATELIMIT_STORAGE_OPTIONS, "key_prefix": f"LIMITS-test-{os.getpid()}"}
    # Test runs (and benchmarks) on one machine share its Redis; ids restart in every run.
    LIVE_CHANNEL_PREFIX = f"pitchtank-test-{os.getpid()}:live:"
    # Tests read their own writes at once; staleness is covered by its own unit test.
    LEADERBOARD_MAX_STALENESS = 0.0
    SESSION_READ_MAX_STALENESS = 0.0
    # Tests send to a real SMTP server on 127.0.0.1 (tests/conftest.py sets its port) and read
    # what arrived as soon as the request returns.
    PUBLIC_URL = "http://pitchtank.test"
    MAIL_BACKEND = "smtp"
    MAIL_SERVER = "127.0.0.1"
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_USERNAME = None
    MAIL_TIMEOUT = 5
    MAIL_DELIVER_AFTER_COMMIT_SYNC = True


class ProductionConfig(Config):
    DEMO_ALLOWED = False
    LOG_FORMAT = os.environ.get("LOG_FORMAT") or "json"
    MAIL_BACKEND = os.environ.get("MAIL_BACKEND", "smtp")
    # gevent workers run many requests per process; give them enough pooled connections.
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "pool_size": 20, "max_overflow": 20, "pool_timeout": 10}
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"
    PUBLIC_URL = os.environ.get("PUBLIC_URL") or None  # no default: emailed links must reach the real site

    @classmethod
    def validate(cls) -> None:
        if not cls.SECRET_KEY:
            raise RuntimeError("SECRET_KEY must be set in production (PITCHTANK_CONFIG=production).")
        if not cls.PUBLIC_URL:
            raise RuntimeError("PUBLIC_URL (e.g. https://pitchtank.example.mx) must be set in production: "
                               "every link in an email is built from it.")


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
