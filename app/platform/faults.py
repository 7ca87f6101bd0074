"""Outages of the services Tessera depends on (the database, Redis): telling one from a
bug, and cleaning up after one without turning a finished response into an error.

An outage still fails closed: the request is refused, nothing is allowed "because we
could not check". It is only answered as what it is, a 503 with Retry-After that tells
the caller to try again shortly (app/web/__init__.py and app/admin/problems.py give it
each surface's shape), instead of a 500 that reads as a bug.
"""
from __future__ import annotations

import logging
import threading

import redis
from limits.errors import StorageError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

logger = logging.getLogger(__name__)

#: What a 503 tells the caller to wait: long enough for a Redis or PostgreSQL restart.
RETRY_AFTER_SECONDS = 10
#: Connect and read timeout toward Redis for the readiness check and the per-IP limits'
#: storage: an unreachable host fails the request in seconds, not after TCP's minutes.
REDIS_TIMEOUT_SECONDS = 2
#: What a customer reads when the send limits cannot be counted.
LIMITS_UNAVAILABLE_MESSAGE = "Text messages cannot be sent right now. Please try again later."


class LimitsUnavailable(Exception):
    """The send limits' counters (Redis, or the database: app/auth/send_limits.py) cannot
    be reached: do not send. An outage (`is_outage`), not a bug. `message` is safe to show."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(f"send limits unavailable: {detail}" if detail else LIMITS_UNAVAILABLE_MESSAGE)
        self.message = LIMITS_UNAVAILABLE_MESSAGE


def is_outage(error: BaseException) -> bool:
    """Whether `error` means a shared service could not be reached or lost its connection
    (Redis down, the database restarting or out of connections), not a bug.

    Redis errors come raw from redis-py (Flask-Limiter's storage, replay caches) or as
    LimitsUnavailable (the SMS and email send limits). Database errors count when the
    driver reports an operational failure (connection refused or lost, a deadlock, a
    lock timeout), when SQLAlchemy invalidated the connection, or when the pool ran dry.
    """
    if isinstance(error, (redis.RedisError, StorageError, LimitsUnavailable,
                          PoolTimeoutError, OperationalError, InterfaceError)):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def rollback_quietly(session) -> None:
    """Roll `session` back, for error handlers. On a connection that died (the database
    restarted) the rollback itself fails: then the session's connections are discarded
    (invalidated, never returned to the pool) and the failure is logged, so the handler
    can still answer. Nothing is lost: whatever was not committed was never written."""
    try:
        session.rollback()
    except SQLAlchemyError as error:
        logger.warning("rollback failed (%s); discarding the connection",
                       type(error).__name__)
        discard_connections(session)


def discard_connections(session) -> None:
    """Invalidate the session's connections without talking to the server (a dead
    connection cannot roll back); the pool opens fresh ones for the next request."""
    try:
        session.invalidate()
    except SQLAlchemyError as error:  # pragma: no cover - invalidate does not talk to the server
        logger.warning("discarding a connection failed: %s", type(error).__name__)


#: PING clients for readiness checks, one per URL per process; short timeouts so a check
#: never hangs on an unreachable host.
_ping_clients: dict[str, redis.Redis] = {}
_ping_clients_lock = threading.Lock()


def redis_urls(config) -> list[str]:
    """The Redis servers this instance depends on: the per-IP limits' storage
    (RATELIMIT_STORAGE_URI) and the send limits' counters (REDIS_URL), when set."""
    urls = [str(config.get("RATELIMIT_STORAGE_URI") or ""), str(config.get("REDIS_URL") or "")]
    return sorted({url for url in urls if url.startswith(("redis://", "rediss://"))})


def redis_reachable(url: str) -> bool:
    """Whether the Redis at `url` answers PING now."""
    with _ping_clients_lock:
        client = _ping_clients.get(url)
        if client is None:
            client = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_SECONDS,
                                          socket_connect_timeout=REDIS_TIMEOUT_SECONDS)
            _ping_clients[url] = client
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
