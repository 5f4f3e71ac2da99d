"""How a request is tied to a user: the login session cookie or a bearer token.

Both are answered from a short-lived per-process cache (``AUTH_CACHE_SECONDS``), so that a
judge's tablet writing scores back to back does not load the same user and roles from the
database on every request. Any change to a user, their roles or their tokens made through the
ORM empties the cache for that user as soon as it commits: in this process at once, and, with
``REDIS_URL`` set, in every other worker and server through the live Redis channel
``auth:users`` (each process's live listener receives it), so a revoked token, a changed
password, a locked or deleted account or a removed role is refused everywhere at once.

The cache fails closed: with Redis, a process serves cached logins only while its listener is
subscribed, and empties the cache whenever the listener reconnects (what was published while
it was away is lost). While Redis is unreachable, every request reads the database. A connection
that drops silently is noticed by the listener's PING within ``RedisBridge.ping_seconds``; a
change made outside the ORM (plain SQL) is seen after at most ``AUTH_CACHE_SECONDS``. The
scoring rules, which re-check the judge role and the account in the database on every score,
do not depend on this cache.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from flask import Flask, current_app, has_app_context, request
from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session, joinedload, make_transient_to_detached, object_session
from sqlalchemy.orm.attributes import set_committed_value

from pitchtank import live
from pitchtank.accounts.models import ApiToken, User, UserRole, hash_token
from pitchtank.core.types import utcnow
from pitchtank.extensions import db, login_manager

logger = logging.getLogger(__name__)

_CHANGED_USERS_KEY = "pitchtank_auth_changed_users"
_EVERYONE = -1
# The live channel on which every process announces the users whose cached logins are stale.
INVALIDATION_CHANNEL = "auth:users"
# A bulk change of more users than this is announced as "everyone".
_MAX_ANNOUNCED_USERS = 1000


@dataclass(frozen=True, slots=True)
class _TokenEntry:
    user_id: int
    expires_at: datetime
    cached_at: float


def _detached_copy(obj):
    """A detached copy of a loaded row (columns only), safe to share between sessions."""
    mapper = inspect(type(obj))
    copy = mapper.class_manager.new_instance()
    for attribute in mapper.column_attrs:
        set_committed_value(copy, attribute.key, getattr(obj, attribute.key))
    return copy


def _snapshot(user: User) -> User:
    copy = _detached_copy(user)
    grants = [_detached_copy(grant) for grant in user.role_grants]
    for grant in grants:
        make_transient_to_detached(grant)
    set_committed_value(copy, "role_grants", grants)
    make_transient_to_detached(copy)
    return copy


class AuthCache:
    """Token hash -> user id, and user id -> a detached snapshot of the user with its roles."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, _TokenEntry] = {}
        self._users: dict[int, tuple[User, float]] = {}
        # Bumped by every invalidation: a snapshot read before it is not stored after it.
        self.generation = 0
        # The live delivery epoch the entries were kept under (see ``follow``).
        self.epoch: int | None = None

    def token(self, digest: str, ttl: float) -> _TokenEntry | None:
        entry = self._tokens.get(digest)
        if entry is None or time.monotonic() - entry.cached_at >= ttl:
            return None
        return entry

    def user(self, user_id: int, ttl: float) -> User | None:
        cached = self._users.get(user_id)
        if cached is None or time.monotonic() - cached[1] >= ttl:
            return None
        return cached[0]

    def put(self, generation: int, user: User, token: tuple[str, datetime] | None = None) -> None:
        snapshot = _snapshot(user)
        now = time.monotonic()
        with self._lock:
            if generation != self.generation:
                return  # the user may have changed while it was read
            if len(self._users) > 10_000:
                self._users.clear()
                self._tokens.clear()
            self._users[user.id] = (snapshot, now)
            if token is not None:
                self._tokens[token[0]] = _TokenEntry(user.id, token[1], now)

    def forget_users(self, user_ids: set[int]) -> None:
        with self._lock:
            self.generation += 1
            for user_id in user_ids:
                self._users.pop(user_id, None)
            for digest in [d for d, entry in self._tokens.items() if entry.user_id in user_ids]:
                del self._tokens[digest]

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._users.clear()
            self._tokens.clear()

    def follow(self, epoch: int) -> None:
        """Empty the cache if invalidations may have been missed since it was filled, i.e.
        when the live delivery epoch (``LiveBroker.delivery_epoch``) has changed."""
        if epoch == self.epoch:
            return
        with self._lock:
            if epoch != self.epoch:
                self.generation += 1
                self._users.clear()
                self._tokens.clear()
                self.epoch = epoch


cache = AuthCache()


def _ttl() -> float:
    """How long a cached login may be served now: 0 (read the database, store nothing) while
    other processes' invalidations could be missed."""
    ttl = current_app.config.get("AUTH_CACHE_SECONDS", 0)
    if ttl <= 0:
        return 0
    broker = current_app.extensions.get(live.EXTENSION_KEY)
    epoch = broker.delivery_epoch() if broker is not None else 0
    if epoch is None:
        return 0  # fail closed: the Redis listener is down or not subscribed yet
    cache.follow(epoch)
    return ttl


def _attached(snapshot: User) -> User:
    """The cached user in this request's session, without a query."""
    return db.session.merge(snapshot, load=False)


def _user_with_roles(user_id: int) -> User | None:
    return db.session.get(User, user_id)


@login_manager.user_loader
def load_user_from_session(session_id: str) -> User | None:
    user_id, _, version = session_id.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    ttl = _ttl()
    snapshot = cache.user(int(user_id), ttl) if ttl > 0 else None
    if snapshot is not None:
        return _attached(snapshot) if snapshot.session_version == int(version) else None
    generation = cache.generation
    user = _user_with_roles(int(user_id))
    if user is None or user.session_version != int(version):
        return None
    if ttl > 0:
        cache.put(generation, user)
    return user


@login_manager.request_loader
def load_user_from_bearer_token(req) -> User | None:
    token = bearer_token()
    if not token:
        return None
    return token_user(token)


def token_user(token: str) -> User | None:
    """The active user a valid bearer token belongs to (cached), or None."""
    user = _token_owner(token)
    return user if user is not None and user.is_active else None


def token_is_valid(token: str) -> bool:
    """Whether a bearer token is known, unrevoked and unexpired (cached like ``token_user``)."""
    ttl = _ttl()
    entry = cache.token(hash_token(token), ttl) if ttl > 0 else None
    if entry is not None and entry.expires_at > utcnow():
        return True
    return _token_owner(token) is not None


def _token_owner(token: str) -> User | None:
    """The user of a known, unrevoked, unexpired token, active or not: from the cache, or one
    database read that then fills the cache."""
    ttl = _ttl()
    digest = hash_token(token)
    entry = cache.token(digest, ttl) if ttl > 0 else None
    if entry is not None and entry.expires_at > utcnow():
        snapshot = cache.user(entry.user_id, ttl)
        if snapshot is not None:
            return _attached(snapshot)
    generation = cache.generation
    api_token = token_record(token)
    if api_token is None:
        return None
    if ttl > 0:
        cache.put(generation, api_token.user, (digest, api_token.expires_at))
    return api_token.user


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme == "Bearer" else None


def token_record(token: str) -> ApiToken | None:
    """The stored token, read from the database (never cached: revoking needs the row)."""
    api_token = db.session.scalar(
        select(ApiToken).options(joinedload(ApiToken.user)).where(ApiToken.token_hash == hash_token(token))
    )
    if api_token is None or api_token.revoked_at is not None or api_token.expires_at <= utcnow():
        return None
    return api_token


def _note_user(target, user_id: int | None) -> None:
    session = object_session(target)
    if session is not None and user_id is not None:
        session.info.setdefault(_CHANGED_USERS_KEY, set()).add(user_id)


def _on_user_row(mapper, connection, target) -> None:
    _note_user(target, target.id)


def _on_owned_row(mapper, connection, target) -> None:
    # Row-level events see every row a flush writes, roles dropped as orphans included.
    history = inspect(target).attrs.user_id.history
    for user_id in {*history.added, *history.unchanged, *history.deleted}:
        _note_user(target, user_id)


for _name in ("after_update", "after_delete"):
    event.listen(User, _name, _on_user_row)
    event.listen(ApiToken, _name, _on_owned_row)
for _name in ("after_insert", "after_update", "after_delete"):
    event.listen(UserRole, _name, _on_owned_row)


@event.listens_for(Session, "do_orm_execute")
def _note_bulk_changes(orm_execute_state) -> None:
    # A bulk UPDATE or DELETE writes rows without row events: forget every cached user.
    if (orm_execute_state.is_update or orm_execute_state.is_delete) and orm_execute_state.bind_mapper is not None \
            and orm_execute_state.bind_mapper.class_ in (User, ApiToken, UserRole):
        orm_execute_state.session.info.setdefault(_CHANGED_USERS_KEY, set()).add(_EVERYONE)


@event.listens_for(Session, "after_commit")
def _forget_changed_users(session: Session) -> None:
    changed = session.info.pop(_CHANGED_USERS_KEY, None)
    if not changed:
        return
    if _EVERYONE in changed:
        cache.clear()
    else:
        cache.forget_users(changed)
    _announce(changed)


def _announce(changed: set[int]) -> None:
    """Tell every other process (through Redis) to forget ``changed``; before the response."""
    if not has_app_context():
        return
    broker = current_app.extensions.get(live.EXTENSION_KEY)
    if broker is None or broker.bridge is None:
        return  # one process: forgotten above
    everyone = _EVERYONE in changed or len(changed) > _MAX_ANNOUNCED_USERS
    users = "all" if everyone else sorted(changed)
    if not broker.publish(INVALIDATION_CHANNEL, live.Message("forget", 0, {"users": users})):
        # Redis is unreachable for this process: the others' listeners lose it as well, and a
        # process whose listener is down serves no cached login (see ``_ttl``).
        logger.warning("auth: could not announce %s changed user(s) to other processes",
                       "all" if everyone else len(changed))


def forget_announced(message: live.Message) -> None:
    """Another process (or this one) changed these users: forget them (on the listener thread)."""
    users = message.data.get("users")
    if users == "all":
        cache.clear()
    elif isinstance(users, list) and all(type(user_id) is int for user_id in users):
        cache.forget_users(set(users))
    else:
        logger.warning("auth: malformed invalidation on %s, forgetting every cached login", INVALIDATION_CHANNEL)
        cache.clear()


@event.listens_for(Session, "after_soft_rollback")
def _drop_notes_on_rollback(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_CHANGED_USERS_KEY, None)


def init_app(app: Flask) -> None:
    app.extensions[live.EXTENSION_KEY].listen(INVALIDATION_CHANNEL, forget_announced)
    login_manager.login_view = "accounts.login"
    login_manager.session_protection = "basic"
    from pitchtank.core.authz import enforce_second_factor

    app.before_request(enforce_second_factor)
