"""Sliding-window send limits (SMS codes) that hold across app instances.

A send is *reserved* before the provider is asked to send it: `reserve()` counts one event
under every limit at once, or nothing at all when any limit is full, and `release()` takes
the events back when the send failed (a text that never left does not count). Counting
before sending is what makes the limits hold under concurrency: twenty simultaneous
requests for one number get exactly as many reservations as the limit allows, however many
app instances they reach.

Two backends, chosen by REDIS_URL:

- the database (REDIS_URL empty, the embedded default): one RateLock row per key, taken
  with an UPDATE in sorted key order (a row lock on PostgreSQL, so reservations on one key
  queue and reservations on several keys cannot deadlock; SQLite serialises writers), then
  RateEvent rows are counted inside each window and one is inserted per key, all in one
  committed transaction;
- Redis (production, several instances): one Lua script trims, checks and adds for every
  key atomically, on the Redis server's clock, so hosts with drifting clocks still agree.

Either way, keys are stored as keyed hashes of the limit's name and key: neither the table
nor Redis holds a phone number or an IP address. The database stays the record of what was
actually sent (VerificationCode.sent_at, written by the caller); these are only counters.

When the counters cannot be reached, `LimitsUnavailable` is raised: the caller refuses to
send (fail closed), because an SMS we cannot count is an SMS an attacker can repeat.
"""
from __future__ import annotations

import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import redis
from flask import current_app
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from app.extensions import db
from app.models import RateEvent, RateLock, utcnow
from app.phones.sms_policy import canonical_number, country_prefix
from app.platform.client_network import network_key
from app.platform.faults import LimitsUnavailable
from app.platform.keyed_hash import keyed_hash

#: Limit names of sms_limits(); callers map them to what they tell the customer.
SMS_NUMBER_HOUR = "sms_number_hour"
SMS_NUMBER_GAP = "sms_number_gap"
SMS_IP_HOUR = "sms_ip_hour"
SMS_PREFIX_HOUR = "sms_prefix_hour"
HOUR = 3600

#: Redis key prefixes: a sorted set of reservation ids per limit key, and per reservation
#: a set of the counter keys it was counted under (so release() knows where to look).
COUNTER_PREFIX = "tessera:send-limit:"
RESERVATION_PREFIX = "tessera:send-reservation:"
#: A short wait for Redis: a counter that does not answer fails the send closed, quickly.
REDIS_TIMEOUT_SECONDS = 2

RESERVATION_RE = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Limit:
    """At most `max_count` events under `key` in any `window_seconds`.

    `name` says which rule this is (and keeps rules on the same key apart: the gap and the
    hourly limit of one number are two counters). `key` is what is counted, a number or an
    address: it is hidden from repr, so a logged exception does not leak it.
    """

    name: str
    key: str = field(repr=False)
    window_seconds: int
    max_count: int
    #: False: the limit must have room, but this event is not counted under it (a text
    #: we do not send must not use up a budget, yet must be refused exactly as one we
    #: send would be, so the answer does not tell the two apart).
    counted: bool = True

    def __post_init__(self) -> None:
        if not self.name or not self.key:
            raise ValueError("a limit needs a name and a key")
        if int(self.window_seconds) < 1 or int(self.max_count) < 1:
            raise ValueError(f"limit {self.name}: window and maximum must be at least 1")


class LimitReached(Exception):
    """A limit is full. `limit` is the first full one (in the order given to reserve);
    `retry_at` (timezone-aware UTC, like utcnow()) is when its oldest event leaves the window."""

    def __init__(self, limit: Limit, retry_at: datetime) -> None:
        super().__init__(f"send limit {limit.name} is full until {retry_at.isoformat()}")
        self.limit = limit
        self.retry_at = retry_at


def stored_key(limit: Limit) -> str:
    """The key a limit is counted under in the table or in Redis (a keyed hash)."""
    return keyed_hash("send-limit", f"{limit.name}:{limit.key}")


def reserve(limits: list[Limit]) -> str:
    """Count one event under every limit (only check the room of those not `counted`),
    atomically, and return the reservation id.

    All or nothing: if any limit is full, nothing is counted anywhere and LimitReached
    names the first full limit. Raises LimitsUnavailable when the counters cannot be
    reached. On the database backend this commits db.session (its own transaction):
    call it before the request writes anything else. It must commit, whatever the
    request does next: the count holds across concurrent requests only once committed
    (and the key locks are held until then), and a send that then fails is taken back by
    `release`, not by a rollback. A database error rolls back, so the caller's session
    stays usable for the refusal it reports.
    """
    limits = list(limits)
    if not limits:
        raise ValueError("reserve() needs at least one limit")
    keys = [stored_key(limit) for limit in limits]
    if len(set(keys)) != len(keys):
        raise ValueError("the same limit is given twice")
    reservation = secrets.token_hex(16)
    url = str(current_app.config["REDIS_URL"] or "")
    if url:
        _redis_reserve(url, limits, keys, reservation)
    else:
        _database_reserve(limits, keys, reservation)
    return reservation


def release(reservation: str) -> None:
    """Take back every event of a reservation (the send failed, so it does not count).

    Releasing twice, or a reservation whose window has passed, does nothing. Raises
    ValueError for something that is not a reservation id, LimitsUnavailable when the
    counters cannot be reached. On the database backend this commits db.session: the
    events taken back must be gone for concurrent requests at once, and the caller is
    on a failure path that does not commit (a database error rolls back, as in
    `reserve`).
    """
    if not isinstance(reservation, str) or not RESERVATION_RE.match(reservation):
        raise ValueError("not a reservation id")
    url = str(current_app.config["REDIS_URL"] or "")
    if url:
        _redis_release(url, reservation)
    else:
        _database_release(reservation)


def sms_limits(e164: str, ip: str | None, *, delivered: bool = True,
               proved_by: str | None = None) -> list[Limit]:
    """The limits on sending one SMS to `e164` for a request from `ip`.

    Per number per hour, the gap between two sends to one number (skipped when
    SMS_MIN_SECONDS_BETWEEN_SENDS is 0), per IP per hour (skipped when `ip` is None; an
    IPv6 address counts as its /64, which one customer's router hands out whole), and per
    country calling code per hour (SMS pumping hits a country's premium ranges from many
    numbers and addresses at once). The hourly number limit comes before the gap so that
    when both are full, the customer hears the longer wait. Raises SmsNotAllowed for a
    number that is not valid.

    `delivered=False` (a code "sent" to a number without an account, which nobody texts):
    the country budget is checked but not counted, so requests for strangers' numbers
    cannot use up a calling code's budget and block everyone's SMS there.
    `proved_by`: the customer ID of a customer who has already proved a factor in this
    login (an SMS second factor): the per-number limits are counted in a bucket of their
    own, so strangers asking for codes to the number cannot lock its owner out of the
    second step.
    """
    config = current_app.config
    number = canonical_number(e164)
    if proved_by is not None:
        number = f"{number}#{proved_by}"
    limits = [Limit(SMS_NUMBER_HOUR, number, HOUR, int(config["SMS_SENDS_PER_NUMBER_PER_HOUR"]))]
    gap = int(config["SMS_MIN_SECONDS_BETWEEN_SENDS"])
    if gap > 0:
        limits.append(Limit(SMS_NUMBER_GAP, number, gap, 1))
    if ip is not None:
        limits.append(Limit(SMS_IP_HOUR, ip_key(ip), HOUR,
                            int(config["SMS_SENDS_PER_IP_PER_HOUR"])))
    limits.append(Limit(SMS_PREFIX_HOUR, country_prefix(canonical_number(e164)), HOUR,
                        int(config["SMS_SENDS_PER_PREFIX_PER_HOUR"]), counted=delivered))
    return limits


def ip_key(ip: str) -> str:
    """What an address is counted as: see app/platform/client_network.py (an IPv6 address counts
    as its /64), shared with the per-IP request limits."""
    return network_key(ip)


# ---- database backend ----------------------------------------------------------------------

def _database_reserve(limits: list[Limit], keys: list[str], reservation: str) -> None:
    now = utcnow()
    try:
        # Sorted order: two reservations sharing keys take their locks in the same order.
        for key in sorted(keys):
            _lock_key(key, now)
        for limit, key in zip(limits, keys):
            since = now - timedelta(seconds=limit.window_seconds)
            # Events that left the window are of no further use: drop them while we hold
            # the key's lock.
            db.session.execute(delete(RateEvent).where(RateEvent.key == key,
                                                       RateEvent.at <= since),
                               execution_options={"synchronize_session": False})
            count, oldest = db.session.execute(
                select(func.count(), func.min(RateEvent.at))
                .where(RateEvent.key == key, RateEvent.at > since)).one()
            if count >= limit.max_count:
                db.session.commit()  # only the clean-up: nothing was counted
                raise LimitReached(limit, oldest + timedelta(seconds=limit.window_seconds))
        rows = [{"key": key, "at": now, "reservation": reservation}
                for limit, key in zip(limits, keys) if limit.counted]
        if rows:
            db.session.execute(insert(RateEvent), rows)
        db.session.commit()
    except SQLAlchemyError as error:
        db.session.rollback()
        if isinstance(error, OperationalError):
            raise LimitsUnavailable(type(error.orig).__name__) from error
        raise


def _lock_key(key: str, now: datetime) -> None:
    """Lock the key's RateLock row until commit, creating the row the first time."""
    if _touch(key, now):
        return
    try:
        with db.session.begin_nested():
            # Until commit, this new row blocks other inserts of the key: it is a lock too.
            db.session.execute(insert(RateLock).values(key=key, touched_at=now))
    except IntegrityError:
        # Another reservation created it first (and has committed): wait for its lock.
        _touch(key, now)


def _touch(key: str, now: datetime) -> bool:
    result = db.session.execute(update(RateLock).where(RateLock.key == key)
                                .values(touched_at=now),
                                execution_options={"synchronize_session": False})
    return result.rowcount > 0


def _database_release(reservation: str) -> None:
    try:
        db.session.execute(delete(RateEvent).where(RateEvent.reservation == reservation),
                           execution_options={"synchronize_session": False})
        db.session.commit()
    except SQLAlchemyError as error:
        db.session.rollback()
        if isinstance(error, OperationalError):
            raise LimitsUnavailable(type(error.orig).__name__) from error
        raise


# ---- Redis backend -------------------------------------------------------------------------

#: KEYS[1]: the reservation's record; KEYS[2..]: one sorted set per limit.
#: ARGV[1]: the reservation id; then per limit its window (ms), maximum, and 1 if the
#: event is counted under it (0: only checked).
#: Returns {0, now} when counted, or {i, oldest score} when the i-th limit is full.
RESERVE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local longest = 0
for i = 2, #KEYS do
  local window = tonumber(ARGV[3 * i - 4])
  local maximum = tonumber(ARGV[3 * i - 3])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  if redis.call('ZCARD', KEYS[i]) >= maximum then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    return {i - 1, oldest[2]}
  end
  if window > longest then longest = window end
end
for i = 2, #KEYS do
  if ARGV[3 * i - 2] == '1' then
    redis.call('ZADD', KEYS[i], now, ARGV[1])
    redis.call('PEXPIRE', KEYS[i], ARGV[3 * i - 4])
    redis.call('SADD', KEYS[1], KEYS[i])
  end
end
redis.call('PEXPIRE', KEYS[1], longest)
return {0, tostring(now)}
"""

#: KEYS[1]: the reservation's record; ARGV[1]: the reservation id.
RELEASE_SCRIPT = """
local counters = redis.call('SMEMBERS', KEYS[1])
for _, counter in ipairs(counters) do
  redis.call('ZREM', counter, ARGV[1])
end
redis.call('DEL', KEYS[1])
return #counters
"""


@dataclass(frozen=True)
class _RedisCounters:
    client: redis.Redis
    reserve: object
    release: object


#: One client (and connection pool) per URL per process; redis-py resets pools after fork.
_redis_clients: dict[str, _RedisCounters] = {}
_redis_clients_lock = threading.Lock()


def _counters(url: str) -> _RedisCounters:
    with _redis_clients_lock:
        counters = _redis_clients.get(url)
        if counters is None:
            # One retry without backoff: enough to replace a pooled connection Redis closed
            # (a restart), short enough that a dead Redis fails the send at once.
            client = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_SECONDS,
                                          socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                                          retry=Retry(NoBackoff(), 1))
            counters = _RedisCounters(client, client.register_script(RESERVE_SCRIPT),
                                      client.register_script(RELEASE_SCRIPT))
            _redis_clients[url] = counters
    return counters


def _redis_reserve(url: str, limits: list[Limit], keys: list[str], reservation: str) -> None:
    args: list[object] = [reservation]
    for limit in limits:
        args += [int(limit.window_seconds) * 1000, int(limit.max_count),
                 1 if limit.counted else 0]
    script_keys = [RESERVATION_PREFIX + reservation] + [COUNTER_PREFIX + key for key in keys]
    try:
        full, score = _counters(url).reserve(keys=script_keys, args=args)
    except redis.RedisError as error:
        current_app.logger.warning("send limits: Redis failed: %s", type(error).__name__)
        raise LimitsUnavailable(type(error).__name__) from error
    if int(full):
        limit = limits[int(full) - 1]
        oldest_ms = int(float(score))
        raise LimitReached(limit, _from_ms(oldest_ms + int(limit.window_seconds) * 1000))


def _redis_release(url: str, reservation: str) -> None:
    try:
        _counters(url).release(keys=[RESERVATION_PREFIX + reservation], args=[reservation])
    except redis.RedisError as error:
        current_app.logger.warning("send limits: Redis failed: %s", type(error).__name__)
        raise LimitsUnavailable(type(error).__name__) from error


def _from_ms(milliseconds: int) -> datetime:
    """A Redis time in milliseconds as an aware UTC datetime (exact, no float rounding)."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=milliseconds)
