"""One clock for every time-dependent rule of the sandbox.

`--time-scale N` makes rate-limit windows, token lifetimes and authorization-code lifetimes run N times
faster: a *virtual* duration of D seconds lasts D / N real seconds. Timestamps written into entities
(MetaData, `time`) stay wall-clock times in the company's time zone. Tests can jump ahead without
sleeping with :meth:`Clock.advance`, and stop the wall clock at a chosen instant with :meth:`Clock.freeze`
so that "in the same second" does not depend on when a test runs (both also exposed as
`POST /_sandbox/clock`).
"""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, date, datetime, timedelta, timezone

DEFAULT_TZ = timezone(timedelta(hours=-7))  # the recorded sandbox companies answer in -07:00


class Clock:
    def __init__(self, scale: float = 1.0, tz: timezone = DEFAULT_TZ):
        if scale <= 0:
            raise ValueError("time scale must be positive")
        self.scale = float(scale)
        self.tz = tz
        self._offset = 0.0  # real seconds added by advance()
        self._frozen: float | None = None  # the epoch the wall clock stands at while frozen
        self._lock = threading.Lock()

    # --- instants -------------------------------------------------------------------------------
    def monotonic(self) -> float:
        # Durations (rate-limit windows) keep running while the wall clock is frozen.
        return time.monotonic() + self._offset

    def epoch(self) -> float:
        frozen = self._frozen
        return frozen if frozen is not None else time.time() + self._offset

    def now(self, tz: timezone | None = None) -> datetime:
        return datetime.fromtimestamp(self.epoch(), tz or self.tz)

    def today(self, tz: timezone | None = None) -> date:
        return self.now(tz).date()

    # --- durations ------------------------------------------------------------------------------
    def real(self, virtual_seconds: float) -> float:
        """Real seconds that a virtual duration lasts."""
        return virtual_seconds / self.scale

    def real_int(self, virtual_seconds: float) -> int:
        """Whole real seconds (at least 1), for `expires_in` and `Retry-After`."""
        return max(1, math.ceil(virtual_seconds / self.scale))

    def advance(self, virtual_seconds: float) -> None:
        with self._lock:
            self._offset += virtual_seconds / self.scale
            if self._frozen is not None:
                self._frozen += virtual_seconds / self.scale

    @property
    def frozen(self) -> bool:
        return self._frozen is not None

    def freeze(self, at: float | None = None) -> None:
        """Stop the wall clock at epoch ``at`` (now by default; never earlier than now)."""
        with self._lock:
            now = time.time() + self._offset if self._frozen is None else self._frozen
            self._frozen = now if at is None else max(float(at), now)

    def unfreeze(self) -> None:
        """Let the wall clock run again from where it stood (it never goes back)."""
        with self._lock:
            if self._frozen is not None:
                self._offset = max(self._offset, self._frozen - time.time())
                self._frozen = None


def fmt_datetime(dt: datetime) -> str:
    """QBO MetaData format: 2020-09-29T05:58:16-07:00."""
    return dt.isoformat(timespec="seconds")


def fmt_time(dt: datetime) -> str:
    """QBO response `time` format: 2020-09-29T05:58:16.187-07:00."""
    return dt.isoformat(timespec="milliseconds")


def fmt_webhook_time(dt: datetime) -> str:
    """Legacy webhook `lastUpdated` format: 2015-10-05T14:42:19-0700."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S%z")


def fmt_cloudevent_time(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_datetime(value: str, default_tz: timezone) -> datetime | None:
    """Parse the date or date-time forms QBO accepts (2015-11-28, 2011-10-10T09:00:00-07:00, ...Z)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00").replace(" ", "+", 1) if "T" in value else value.strip()
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        try:
            dt = datetime.strptime(value.strip(), "%Y-%m-%dT%H:%M:%S%z")
        except ValueError:
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=default_tz)
    return dt
