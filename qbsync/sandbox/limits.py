"""Per-realm throttling as QBO does it: requests per minute, requests in flight, batch requests per minute
(and optionally requests per second). Windows are sliding and run on the sandbox clock, so --time-scale
shrinks them. A throttled request is not counted."""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field

from .clock import Clock


@dataclass
class Throttled(Exception):
    retry_after: int
    reason: str


@dataclass
class RealmCounters:
    minute: deque = field(default_factory=deque)
    second: deque = field(default_factory=deque)
    batch: deque = field(default_factory=deque)
    in_flight: int = 0
    max_in_flight: int = 0
    throttled: int = 0


class Limiter:
    def __init__(self, clock: Clock):
        self.clock = clock
        self.lock = threading.Lock()
        self.realms: dict[str, RealmCounters] = {}

    def counters(self, realm_id: str) -> RealmCounters:
        c = self.realms.get(realm_id)
        if c is None:
            c = self.realms.setdefault(realm_id, RealmCounters())
        return c

    @staticmethod
    def _window_check(q: deque, limit: int | None, window: float, now: float, reason: str) -> None:
        if limit is None:
            return
        cutoff = now - window
        while q and q[0] <= cutoff:
            q.popleft()
        if len(q) >= limit:
            raise Throttled(max(1, math.ceil(q[0] + window - now)), reason)

    def acquire(self, realm_id: str, limits: dict | None, is_batch: bool) -> None:
        """Count one request in; raises Throttled. Always pair a successful acquire with release()."""
        with self.lock:
            c = self.counters(realm_id)
            if limits:
                now = self.clock.monotonic()
                minute = self.clock.real(60.0)
                try:
                    concurrent = limits.get("concurrent")
                    if concurrent is not None and c.in_flight >= concurrent:
                        raise Throttled(1, "concurrent")
                    self._window_check(c.minute, limits.get("per_minute"), minute, now, "per_minute")
                    self._window_check(
                        c.second, limits.get("per_second"), self.clock.real(1.0), now, "per_second"
                    )
                    if is_batch:
                        self._window_check(
                            c.batch, limits.get("batch_per_minute"), minute, now, "batch_per_minute"
                        )
                except Throttled:
                    c.throttled += 1
                    raise
                if limits.get("per_minute") is not None:
                    c.minute.append(now)
                if limits.get("per_second") is not None:
                    c.second.append(now)
                if is_batch and limits.get("batch_per_minute") is not None:
                    c.batch.append(now)
            c.in_flight += 1
            c.max_in_flight = max(c.max_in_flight, c.in_flight)

    def release(self, realm_id: str) -> None:
        with self.lock:
            c = self.counters(realm_id)
            c.in_flight = max(0, c.in_flight - 1)

    def stats(self, realm_id: str) -> dict:
        with self.lock:
            c = self.counters(realm_id)
            return {"in_flight": c.in_flight, "max_in_flight": c.max_in_flight, "throttled": c.throttled}

    def reset(self, realm_id: str | None = None) -> None:
        with self.lock:
            if realm_id is None:
                self.realms.clear()
            else:
                self.realms.pop(realm_id, None)
