"""The per-realm rate governor: every call to QBO holds a permit from it, so that however many worker
processes run, on however many machines, no company ("realm") gets more than QBO allows (qbo-api-facts.md §7).

A throttled realm raises `RealmThrottled` quickly instead of holding a worker, so other realms carry on.
`RedisRateGovernor` shares the state between processes; `LocalRateGovernor` is the zero-setup fallback and
only counts what its own process sends.
"""

from __future__ import annotations

import bisect
import logging
import math
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

import redis
from redis import RedisError

from .errors import QboTransientError, QboUnavailableError

GOVERNOR_BACKEND_ERRORS: tuple[type[Exception], ...] = (RedisError, ConnectionError, TimeoutError)

if TYPE_CHECKING:
    from redis import Redis

logger = logging.getLogger(__name__)

ThrottleReason = Literal["paused", "in_flight", "per_minute", "per_second", "batch_per_minute"]

# A holder releases its in-flight slot at a moment nobody can predict, so waiters poll for it; a task told to
# come back later is given this rather than the oldest lease's expiry, which only matters for crashed holders.
IN_FLIGHT_POLL_SECONDS = 0.02
IN_FLIGHT_RETRY_AFTER_SECONDS = 1.0
# A wait this short is spent inside permit(); a longer one is better spent on other work.
MOMENT_SECONDS = 1.0
# Sleeping less than this when a window slot is due would only spin on rounding between the two clocks.
MIN_SLEEP_SECONDS = 0.001


class RealmThrottled(QboTransientError):
    """The realm has no capacity now and will not within the caller's max_wait.

    Raised by the governor, never by QBO: nothing was sent. Retry after `retry_after` seconds.
    """

    def __init__(self, realm_id: str, *, retry_after: float, reason: ThrottleReason):
        super().__init__(
            f"QuickBooks Online's limit for this company is reached ({reason}); nothing was sent",
            retry_after=retry_after,
            code="throttled_locally",
        )
        self.realm_id = realm_id
        self.reason = reason

    def __str__(self) -> str:
        return f"QBO realm {self.realm_id} throttled ({self.reason}); retry in {self.retry_after:.2f} s"

    def __reduce__(self):
        # Keyword-only arguments defeat Exception's default pickling, which Celery's prefork pool relies on.
        return _realm_throttled, (self.realm_id, self.retry_after, self.reason)


def _realm_throttled(realm_id: str, retry_after: float, reason: ThrottleReason) -> RealmThrottled:
    return RealmThrottled(realm_id, retry_after=retry_after, reason=reason)


@dataclass(frozen=True, kw_only=True)
class RateLimits:
    """QBO's published limits per realm, and how much of them we use.

    `window_seconds` is the length of QBO's "minute"; `per_second` counts over window_seconds / 60, so a
    time-scaled sandbox or a test shrinks both windows with one setting. `per_second=None` switches it off.
    """

    max_in_flight: int = 10
    per_minute: int = 500
    batch_per_minute: int = 40
    # Intuit's current table also limits 10 requests per second per realm and app; without it the minute's
    # budget could be spent in a burst of 9 in flight at a time, far above 10/s.
    per_second: int | None = 10
    # 5% in reserve: 38 batch and 475 other requests a minute, 9 in flight and 9 a second per company.
    headroom: float = 0.05
    window_seconds: float = 60.0
    # QBO gives up on a request after 120 s, so a lease this long only outlives a crashed holder.
    lease_seconds: float = 130.0
    default_pause_seconds: float = 60.0

    def __post_init__(self) -> None:
        limits = [self.max_in_flight, self.per_minute, self.batch_per_minute]
        if self.per_second is not None:
            limits.append(self.per_second)
        if any(limit < 1 for limit in limits):
            raise ValueError(f"Rate limits must be at least 1: {self}")
        if not 0 <= self.headroom < 1:
            raise ValueError(f"headroom is a fraction in [0, 1), got {self.headroom}")
        if self.window_seconds <= 0 or self.lease_seconds <= 0 or self.default_pause_seconds < 0:
            raise ValueError(f"Durations must be positive: {self}")

    def usable(self, limit: int) -> int:
        # The 1e-9 keeps floor() honest where 1 - headroom is not exact in binary (1 - 0.3 != 0.7).
        return max(1, math.floor(limit * (1 - self.headroom) + 1e-9))

    @property
    def second_seconds(self) -> float:
        return self.window_seconds / 60


@dataclass(frozen=True)
class Permit:
    """One granted request. `granted_at` is on the governor's clock: Redis server time (epoch seconds) for
    RedisRateGovernor, the injected clock for LocalRateGovernor."""

    realm_id: str
    permit_id: str
    batch: bool
    granted_at: float


@dataclass(frozen=True)
class RealmState:
    in_flight: int
    requests_in_window: int
    batch_in_window: int
    paused_for_seconds: float


@dataclass(frozen=True)
class _Denial:
    reason: ThrottleReason
    # For "in_flight", until the oldest lease expires: an upper bound, since holders usually release sooner.
    wait_seconds: float


class RateGovernor(ABC):
    limits: RateLimits

    def __init__(
        self, limits: RateLimits, *, clock: Callable[[], float], sleep: Callable[[float], None]
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._sleep = sleep

    @contextmanager
    def permit(self, realm_id: str, *, batch: bool = False, max_wait: float = 5.0) -> Iterator[Permit]:
        """Hold one of the realm's request slots for the duration of a QBO call.

        Waits up to `max_wait` seconds for capacity, but raises `RealmThrottled` at once when the wait
        needed is known to be longer, so the caller can free its worker for other realms.
        """
        try:
            granted = self._acquire(realm_id=realm_id, batch=batch, max_wait=max_wait)
        except RealmThrottled:
            raise
        except GOVERNOR_BACKEND_ERRORS as exc:
            # Without its shared counters the governor cannot promise QBO's limits: nothing is sent.
            raise QboUnavailableError("The rate governor's Redis is unreachable; nothing was sent") from exc
        try:
            yield granted
        finally:
            self._release(granted)

    def wait_before_permit(
        self, realm_id: str, *, batch: bool = False
    ) -> tuple[ThrottleReason, float] | None:
        """How long a permit for the realm would have to wait now, without taking one: None when one would
        be granted at once. For the in-flight limit, whose slots free at moments nobody can predict, the
        wait is the short retry a permit would advise. Lets a task step aside before it starts its work
        (qbsync.sync.fairness) instead of holding a worker in `permit()` or failing part-way."""
        _check_realm_id(realm_id)
        outcome = self._try_acquire(realm_id=realm_id, permit_id=uuid.uuid4().hex, batch=batch, record=False)
        if isinstance(outcome, Permit):
            return None
        if outcome.reason == "in_flight":
            return "in_flight", min(outcome.wait_seconds, IN_FLIGHT_RETRY_AFTER_SECONDS)
        return outcome.reason, outcome.wait_seconds

    def holds_back(self, realm_id: str, *, batch: bool = False) -> tuple[ThrottleReason, float] | None:
        """`wait_before_permit` when the wait is worth doing other work meanwhile: longer than a moment
        (`MOMENT_SECONDS`, which permit() spends waiting) and not for an in-flight slot (freed any time)."""
        wait = self.wait_before_permit(realm_id, batch=batch)
        if wait is None or wait[0] == "in_flight" or wait[1] <= MOMENT_SECONDS:
            return None
        return wait

    @abstractmethod
    def pause(self, realm_id: str, seconds: float | None = None) -> float:
        """Stop granting permits for the realm, after QBO answered 429. None means `default_pause_seconds`.

        Never shortens a longer pause already in place. Returns how long the realm is now paused for.
        """

    @abstractmethod
    def state(self, realm_id: str, *, ahead: float = 0.0) -> RealmState:
        """The realm's counters now; with ``ahead`` seconds, the window's counts are of the requests it
        will still hold by then (what has aged out meanwhile no longer counts)."""

    @abstractmethod
    def _try_acquire(
        self, *, realm_id: str, permit_id: str, batch: bool, record: bool = True
    ) -> Permit | _Denial:
        """Check every limit and record the request, atomically; with record=False only check."""

    @abstractmethod
    def _release(self, permit: Permit) -> None: ...

    def _acquire(self, *, realm_id: str, batch: bool, max_wait: float) -> Permit:
        _check_realm_id(realm_id)
        permit_id = uuid.uuid4().hex
        deadline = self._clock() + max(0.0, max_wait)
        while True:
            outcome = self._try_acquire(realm_id=realm_id, permit_id=permit_id, batch=batch)
            if isinstance(outcome, Permit):
                return outcome
            remaining = deadline - self._clock()
            if outcome.reason == "in_flight":
                if remaining <= 0:
                    retry_after = min(outcome.wait_seconds, IN_FLIGHT_RETRY_AFTER_SECONDS)
                    raise RealmThrottled(realm_id, retry_after=retry_after, reason="in_flight")
                self._sleep(min(IN_FLIGHT_POLL_SECONDS, remaining))
            elif outcome.wait_seconds > remaining:
                raise RealmThrottled(realm_id, retry_after=outcome.wait_seconds, reason=outcome.reason)
            else:
                self._sleep(min(max(outcome.wait_seconds, MIN_SLEEP_SECONDS), remaining))

    def _pause_seconds(self, seconds: float | None) -> float:
        return self.limits.default_pause_seconds if seconds is None else max(0.0, seconds)


def _check_realm_id(realm_id: str) -> None:
    # Braces would break the Redis Cluster hash tag that keeps a realm's keys in one slot.
    if not realm_id or "{" in realm_id or "}" in realm_id:
        raise ValueError(f"Invalid QBO realm id: {realm_id!r}")


# --- Redis ------------------------------------------------------------------------------------------------
# Times are integer microseconds from the server's TIME, so every worker judges by one clock and the
# doubles Lua uses hold them exactly. Numbers go to redis.call() as numbers, never through tostring(),
# which keeps only 14 digits. An entry granted at s counts while s > now - window.

_LUA_COMMON = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function trim(inflight, window, batch, window_us)
  redis.call('ZREMRANGEBYSCORE', inflight, '-inf', now)
  redis.call('ZREMRANGEBYSCORE', window, '-inf', now - window_us)
  redis.call('ZREMRANGEBYSCORE', batch, '-inf', now - window_us)
end
local function paused_for(paused_key)
  local paused_until = tonumber(redis.call('GET', paused_key) or '0')
  if paused_until > now then return paused_until - now end
  return 0
end
"""

# KEYS: inflight, window, batch, paused_until
# ARGV: permit_id, is_batch, max_in_flight, per_window, batch_per_window, per_second (0: off),
#       window_us, second_us, lease_us, look_only ('1': check every limit, record nothing)
_ACQUIRE_LUA = (
    _LUA_COMMON
    + """
local permit_id, is_batch = ARGV[1], ARGV[2] == '1'
local max_in_flight, per_window = tonumber(ARGV[3]), tonumber(ARGV[4])
local batch_per_window, per_second = tonumber(ARGV[5]), tonumber(ARGV[6])
local window_us, second_us, lease_us = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])

local paused = paused_for(KEYS[4])
if paused > 0 then return {'paused', paused} end
trim(KEYS[1], KEYS[2], KEYS[3], window_us)

-- Microseconds until one more request fits in the last span_us: the (count - limit)-th oldest entry
-- inside the span must age out first.
local function window_wait(key, limit, span_us)
  local since = now - span_us + 1
  local count = redis.call('ZCOUNT', key, since, '+inf')
  if count < limit then return 0 end
  local entry = redis.call('ZRANGEBYSCORE', key, since, '+inf', 'WITHSCORES', 'LIMIT', count - limit, 1)
  return tonumber(entry[2]) + span_us - now
end

-- Report the longest wait: every limit has to clear before the request fits.
local reason, wait = nil, 0
local function consider(candidate, candidate_wait)
  if candidate_wait > wait then reason, wait = candidate, candidate_wait end
end
consider('per_minute', window_wait(KEYS[2], per_window, window_us))
if per_second > 0 then consider('per_second', window_wait(KEYS[2], per_second, second_us)) end
if is_batch then consider('batch_per_minute', window_wait(KEYS[3], batch_per_window, window_us)) end
if reason then return {reason, wait} end

if redis.call('ZCARD', KEYS[1]) >= max_in_flight then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {'in_flight', tonumber(oldest[2]) - now}
end

if ARGV[10] == '1' then return {'ok', now} end  -- a look, not a grant

-- Each key lives as long as its newest entry matters, so an idle realm leaves nothing behind.
redis.call('ZADD', KEYS[1], now + lease_us, permit_id)
redis.call('PEXPIRE', KEYS[1], math.ceil(lease_us / 1000))
redis.call('ZADD', KEYS[2], now, permit_id)
redis.call('PEXPIRE', KEYS[2], math.ceil(window_us / 1000))
if is_batch then
  redis.call('ZADD', KEYS[3], now, permit_id)
  redis.call('PEXPIRE', KEYS[3], math.ceil(window_us / 1000))
end
return {'ok', now}
"""
)

# KEYS: paused_until. ARGV: pause_us. Returns the pause now in force, in microseconds.
_PAUSE_LUA = (
    _LUA_COMMON
    + """
local pause_us = tonumber(ARGV[1])
local current = paused_for(KEYS[1])
if pause_us > current then
  redis.call('SET', KEYS[1], now + pause_us, 'PX', math.max(1, math.ceil(pause_us / 1000)))
  return pause_us
end
return current
"""
)

# KEYS: inflight, window, batch, paused_until. ARGV: window_us, ahead_us (count what is still in the
# window that long from now)
_STATE_LUA = (
    _LUA_COMMON
    + """
trim(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[1]))
local since = now - tonumber(ARGV[1]) + tonumber(ARGV[2]) + 1
return {redis.call('ZCARD', KEYS[1]), redis.call('ZCOUNT', KEYS[2], since, '+inf'),
        redis.call('ZCOUNT', KEYS[3], since, '+inf'), paused_for(KEYS[4])}
"""
)

_THROTTLE_REASONS: frozenset[str] = frozenset(get_args(ThrottleReason))


def _microseconds(seconds: float) -> int:
    return max(1, round(seconds * 1_000_000))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisRateGovernor(RateGovernor):
    """Shared by every process that uses the same Redis and key prefix. Needs Redis 5 or later (TIME in a
    script that writes); each realm's keys share a hash tag, so it also works on Redis Cluster."""

    def __init__(
        self, redis_client: Redis, limits: RateLimits | None = None, *, key_prefix: str = "qbsync:gov"
    ) -> None:
        # The caller's monotonic clock only measures its own max_wait; limits are judged on Redis time.
        super().__init__(limits or RateLimits(), clock=time.monotonic, sleep=time.sleep)
        if "{" in key_prefix or "}" in key_prefix:
            raise ValueError("key_prefix may not contain braces: the realm id is the hash tag")
        self._redis = redis_client
        self._key_prefix = key_prefix
        self._acquire_script = redis_client.register_script(_ACQUIRE_LUA)
        self._pause_script = redis_client.register_script(_PAUSE_LUA)
        self._state_script = redis_client.register_script(_STATE_LUA)

    def keys_for(self, realm_id: str) -> list[str]:
        """The realm's keys: in-flight leases, request window, batch window, pause end."""
        base = f"{self._key_prefix}:{{{realm_id}}}"
        return [f"{base}:inflight", f"{base}:window", f"{base}:batch", f"{base}:paused_until"]

    def pause(self, realm_id: str, seconds: float | None = None) -> float:
        _check_realm_id(realm_id)
        pause_seconds = self._pause_seconds(seconds)
        if pause_seconds <= 0:
            return self.state(realm_id).paused_for_seconds
        in_force = int(
            self._pause_script(keys=self.keys_for(realm_id)[3:], args=[_microseconds(pause_seconds)])
        )
        logger.warning("QBO realm %s paused for %.1f s", realm_id, in_force / 1_000_000)
        return in_force / 1_000_000

    def state(self, realm_id: str, *, ahead: float = 0.0) -> RealmState:
        _check_realm_id(realm_id)
        in_flight, in_window, batch_in_window, paused_us = self._state_script(
            keys=self.keys_for(realm_id),
            args=[_microseconds(self.limits.window_seconds), round(max(0.0, ahead) * 1_000_000)],
        )
        return RealmState(
            in_flight=int(in_flight),
            requests_in_window=int(in_window),
            batch_in_window=int(batch_in_window),
            paused_for_seconds=int(paused_us) / 1_000_000,
        )

    def _try_acquire(
        self, *, realm_id: str, permit_id: str, batch: bool, record: bool = True
    ) -> Permit | _Denial:
        limits = self.limits
        status, micros = self._acquire_script(
            keys=self.keys_for(realm_id),
            args=[
                permit_id,
                int(batch),
                limits.usable(limits.max_in_flight),
                limits.usable(limits.per_minute),
                limits.usable(limits.batch_per_minute),
                0 if limits.per_second is None else limits.usable(limits.per_second),
                _microseconds(limits.window_seconds),
                _microseconds(limits.second_seconds),
                _microseconds(limits.lease_seconds),
                "0" if record else "1",
            ],
        )
        status = _text(status)
        if status == "ok":
            return Permit(
                realm_id=realm_id, permit_id=permit_id, batch=batch, granted_at=int(micros) / 1_000_000
            )
        if status not in _THROTTLE_REASONS:
            raise RuntimeError(f"Unexpected answer from the governor script: {status!r}")
        return _Denial(reason=status, wait_seconds=int(micros) / 1_000_000)  # type: ignore[arg-type]

    def _release(self, permit: Permit) -> None:
        try:
            self._redis.zrem(self.keys_for(permit.realm_id)[0], permit.permit_id)
        except RedisError:
            # The QBO call has already happened; failing now would hide its outcome. The lease expires.
            logger.warning(
                "Could not release a QBO permit for realm %s; its slot frees after %.0f s",
                permit.realm_id,
                self.limits.lease_seconds,
                exc_info=True,
            )


# --- In-process fallback ----------------------------------------------------------------------------------


@dataclass
class _LocalRealm:
    leases: dict[str, float] = field(default_factory=dict)  # permit id -> expiry
    window: list[float] = field(default_factory=list)  # grant times, oldest first
    batch: list[float] = field(default_factory=list)
    paused_until: float = -math.inf


def _window_wait(entries: list[float], *, limit: int, span: float, now: float) -> float:
    """Seconds until one more entry fits in the last `span`; 0 when it fits now."""
    first = bisect.bisect_right(entries, now - span)
    count = len(entries) - first
    if count < limit:
        return 0.0
    return entries[first + count - limit] + span - now


class LocalRateGovernor(RateGovernor):
    """Counts only this process's requests: the demo's worker processes each get their own budget."""

    def __init__(
        self,
        limits: RateLimits | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(limits or RateLimits(), clock=clock, sleep=sleep)
        self._lock = threading.Lock()
        self._realms: dict[str, _LocalRealm] = {}

    def pause(self, realm_id: str, seconds: float | None = None) -> float:
        _check_realm_id(realm_id)
        pause_seconds = self._pause_seconds(seconds)
        with self._lock:
            now = self._clock()
            realm = self._realms.setdefault(realm_id, _LocalRealm())
            realm.paused_until = max(realm.paused_until, now + pause_seconds)
            in_force = max(0.0, realm.paused_until - now)
        if pause_seconds > 0:
            logger.warning("QBO realm %s paused for %.1f s", realm_id, in_force)
        return in_force

    def state(self, realm_id: str, *, ahead: float = 0.0) -> RealmState:
        _check_realm_id(realm_id)
        with self._lock:
            now = self._clock()
            realm = self._trimmed(realm_id, now=now)
            horizon = now - self.limits.window_seconds + max(0.0, ahead)
            return RealmState(
                in_flight=len(realm.leases),
                requests_in_window=len(realm.window) - bisect.bisect_right(realm.window, horizon),
                batch_in_window=len(realm.batch) - bisect.bisect_right(realm.batch, horizon),
                paused_for_seconds=max(0.0, realm.paused_until - now),
            )

    def _try_acquire(
        self, *, realm_id: str, permit_id: str, batch: bool, record: bool = True
    ) -> Permit | _Denial:
        limits = self.limits
        with self._lock:
            now = self._clock()
            realm = self._trimmed(realm_id, now=now)
            if realm.paused_until > now:
                return _Denial(reason="paused", wait_seconds=realm.paused_until - now)
            # (list, limit, span, reason); the longest wait wins, since every limit has to clear.
            checks: list[tuple[list[float], int | None, float, ThrottleReason]] = [
                (realm.window, limits.per_minute, limits.window_seconds, "per_minute"),
                (realm.window, limits.per_second, limits.second_seconds, "per_second"),
            ]
            if batch:
                checks.append(
                    (realm.batch, limits.batch_per_minute, limits.window_seconds, "batch_per_minute")
                )
            waits = [
                (_window_wait(entries, limit=limits.usable(limit), span=span, now=now), reason)
                for entries, limit, span, reason in checks
                if limit is not None
            ]
            wait, reason = max(waits, key=lambda pair: pair[0])
            if wait > 0:
                return _Denial(reason=reason, wait_seconds=wait)
            if len(realm.leases) >= limits.usable(limits.max_in_flight):
                return _Denial(reason="in_flight", wait_seconds=min(realm.leases.values()) - now)
            if not record:
                return Permit(realm_id=realm_id, permit_id=permit_id, batch=batch, granted_at=now)
            realm.leases[permit_id] = now + limits.lease_seconds
            realm.window.append(now)
            if batch:
                realm.batch.append(now)
            return Permit(realm_id=realm_id, permit_id=permit_id, batch=batch, granted_at=now)

    def _release(self, permit: Permit) -> None:
        with self._lock:
            realm = self._realms.get(permit.realm_id)
            if realm is not None:
                realm.leases.pop(permit.permit_id, None)

    def _trimmed(self, realm_id: str, *, now: float) -> _LocalRealm:
        realm = self._realms.setdefault(realm_id, _LocalRealm())
        realm.leases = {pid: expiry for pid, expiry in realm.leases.items() if expiry > now}
        horizon = now - self.limits.window_seconds
        del realm.window[: bisect.bisect_right(realm.window, horizon)]
        del realm.batch[: bisect.bisect_right(realm.batch, horizon)]
        return realm


# --- From settings ----------------------------------------------------------------------------------------

_governor: RateGovernor | None = None
_governor_lock = threading.Lock()


def governor_from_settings() -> RateGovernor:
    """The process-wide governor: Redis-backed when settings.REDIS_URL is set, in-process otherwise."""
    global _governor
    # Under a race two LocalRateGovernors would each see only part of the traffic, hence the lock.
    with _governor_lock:
        if _governor is None:
            _governor = _build_governor_from_settings()
        return _governor


def reset_governor() -> None:
    """Forget the process-wide governor, so the next call reads the settings again (tests)."""
    global _governor
    with _governor_lock:
        _governor = None


def _build_governor_from_settings() -> RateGovernor:
    # Django's settings are read only here: the governor itself runs without Django (the sandbox's
    # benchmarks and the governor's own tests build it bare).
    from django.conf import settings

    defaults = RateLimits()
    per_second = getattr(settings, "QBO_MAX_PER_SECOND", defaults.per_second)
    limits = RateLimits(
        max_in_flight=int(getattr(settings, "QBO_MAX_IN_FLIGHT", defaults.max_in_flight)),
        per_minute=int(getattr(settings, "QBO_MAX_PER_MINUTE", defaults.per_minute)),
        batch_per_minute=int(getattr(settings, "QBO_MAX_BATCH_PER_MINUTE", defaults.batch_per_minute)),
        per_second=int(per_second) if per_second else None,
        headroom=float(getattr(settings, "QBO_RATE_HEADROOM", defaults.headroom)),
        window_seconds=float(getattr(settings, "QBO_RATE_WINDOW_SECONDS", defaults.window_seconds)),
    )
    redis_url = getattr(settings, "REDIS_URL", "")
    if not redis_url:
        return LocalRateGovernor(limits)
    # Timeouts, because a worker stuck on a dead Redis would hold its task forever instead of failing it.
    client = redis.Redis.from_url(
        redis_url, socket_timeout=5, socket_connect_timeout=5, health_check_interval=30
    )
    return RedisRateGovernor(client, limits)
