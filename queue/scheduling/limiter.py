"""Per-route rate control: the route's pacer (token bucket + one-second ceiling) with throttle
backoff.

Everything here is a pure function of ``now`` (seconds, any monotonic origin); the scheduler
passes ``trio.current_time()``, tests pass exact numbers. No wall clock is read, and every
comparison is on whole nanoseconds (:func:`smsgw.drivers.pacing.ticks`), so a time the limiter
names with :meth:`RouteLimiter.next_time` is a time at which it allows what it said.

The pacing itself lives in :mod:`smsgw.drivers.pacing` (modems use it for their own rate too):
a token bucket spaces parts, a sliding one-second ceiling caps any window at ``rate``. The
scheduler records parts with :meth:`RouteLimiter.take` at the moment it hands them to the
driver, which puts them on the wire at once, so the carrier counts what the limiter counted.
Throttling (ESME_RTHROTTLED, a busy modem) pauses the route, halves its effective rate, then
recovers additively toward the configured rate.
"""

from __future__ import annotations

import math

from smsgw.drivers.pacing import Pacer, TokenBucket, default_burst, seconds, ticks

__all__ = ["RouteLimiter", "TokenBucket", "default_burst"]


class RouteLimiter:
    """The route's contract: :class:`~smsgw.drivers.pacing.Pacer` + throttle pause/recovery.

    ``burst`` None takes :func:`~smsgw.drivers.pacing.default_burst` (5% of ``rate``, at
    least 1).
    """

    def __init__(
        self,
        rate: float,
        burst: int | None,
        now: float,
        *,
        throttle_pause: float = 1.0,
        recovery_per_second: float | None = None,
    ) -> None:
        self.rate = rate
        self.pacer = Pacer(rate, burst, now)
        self.bucket = self.pacer.bucket
        self.ceiling = self.pacer.ceiling
        """Most parts in any one-second window."""
        self.throttle_pause = throttle_pause
        self._recovery = recovery_per_second or max(rate * 0.1, 0.01)
        self._effective = rate
        self._paused_until: int | None = None
        """End of the throttle pause, in nanoseconds (None: not paused since the last one)."""
        self._recover_stamp = 0.0
        self.throttle_events = 0

    def _paused(self, now: float) -> bool:
        return self._paused_until is not None and ticks(now) < self._paused_until

    def _recover(self, now: float) -> None:
        if self._effective < self.rate and self._paused_until is not None:
            since = max(seconds(self._paused_until), self._recover_stamp)
            gained = (now - since) * self._recovery
            if gained > 0:
                self._recover_stamp = now
                self._set_rate(min(self.rate, self._effective + gained), now)

    def _set_rate(self, rate: float, now: float) -> None:
        self._effective = rate
        self.bucket.set_rate(rate, now)  # what accrued so far accrued at the old rate

    @property
    def burst(self) -> int:
        return self.pacer.burst

    @property
    def slice(self) -> int:
        """Parts worth waking up for (see :attr:`smsgw.drivers.pacing.Pacer.slice`)."""
        return self.pacer.slice

    def available(self, now: float) -> int:
        """Whole parts that may leave at ``now``."""
        if self._paused(now):
            return 0
        self._recover(now)
        return self.pacer.available(now)

    def take(self, n: int, now: float) -> None:
        """Record ``n`` parts leaving at ``now`` (at most :meth:`available`)."""
        self.pacer.take(n, now)

    def give_back(self, n: int, now: float) -> None:
        """Return tokens for parts that were counted but did not leave.

        The one-second window keeps the record: the ceiling is about what we *may* have sent.
        """
        if n > 0:
            self.bucket.refund(n, now)

    def next_time(self, now: float, n: int = 1) -> float:
        """Earliest time at which ``n`` parts may leave (``n`` is capped at the bucket and the
        ceiling): ``now`` itself if they may already. At that time :meth:`available` gives
        them, unless parts were taken or the route was throttled meanwhile."""
        if self._paused_until is not None and self._paused(now):
            now = seconds(self._paused_until)  # nothing leaves before the pause ends
        self._recover(now)
        return self.pacer.next_time(now, n)

    def ahead(self, now: float, horizon: float) -> int:
        """Parts that may leave from ``now`` to ``now + horizon`` at the effective rate (what is
        worth claiming from the store in one go)."""
        if self._paused(now):
            return 0
        return self.available(now) + math.floor(self._effective * horizon)

    def throttled(self, now: float) -> None:
        """The carrier said slow down: pause, then resume at half speed and recover."""
        self.throttle_events += 1
        self._paused_until = ticks(now) + ticks(self.throttle_pause)
        self._recover_stamp = seconds(self._paused_until)
        self._set_rate(max(self._effective / 2, min(self.rate, 0.1)), now)
        self.bucket.limit(1.0, now)

    @property
    def effective_rate(self) -> float:
        return self._effective

    def tokens(self, now: float) -> float:
        return self.bucket.tokens(now)
