"""The rate governor's rules, run against both implementations: LocalRateGovernor on a fake clock (exact, no
sleeping) and RedisRateGovernor on a real Redis with a one-second window (REDIS_URL; skipped locally without
it). The cross-process guarantees are in test_governor_processes.py."""

import pickle
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace

import pytest

from qbsync.quickbooks.governor import (
    IN_FLIGHT_RETRY_AFTER_SECONDS,
    LocalRateGovernor,
    RateGovernor,
    RateLimits,
    RealmThrottled,
    RedisRateGovernor,
    governor_from_settings,
    reset_governor,
)

REALM = "9130350000000001"
OTHER_REALM = "9130350000000002"

# Small enough to fill by hand, short enough that the Redis runs wait at most about a second.
LIMITS = RateLimits(
    max_in_flight=3,
    per_minute=5,
    batch_per_minute=2,
    per_second=None,
    headroom=0,
    window_seconds=1.0,
    lease_seconds=0.8,
    default_pause_seconds=0.6,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Harness:
    """One implementation plus how to let time pass for it."""

    make: Callable[[RateLimits], RateGovernor]
    advance: Callable[[float], None]
    elapsed: Callable[[], float]
    # How much later than planned real time may have moved on between two steps of a test.
    slack: float

    def assert_close(self, actual: float, expected: float) -> None:
        assert abs(actual - expected) <= self.slack + 1e-9, (actual, expected)


def _local_harness() -> Harness:
    clock = FakeClock()
    start = clock.now
    return Harness(
        make=lambda limits: LocalRateGovernor(limits, clock=clock, sleep=clock.advance),
        advance=clock.advance,
        elapsed=lambda: clock.now - start,
        slack=0.0,
    )


@pytest.fixture
def key_prefix() -> str:
    return f"test:gov:{uuid.uuid4().hex}"


@pytest.fixture
def redis_client(require_redis, key_prefix) -> Iterator:
    import redis

    client = redis.Redis.from_url(require_redis)
    yield client
    leftovers = list(client.scan_iter(f"{key_prefix}:*"))
    if leftovers:
        client.delete(*leftovers)
    client.close()


def _redis_harness(client, key_prefix: str) -> Harness:
    start = time.monotonic()
    return Harness(
        make=lambda limits: RedisRateGovernor(client, limits, key_prefix=key_prefix),
        advance=time.sleep,
        elapsed=lambda: time.monotonic() - start,
        slack=0.25,
    )


@pytest.fixture(params=["local", "redis"])
def harness(request, key_prefix) -> Harness:
    if request.param == "local":
        return _local_harness()
    return _redis_harness(request.getfixturevalue("redis_client"), key_prefix)


@pytest.fixture(params=["local", "redis"])
def real_time_governor(request, key_prefix) -> Callable[[RateLimits], RateGovernor]:
    """For behaviour that needs a second thread: both implementations on the real clock."""
    if request.param == "local":
        return LocalRateGovernor
    client = request.getfixturevalue("redis_client")
    return lambda limits: RedisRateGovernor(client, limits, key_prefix=key_prefix)


def _throttled(governor: RateGovernor, realm_id: str = REALM, **kwargs) -> RealmThrottled:
    with pytest.raises(RealmThrottled) as caught, governor.permit(realm_id, max_wait=0, **kwargs):
        pass
    return caught.value


def _use(governor: RateGovernor, count: int, *, realm_id: str = REALM, batch: bool = False) -> None:
    for _ in range(count):
        with governor.permit(realm_id, batch=batch, max_wait=0):
            pass


# --- Limits --------------------------------------------------------------------------------------------


def test_rate_limits_keep_the_headroom_in_reserve():
    limits = RateLimits()
    assert [limits.usable(n) for n in (10, 500, 40, 10)] == [9, 475, 38, 9]
    assert RateLimits(headroom=0.9).usable(10) == 1
    assert RateLimits(headroom=0.99).usable(10) == 1
    assert RateLimits(headroom=0.3).usable(40) == 28


@pytest.mark.parametrize(
    "change",
    [{"max_in_flight": 0}, {"per_second": 0}, {"headroom": 1.0}, {"headroom": -0.1}, {"window_seconds": 0}],
)
def test_rate_limits_reject_nonsense(change):
    with pytest.raises(ValueError):  # noqa: PT011 - the message names the offending field
        RateLimits(**change)


def test_realm_ids_that_would_break_the_hash_tag_are_refused():
    governor = LocalRateGovernor(LIMITS)
    for bad in ("", "12{3", "12}3"):
        with pytest.raises(ValueError, match="realm id"), governor.permit(bad):
            pass


def test_realm_throttled_survives_pickling():
    original = RealmThrottled(REALM, retry_after=12.5, reason="per_minute")
    copy = pickle.loads(pickle.dumps(original))
    assert (copy.realm_id, copy.retry_after, copy.reason) == (REALM, 12.5, "per_minute")
    assert "per_minute" in str(copy)


# --- Both implementations ------------------------------------------------------------------------------


def test_permit_holds_an_in_flight_slot_until_exit(harness):
    governor = harness.make(LIMITS)
    with governor.permit(REALM) as permit:
        assert permit.realm_id == REALM
        assert not permit.batch
        assert governor.state(REALM).in_flight == 1
    state = governor.state(REALM)
    assert (state.in_flight, state.requests_in_window, state.batch_in_window) == (0, 1, 0)
    assert state.paused_for_seconds == 0


def test_permit_is_released_when_the_call_fails(harness):
    governor = harness.make(LIMITS)
    with pytest.raises(ZeroDivisionError), governor.permit(REALM):
        1 / 0  # noqa: B018 - the QBO call that blew up
    assert governor.state(REALM).in_flight == 0


def test_in_flight_limit_throttles_until_a_holder_releases(harness):
    governor = harness.make(LIMITS)
    with ExitStack() as holders:
        held = [holders.enter_context(governor.permit(REALM)) for _ in range(3)]
        assert len(held) == 3
        throttled = _throttled(governor)
        assert throttled.reason == "in_flight"
        assert throttled.realm_id == REALM
        assert 0 < throttled.retry_after <= IN_FLIGHT_RETRY_AFTER_SECONDS
    with governor.permit(REALM, max_wait=0):
        assert governor.state(REALM).in_flight == 1


def test_in_flight_wait_polls_until_max_wait_then_throttles(harness):
    governor = harness.make(replace(LIMITS, max_in_flight=1, lease_seconds=30))
    with governor.permit(REALM):
        before = harness.elapsed()
        with pytest.raises(RealmThrottled) as caught, governor.permit(REALM, max_wait=0.2):
            pass
        waited = harness.elapsed() - before
    assert caught.value.reason == "in_flight"
    assert caught.value.retry_after == pytest.approx(IN_FLIGHT_RETRY_AFTER_SECONDS, abs=harness.slack)
    assert 0.2 - 1e-9 <= waited <= 0.2 + harness.slack + 0.05


def test_per_minute_limit_counts_a_sliding_window(harness):
    governor = harness.make(LIMITS)
    for _ in range(5):
        _use(governor, 1)
        harness.advance(0.1)
    throttled = _throttled(governor)
    assert throttled.reason == "per_minute"
    # The first request ages out of the 1 s window 1 s after it was granted, 0.5 s from now.
    harness.assert_close(throttled.retry_after, 0.5)
    assert governor.state(REALM).requests_in_window == 5
    harness.advance(throttled.retry_after)
    _use(governor, 1)
    assert _throttled(governor).reason == "per_minute"


def test_state_ahead_counts_only_what_the_window_still_holds_by_then(harness):
    governor = harness.make(LIMITS)
    _use(governor, 2)
    harness.advance(0.5)
    _use(governor, 2, batch=True)
    now, later = governor.state(REALM), governor.state(REALM, ahead=0.7)
    assert (now.requests_in_window, now.batch_in_window) == (4, 2)
    # 0.7 s from now the first two are 1.2 s old, out of the 1 s window; the batches are 0.7 s old.
    assert (later.requests_in_window, later.batch_in_window) == (2, 2)


def test_per_minute_wait_within_max_wait_sleeps_then_grants(harness):
    governor = harness.make(LIMITS)
    _use(governor, 5)
    before = harness.elapsed()
    with governor.permit(REALM, max_wait=2.0):
        pass
    harness.assert_close(harness.elapsed() - before, 1.0)


def test_wait_longer_than_max_wait_raises_without_sleeping(harness):
    governor = harness.make(LIMITS)
    _use(governor, 5)
    before = harness.elapsed()
    with pytest.raises(RealmThrottled) as caught, governor.permit(REALM, max_wait=0.5):
        pass
    assert caught.value.reason == "per_minute"
    assert harness.elapsed() - before < 0.05 + harness.slack  # not the 0.5 s of max_wait
    harness.assert_close(caught.value.retry_after, 1.0)


def test_headroom_lowers_every_limit(harness):
    governor = harness.make(replace(LIMITS, per_minute=10, max_in_flight=5, headroom=0.2))
    with ExitStack() as holders:
        for _ in range(4):
            holders.enter_context(governor.permit(REALM))
        assert _throttled(governor).reason == "in_flight"
    _use(governor, 4)
    assert _throttled(governor).reason == "per_minute"
    assert governor.state(REALM).requests_in_window == 8


def test_batch_requests_count_toward_both_limits(harness):
    governor = harness.make(replace(LIMITS, per_minute=3))
    _use(governor, 2, batch=True)
    throttled = _throttled(governor, batch=True)
    assert throttled.reason == "batch_per_minute"
    harness.assert_close(throttled.retry_after, 1.0)
    _use(governor, 1)  # a plain request still fits the per-minute limit
    state = governor.state(REALM)
    assert (state.requests_in_window, state.batch_in_window) == (3, 2)
    assert _throttled(governor).reason == "per_minute"


def test_batch_throttle_reports_the_longest_of_its_waits(harness):
    governor = harness.make(replace(LIMITS, per_minute=3))
    _use(governor, 1)
    harness.advance(0.3)
    _use(governor, 2, batch=True)
    throttled = _throttled(governor, batch=True)
    # per_minute frees in 0.7 s but the batch limit only in 1.0 s; both must clear.
    assert throttled.reason == "batch_per_minute"
    harness.assert_close(throttled.retry_after, 1.0)


def test_per_second_limit_runs_on_a_sixtieth_of_the_window(harness):
    governor = harness.make(replace(LIMITS, per_minute=100, per_second=2, window_seconds=60.0))
    assert governor.limits.second_seconds == 1.0
    _use(governor, 2)
    throttled = _throttled(governor)
    assert throttled.reason == "per_second"
    harness.assert_close(throttled.retry_after, 1.0)
    harness.advance(throttled.retry_after)
    _use(governor, 2)
    assert governor.state(REALM).requests_in_window == 4


def test_pause_throttles_the_realm_for_its_duration(harness):
    governor = harness.make(LIMITS)
    harness.assert_close(governor.pause(REALM, 0.5), 0.5)
    harness.assert_close(governor.state(REALM).paused_for_seconds, 0.5)
    throttled = _throttled(governor)
    assert throttled.reason == "paused"
    harness.assert_close(throttled.retry_after, 0.5)
    harness.advance(0.5)
    _use(governor, 1)
    assert governor.state(REALM).paused_for_seconds == 0


def test_pause_without_retry_after_uses_the_default(harness):
    governor = harness.make(LIMITS)
    harness.assert_close(governor.pause(REALM, None), LIMITS.default_pause_seconds)
    harness.assert_close(_throttled(governor).retry_after, LIMITS.default_pause_seconds)


def test_pause_never_shortens_a_longer_pause(harness):
    governor = harness.make(LIMITS)
    governor.pause(REALM, 30)
    harness.assert_close(governor.pause(REALM, 1), 30)
    harness.assert_close(governor.pause(REALM, 0), 30)
    harness.assert_close(governor.state(REALM).paused_for_seconds, 30)
    harness.assert_close(governor.pause(REALM, 45), 45)


def test_short_pause_within_max_wait_is_waited_out(harness):
    governor = harness.make(LIMITS)
    governor.pause(REALM, 0.3)
    before = harness.elapsed()
    with governor.permit(REALM, max_wait=1.0):
        pass
    harness.assert_close(harness.elapsed() - before, 0.3)


def test_lease_of_a_crashed_holder_expires(harness):
    governor = harness.make(LIMITS)
    # Entered and never exited: the worker died mid-request. Kept referenced, because a collected
    # generator would run its finally clause and release the slot, which a dead process cannot do.
    abandoned = [governor.permit(REALM) for _ in range(3)]
    for permit in abandoned:
        permit.__enter__()
    assert _throttled(governor).reason == "in_flight"
    harness.advance(LIMITS.lease_seconds)
    assert governor.state(REALM).in_flight == 0
    _use(governor, 1)


def test_a_throttled_realm_leaves_other_realms_alone(harness):
    governor = harness.make(LIMITS)
    _use(governor, 2, batch=True)
    _use(governor, 3)
    with ExitStack() as holders:
        governor.pause(REALM, 30)
        assert _throttled(governor).reason == "paused"
        for _ in range(3):
            holders.enter_context(governor.permit(OTHER_REALM, max_wait=0))
        assert _throttled(governor, OTHER_REALM).reason == "in_flight"
    _use(governor, 2, realm_id=OTHER_REALM, batch=True)
    state = governor.state(OTHER_REALM)
    assert (state.requests_in_window, state.batch_in_window, state.paused_for_seconds) == (5, 2, 0)


def test_a_waiting_permit_gets_the_slot_a_holder_releases(real_time_governor):
    governor = real_time_governor(replace(LIMITS, max_in_flight=1, per_minute=100, lease_seconds=30))
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with governor.permit(REALM):
            holding.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(5)
        threading.Timer(0.2, release.set).start()
        started = time.monotonic()
        with governor.permit(REALM, max_wait=3.0):
            waited = time.monotonic() - started
        assert 0.15 <= waited < 1.5
    finally:
        release.set()
        holder.join(5)


# --- Redis only ----------------------------------------------------------------------------------------


def test_redis_keys_share_a_hash_tag_and_expire(redis_client, key_prefix):
    governor = RedisRateGovernor(redis_client, LIMITS, key_prefix=key_prefix)
    with governor.permit(REALM, batch=True):
        pass
    governor.pause(REALM, 0.5)
    keys = governor.keys_for(REALM)
    assert keys == [
        f"{key_prefix}:{{{REALM}}}:{name}" for name in ("inflight", "window", "batch", "paused_until")
    ]
    ttls = dict(zip(keys, (redis_client.pttl(key) for key in keys), strict=True))
    # The in-flight key is deleted by the release (an empty sorted set); the others time out on their own.
    assert ttls[keys[0]] == -2
    assert 0 < ttls[keys[1]] <= 1000
    assert 0 < ttls[keys[2]] <= 1000
    assert 0 < ttls[keys[3]] <= 500
    assert {key.decode() for key in redis_client.scan_iter(f"{key_prefix}:*")} <= set(keys)


def test_redis_held_lease_key_expires_with_the_lease(redis_client, key_prefix):
    governor = RedisRateGovernor(redis_client, LIMITS, key_prefix=key_prefix)
    abandoned = governor.permit(REALM)
    abandoned.__enter__()
    assert 0 < redis_client.pttl(governor.keys_for(REALM)[0]) <= LIMITS.lease_seconds * 1000


def test_redis_governors_in_separate_clients_share_one_budget(redis_client, require_redis, key_prefix):
    import redis

    first = RedisRateGovernor(redis_client, LIMITS, key_prefix=key_prefix)
    second_client = redis.Redis.from_url(require_redis, decode_responses=True)
    second = RedisRateGovernor(second_client, LIMITS, key_prefix=key_prefix)
    try:
        _use(first, 3)
        _use(second, 2)
        assert _throttled(second).reason == "per_minute"
        assert _throttled(first).reason == "per_minute"
        first.pause(OTHER_REALM, 10)
        assert _throttled(second, OTHER_REALM).reason == "paused"
    finally:
        second_client.close()


def test_redis_prefixes_keep_deployments_apart(redis_client, key_prefix):
    governor = RedisRateGovernor(redis_client, LIMITS, key_prefix=key_prefix)
    elsewhere = RedisRateGovernor(redis_client, LIMITS, key_prefix=f"{key_prefix}:other")
    governor.pause(REALM, 10)
    _use(elsewhere, 1)


# --- From settings -------------------------------------------------------------------------------------


@pytest.fixture
def fresh_governor() -> Iterator[None]:
    reset_governor()
    yield
    reset_governor()


def test_governor_from_settings_without_redis_is_local_and_shared(settings, fresh_governor):
    settings.REDIS_URL = ""
    settings.QBO_MAX_IN_FLIGHT = 4
    settings.QBO_MAX_PER_MINUTE = 100
    settings.QBO_MAX_BATCH_PER_MINUTE = 8
    settings.QBO_MAX_PER_SECOND = 0
    settings.QBO_RATE_HEADROOM = 0.25
    settings.QBO_RATE_WINDOW_SECONDS = 6
    governor = governor_from_settings()
    assert isinstance(governor, LocalRateGovernor)
    assert governor_from_settings() is governor
    assert governor.limits == RateLimits(
        max_in_flight=4,
        per_minute=100,
        batch_per_minute=8,
        per_second=None,
        headroom=0.25,
        window_seconds=6.0,
    )


def test_governor_from_settings_defaults_to_qbo_limits(settings, fresh_governor):
    settings.REDIS_URL = ""
    for name in (
        "QBO_MAX_IN_FLIGHT",
        "QBO_MAX_PER_MINUTE",
        "QBO_MAX_BATCH_PER_MINUTE",
        "QBO_MAX_PER_SECOND",
        "QBO_RATE_HEADROOM",
        "QBO_RATE_WINDOW_SECONDS",
    ):
        if hasattr(settings, name):
            delattr(settings, name)
    assert governor_from_settings().limits == RateLimits()


def test_governor_from_settings_with_redis_url_is_redis(settings, require_redis, fresh_governor):
    settings.REDIS_URL = require_redis
    governor = governor_from_settings()
    assert isinstance(governor, RedisRateGovernor)
    assert governor.state(REALM).in_flight >= 0


def test_an_unreachable_redis_is_a_transient_error_and_nothing_is_sent():
    import redis

    from qbsync.quickbooks.errors import QboTransientError, QboUnavailableError
    from qbsync.quickbooks.governor import RateLimits, RealmThrottled, RedisRateGovernor

    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    governor = RedisRateGovernor(dead, RateLimits())
    sent = []
    with pytest.raises(QboUnavailableError, match="Redis is unreachable"), governor.permit("123"):
        sent.append("request")
    assert sent == []
    assert issubclass(RealmThrottled, QboTransientError)
