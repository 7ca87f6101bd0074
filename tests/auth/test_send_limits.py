"""SMS send limits: sliding windows that hold under concurrency and across app instances.

Every test that takes `backend` runs on both counter backends (the database, and a real
redis-server) and on both databases (SQLite and PostgreSQL).

Time: on the database backend the app's clock is frozen with time-machine and moved on.
The Redis backend counts on the Redis server's clock, which time-machine cannot move, so
there time passes by ageing every stored score by the same amount (what the server would
see had that much time gone by); the windows, their edges and `retry_at` are then checked
against bounds read from the server's clock before and after each reservation. No test
sleeps.
"""
import threading
from datetime import UTC, datetime, timedelta

import pytest
import redis
import time_machine
from sqlalchemy import func, select

from app.auth.send_limits import (COUNTER_PREFIX, SMS_IP_HOUR, SMS_NUMBER_GAP, SMS_NUMBER_HOUR,
                                  SMS_PREFIX_HOUR, Limit, LimitReached, ip_key, release, reserve,
                                  sms_limits, stored_key)
from app.extensions import db
from app.models import RateEvent, RateLock, utcnow
from app.phones.sms_policy import SmsNotAllowed
from app.platform.faults import LimitsUnavailable
from app.platform.keyed_hash import keyed_hash
from tests.postgres import free_port

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NUMBER = "+447400123456"
OTHER_NUMBER = "+447400123451"
GB_NUMBERS = ["+447400123451", "+447400123452", "+447400123453", "+447400123454"]
DE_NUMBER = "+4915123456789"
IP = "203.0.113.7"
HOUR = timedelta(hours=1)


class DatabaseClock:
    """The app's clock, frozen by time-machine and moved on by the test."""

    def __init__(self) -> None:
        self.traveller = time_machine.travel(START, tick=False)
        self.machine = self.traveller.start()

    def now(self) -> datetime:
        return utcnow()

    def advance(self, seconds: float) -> None:
        self.machine.shift(timedelta(seconds=seconds))

    def virtual(self, moment: datetime) -> datetime:
        return moment

    def stop(self) -> None:
        self.traveller.stop()


class RedisClock:
    """The Redis server's clock (in whole milliseconds, as the script counts), moved on by
    ageing every counter's scores; `virtual` maps a time the server reports onto it."""

    def __init__(self, url: str) -> None:
        self.store = redis.Redis.from_url(url)
        self.offset = timedelta(0)

    def now(self) -> datetime:
        seconds, microseconds = self.store.time()
        real = datetime.fromtimestamp(seconds, UTC) + timedelta(
            milliseconds=microseconds // 1000)
        return real + self.offset

    def advance(self, seconds: float) -> None:
        milliseconds = round(seconds * 1000)
        for key in self.store.scan_iter(match=COUNTER_PREFIX + "*"):
            entries = self.store.zrange(key, 0, -1, withscores=True)
            if entries:
                self.store.zadd(key, {member: score - milliseconds for member, score in entries})
        self.offset += timedelta(milliseconds=milliseconds)

    def virtual(self, moment: datetime) -> datetime:
        return moment + self.offset

    def stop(self) -> None:
        self.store.close()


class Backend:
    """Builds apps on one counter backend (`name`) and gives the test its clock."""

    def __init__(self, name: str, make_app, redis_url: str | None) -> None:
        self.name = name
        self.make_app = make_app
        self.redis_url = redis_url
        self._clock = None

    def app(self, **settings):
        if self.redis_url:
            settings["REDIS_URL"] = self.redis_url
        return self.make_app(**settings)

    def clock(self):
        if self._clock is None:
            self._clock = RedisClock(self.redis_url) if self.redis_url else DatabaseClock()
        return self._clock


@pytest.fixture(params=["database", "redis"])
def backend(request, make_app):
    redis_url = None
    if request.param == "redis":
        redis_url = request.getfixturevalue("redis_url")
        redis.Redis.from_url(redis_url).flushdb()
    chosen = Backend(request.param, make_app, redis_url)
    yield chosen
    if chosen._clock is not None:
        chosen._clock.stop()


def reserve_at(clock, limits) -> tuple[datetime, datetime]:
    """Reserve; return bounds of the moment the reservation was counted at."""
    low = clock.now()
    reserve(limits)
    high = clock.now()
    return low, high


def refusal(limits) -> LimitReached:
    with pytest.raises(LimitReached) as caught:
        reserve(limits)
    return caught.value


def assert_retry_at(clock, error: LimitReached, bounds: tuple[datetime, datetime],
                    window: timedelta) -> None:
    """retry_at is the first counted moment plus the window (exact on the database)."""
    low, high = bounds
    assert low + window <= clock.virtual(error.retry_at) <= high + window
    assert error.retry_at.tzinfo is not None


# ---- each limit ----------------------------------------------------------------------------

def test_gap_between_sends_to_one_number(backend):
    app = backend.app()
    assert app.config["SMS_MIN_SECONDS_BETWEEN_SENDS"] == 30
    with app.app_context():
        clock = backend.clock()
        first = reserve_at(clock, sms_limits(NUMBER, IP))
        error = refusal(sms_limits(NUMBER, IP))
        assert error.limit.name == SMS_NUMBER_GAP
        assert_retry_at(clock, error, first, timedelta(seconds=30))
        # Another number from the same address is not held up by this number's gap.
        reserve(sms_limits(OTHER_NUMBER, IP))
        clock.advance(25)
        assert refusal(sms_limits(NUMBER, IP)).limit.name == SMS_NUMBER_GAP
        clock.advance(5)
        second = reserve_at(clock, sms_limits(NUMBER, IP))
        error = refusal(sms_limits(NUMBER, IP))
        assert error.limit.name == SMS_NUMBER_GAP
        assert_retry_at(clock, error, second, timedelta(seconds=30))


def test_sixth_send_to_a_number_in_an_hour_waits_for_the_first_to_age_out(backend):
    app = backend.app()
    with app.app_context():
        clock = backend.clock()
        sends = [reserve_at(clock, sms_limits(NUMBER, IP))]
        for _ in range(4):
            clock.advance(30)
            sends.append(reserve_at(clock, sms_limits(NUMBER, IP)))
        clock.advance(30)
        error = refusal(sms_limits(NUMBER, IP))
        assert (error.limit.name, error.limit.max_count) == (SMS_NUMBER_HOUR, 5)
        assert_retry_at(clock, error, sends[0], HOUR)
        clock.advance(3600 - 150 - 5)
        assert refusal(sms_limits(NUMBER, IP)).limit.name == SMS_NUMBER_HOUR
        clock.advance(5)
        reserve(sms_limits(NUMBER, IP))
        # The gap and the hour are both full now; the hour comes first, so the customer
        # hears when the second send of the hour ages out.
        error = refusal(sms_limits(NUMBER, IP))
        assert error.limit.name == SMS_NUMBER_HOUR
        assert_retry_at(clock, error, sends[1], HOUR)


def test_sends_per_ip_per_hour(backend):
    app = backend.app(SMS_SENDS_PER_IP_PER_HOUR=3)
    with app.app_context():
        clock = backend.clock()
        first = reserve_at(clock, sms_limits(GB_NUMBERS[0], IP))
        for number in GB_NUMBERS[1:3]:
            reserve(sms_limits(number, IP))
        error = refusal(sms_limits(GB_NUMBERS[3], IP))
        assert (error.limit.name, error.limit.max_count) == (SMS_IP_HOUR, 3)
        assert_retry_at(clock, error, first, HOUR)
        # Another address, or a send with no address known, is not held up.
        reserve(sms_limits(GB_NUMBERS[3], "198.51.100.1"))
        reserve(sms_limits(DE_NUMBER, None))


def test_ipv6_addresses_count_per_64(backend):
    app = backend.app(SMS_SENDS_PER_IP_PER_HOUR=2)
    with app.app_context():
        reserve(sms_limits(GB_NUMBERS[0], "2001:db8:1:2::1"))
        reserve(sms_limits(GB_NUMBERS[1], "2001:db8:1:2:ffff:ffff:ffff:fffe"))
        assert refusal(sms_limits(GB_NUMBERS[2], "2001:db8:1:2::99")).limit.name == SMS_IP_HOUR
        reserve(sms_limits(GB_NUMBERS[2], "2001:db8:1:3::1"))


def test_sends_per_country_prefix_per_hour(backend):
    app = backend.app(SMS_SENDS_PER_PREFIX_PER_HOUR=3)
    with app.app_context():
        clock = backend.clock()
        first = reserve_at(clock, sms_limits(GB_NUMBERS[0], "198.51.100.1"))
        reserve(sms_limits(GB_NUMBERS[1], "198.51.100.2"))
        reserve(sms_limits(GB_NUMBERS[2], None))
        error = refusal(sms_limits(GB_NUMBERS[3], "198.51.100.4"))
        assert (error.limit.name, error.limit.key, error.limit.max_count) == (
            SMS_PREFIX_HOUR, "44", 3)
        assert_retry_at(clock, error, first, HOUR)
        reserve(sms_limits(DE_NUMBER, "198.51.100.4"))


def test_undelivered_codes_check_the_country_budget_but_never_use_it(backend):
    """Issue 12, item 5: requests for numbers nobody texts (no account) are refused by a
    full budget like any other, but cannot fill it."""
    app = backend.app(SMS_SENDS_PER_PREFIX_PER_HOUR=2, SMS_SENDS_PER_IP_PER_HOUR=100)
    with app.app_context():
        for number in GB_NUMBERS:  # more strangers than the budget holds
            reserve(sms_limits(number, IP, delivered=False))
        reserve(sms_limits(NUMBER, IP))  # a real send still has room
        reserve(sms_limits("+447400123458", "198.51.100.9"))
        for delivered in (True, False):  # now full: refused either way, alike
            error = refusal(sms_limits("+447400123459", "198.51.100.8", delivered=delivered))
            assert error.limit.name == SMS_PREFIX_HOUR


def test_a_second_factor_has_its_own_per_number_budget(backend):
    """Issue 12, item 5: strangers who fill a number's hourly limit do not stop its owner,
    who has proved their password, from receiving the second-factor code."""
    app = backend.app(SMS_MIN_SECONDS_BETWEEN_SENDS=0, SMS_SENDS_PER_IP_PER_HOUR=100)
    with app.app_context():
        for _ in range(5):
            reserve(sms_limits(NUMBER, "198.51.100.1", delivered=False))
        assert refusal(sms_limits(NUMBER, IP)).limit.name == SMS_NUMBER_HOUR
        reserve(sms_limits(NUMBER, IP, proved_by="7K3M9Q2PXW4DH"))
        # ... and that bucket is the customer's own: it does not open the shared one.
        assert refusal(sms_limits(NUMBER, IP)).limit.name == SMS_NUMBER_HOUR


# ---- all or nothing, release -----------------------------------------------------------------

def test_a_refused_reservation_counts_nothing_under_any_key(backend):
    app = backend.app()
    wide = Limit("test_wide", "key-a", 3600, 2)
    narrow = Limit("test_narrow", "key-b", 3600, 1)
    other = Limit("test_other", "key-c", 60, 3)
    with app.app_context():
        reserve([narrow])
        for _ in range(5):
            assert refusal([wide, other, narrow]).limit == narrow
        # Had the refusals counted anything, fewer than these would fit.
        reserve([wide])
        reserve([wide])
        assert refusal([wide]).limit == wide
        for _ in range(3):
            reserve([other])
        assert refusal([other]).limit == other
        # With several full, the first full one in the order given is named.
        assert refusal([wide, narrow]).limit == wide
        assert refusal([narrow, wide]).limit == narrow


def test_release_takes_back_only_its_own_reservation(backend):
    app = backend.app()
    with app.app_context():
        mine = reserve(sms_limits(NUMBER, IP))
        reserve(sms_limits(OTHER_NUMBER, IP))
        assert refusal(sms_limits(NUMBER, IP)).limit.name == SMS_NUMBER_GAP
        release(mine)
        release(mine)  # twice is harmless
        again = reserve(sms_limits(NUMBER, IP))
        assert again != mine
        assert refusal(sms_limits(NUMBER, IP)).limit.name == SMS_NUMBER_GAP
        assert refusal(sms_limits(OTHER_NUMBER, IP)).limit.name == SMS_NUMBER_GAP


def test_release_gives_back_the_shared_limits_too(backend):
    """A released send no longer counts under its IP or prefix either."""
    app = backend.app(SMS_SENDS_PER_IP_PER_HOUR=1)
    with app.app_context():
        reservation = reserve(sms_limits(GB_NUMBERS[0], IP))
        assert refusal(sms_limits(GB_NUMBERS[1], IP)).limit.name == SMS_IP_HOUR
        release(reservation)
        reserve(sms_limits(GB_NUMBERS[1], IP))


def test_bad_arguments_are_refused_and_change_nothing(backend):
    app = backend.app()
    with app.app_context():
        with pytest.raises(ValueError):
            reserve([])
        limit = Limit("test", "key", 60, 1)
        with pytest.raises(ValueError, match="twice"):
            reserve([limit, Limit("test", "key", 60, 5)])
        with pytest.raises(ValueError):
            release("'; DROP TABLE rate_events; --")
        with pytest.raises(ValueError):
            Limit("test", "key", 0, 1)
        with pytest.raises(ValueError):
            Limit("test", "key", 60, 0)
        with pytest.raises(ValueError):
            Limit("test", "", 60, 1)
        with pytest.raises(SmsNotAllowed):
            sms_limits("+44", IP)
        # Nothing above was counted: the limit of one still has its room.
        reserve([limit])
        assert refusal([limit]).limit == limit


# ---- concurrency and several instances --------------------------------------------------------

def test_twenty_concurrent_reservations_on_one_number_get_five(backend):
    """20 threads at once, on one number, each from its own address: exactly 5 are counted,
    and the 15 refused counted nothing under the shared prefix limit. Half the threads give
    the limits in the opposite order, which must not deadlock."""
    app = backend.app(SMS_MIN_SECONDS_BETWEEN_SENDS=0)
    barrier = threading.Barrier(20, timeout=30)
    outcomes = []

    def send(index: int) -> None:
        with app.app_context():
            limits = sms_limits(NUMBER, f"198.51.100.{index + 1}")
            if index % 2:
                limits.reverse()
            barrier.wait()
            try:
                reserve(limits)
                outcomes.append("counted")
            except LimitReached as error:
                outcomes.append(error.limit.name)
            except Exception as error:  # reported by the assertion below
                outcomes.append(repr(error))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=send, args=(index,)) for index in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["counted"] * 5 + [SMS_NUMBER_HOUR] * 15
    with app.app_context():
        # The prefix counter holds exactly the 5: a limit of 6 on it has one place left.
        prefix = Limit(SMS_PREFIX_HOUR, "44", 3600, 6)
        reserve([prefix])
        assert refusal([prefix]).limit == prefix


def test_limit_holds_across_two_app_instances(backend):
    """Two app objects (two instances) on one database and one Redis share the counts."""
    first = backend.app()
    second = backend.app()
    limit = Limit("test_shared", NUMBER, 3600, 5)
    with first.app_context():
        for _ in range(3):
            reserve([limit])
    with second.app_context():
        reserve([limit])
        reserve([limit])
        assert refusal([limit]).limit == limit
    with first.app_context():
        assert refusal([limit]).limit == limit


# ---- what is stored ------------------------------------------------------------------------

def test_stored_keys_are_keyed_hashes(backend):
    app = backend.app()
    ipv6 = "2001:db8:1:2::1"
    with app.app_context():
        limits = sms_limits(NUMBER, IP) + sms_limits(OTHER_NUMBER, ipv6)
        reserve(limits[:4])
        reserve(limits[4:])
        expected = {keyed_hash("send-limit", f"{limit.name}:{limit.key}") for limit in limits}
        assert {stored_key(limit) for limit in limits} == expected
        assert len(expected) == 7  # both numbers share the prefix counter
        event_keys = set(db.session.scalars(select(RateEvent.key)))
        lock_keys = set(db.session.scalars(select(RateLock.key)))
        if backend.name == "database":
            assert event_keys == lock_keys == expected
        else:
            assert event_keys == lock_keys == set()
            store = redis.Redis.from_url(backend.redis_url)
            stored = {key.decode() for key in store.scan_iter()}
            assert {key for key in stored if key.startswith(COUNTER_PREFIX)} == {
                COUNTER_PREFIX + key for key in expected}
            for key in stored:
                if key.startswith(COUNTER_PREFIX):
                    text = " ".join(member.decode() for member in store.zrange(key, 0, -1))
                else:
                    text = " ".join(member.decode() for member in store.smembers(key))
                for secret in ("7400123456", "7400123451", IP, "2001:db8"):
                    assert secret not in key and secret not in text
    for value in event_keys | lock_keys:
        assert len(value) == 64 and "7400" not in value


def test_sms_limits_follow_the_settings(make_app):
    app = make_app(SMS_MIN_SECONDS_BETWEEN_SENDS=45, SMS_SENDS_PER_NUMBER_PER_HOUR=4,
                   SMS_SENDS_PER_IP_PER_HOUR=9, SMS_SENDS_PER_PREFIX_PER_HOUR=90)
    with app.app_context():
        limits = sms_limits("+44 7400 123456", "::ffff:203.0.113.7")
        assert [(limit.name, limit.key, limit.window_seconds, limit.max_count)
                for limit in limits] == [
            (SMS_NUMBER_HOUR, NUMBER, 3600, 4), (SMS_NUMBER_GAP, NUMBER, 45, 1),
            (SMS_IP_HOUR, IP, 3600, 9), (SMS_PREFIX_HOUR, "44", 3600, 90)]
        assert [limit.name for limit in sms_limits(NUMBER, None)] == [
            SMS_NUMBER_HOUR, SMS_NUMBER_GAP, SMS_PREFIX_HOUR]
        # The number is never in a repr (logged exceptions carry the limit).
        assert "7400" not in repr(limits) and "7400" not in str(LimitReached(limits[0], START))
    assert ip_key("2001:DB8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert ip_key(" 203.0.113.7 ") == IP
    with make_app(SMS_MIN_SECONDS_BETWEEN_SENDS=0).app_context():
        assert SMS_NUMBER_GAP not in [limit.name for limit in sms_limits(NUMBER, IP)]


# ---- exact window edges and clean-up (database backend, frozen time) --------------------------

def test_window_edges_are_exact_and_old_events_are_deleted(make_app):
    app = make_app()
    limit = Limit("test_edges", "key", 60, 2)
    with app.app_context(), time_machine.travel(START, tick=False) as clock:
        reserve([limit])
        clock.shift(timedelta(seconds=10))
        reserve([limit])
        clock.shift(timedelta(seconds=49, microseconds=999_999))
        assert refusal([limit]).retry_at == START + timedelta(seconds=60)
        clock.shift(timedelta(microseconds=1))
        reserve([limit])
        assert refusal([limit]).retry_at == START + timedelta(seconds=70)
        # The event that left the window was deleted while the key was locked.
        times = db.session.scalars(select(RateEvent.at).order_by(RateEvent.at)).all()
        assert times == [START + timedelta(seconds=10), START + timedelta(seconds=60)]


# ---- failing closed --------------------------------------------------------------------------

def test_redis_down_fails_closed(make_app):
    app = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    with app.app_context():
        with pytest.raises(LimitsUnavailable) as caught:
            reserve(sms_limits(NUMBER, IP))
        assert caught.value.message == (
            "Text messages cannot be sent right now. Please try again later.")
        with pytest.raises(LimitsUnavailable):
            release("0" * 32)
        # No quiet fallback to the database counters.
        assert db.session.scalar(select(func.count()).select_from(RateEvent)) == 0


def test_database_down_fails_closed(make_app):
    app = make_app(DATABASE_URL=f"postgresql://tessera@127.0.0.1:{free_port()}/tessera")
    with app.app_context():
        with pytest.raises(LimitsUnavailable):
            reserve(sms_limits(NUMBER, IP))
        with pytest.raises(LimitsUnavailable):
            release("0" * 32)
