"""Per-route rate control: a token bucket under a hard one-second ceiling, with throttle backoff.

Everything here is a pure function of ``now`` (seconds, any monotonic origin); the scheduler
passes ``trio.current_time()``, tests pass exact numbers. No wall clock is read.

Why two mechanisms: a token bucket alone allows ``burst + rate`` parts in the first second after
an idle spell, which breaks a carrier contract stated as "N per second". The sliding one-second
window caps that, so the route never exceeds ``rate`` (at least 1) in any one-second window,
while the bucket shapes the flow inside it. Throttling (ESME_RTHROTTLED, a busy modem) pauses the
route, halves its effective rate, then recovers additively toward the configured rate.
"""

from __future__ import annotations

import math
from collections import deque

__all__ = ["RouteLimiter", "TokenBucket"]


class TokenBucket:
    """Classic token bucket: ``rate`` tokens per second, at most ``burst`` stored."""

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._stamp = now

    def tokens(self, now: float) -> float:
        """Tokens available at ``now`` (refills lazily; time never runs backwards here)."""
        if now > self._stamp:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
        return self._tokens

    def take(self, n: float, now: float) -> None:
        """Spend ``n`` tokens; the caller checked :meth:`tokens` first."""
        self.tokens(now)
        self._tokens -= n

    def refund(self, n: float, now: float) -> None:
        """Give back ``n`` tokens taken for work that was then refused (never above burst)."""
        self._tokens = min(self.burst, self.tokens(now) + n)

    def wait_time(self, n: float, now: float) -> float:
        """Seconds from ``now`` until ``n`` tokens are available (0 if they are)."""
        missing = n - self.tokens(now)
        return 0.0 if missing <= 0 else missing / self.rate

    def give_back(self, n: float, now: float) -> None:
        """Return ``n`` tokens taken for work that was then refused (never above ``burst``)."""
        self.tokens(now)
        self._tokens = min(self.burst, self._tokens + n)


class RouteLimiter:
    """The route's contract: bucket + one-second ceiling + throttle pause and recovery."""

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
        self.ceiling = max(1, math.floor(rate))
        """Most parts in any one-second window."""
        self.bucket = TokenBucket(rate, float(burst or max(1, math.floor(rate))), now)
        self.throttle_pause = throttle_pause
        self._recovery = recovery_per_second or max(rate * 0.1, 0.01)
        self._effective = rate
        self._paused_until = -math.inf
        self._window: deque[tuple[float, int]] = deque()
        self._window_sum = 0
        self.throttle_events = 0

    def _prune(self, now: float) -> None:
        w = self._window
        while w and w[0][0] <= now - 1.0:
            self._window_sum -= w.popleft()[1]

    def _recover(self, now: float) -> None:
        if self._effective < self.rate and now >= self._paused_until:
            gained = (now - max(self._paused_until, self._recover_stamp)) * self._recovery
            self._recover_stamp = max(self._paused_until, now)
            self._effective = min(self.rate, self._effective + max(0.0, gained))
            self.bucket.rate = self._effective

    _recover_stamp = 0.0

    def available(self, now: float) -> int:
        """Whole parts that may leave at ``now``."""
        if now < self._paused_until:
            return 0
        self._recover(now)
        self._prune(now)
        return max(0, min(math.floor(self.bucket.tokens(now)), self.ceiling - self._window_sum))

    def take(self, n: int, now: float) -> None:
        """Record ``n`` parts leaving at ``now`` (at most :meth:`available`)."""
        if n <= 0:
            return
        self.bucket.take(n, now)
        self._window.append((now, n))
        self._window_sum += n

    def give_back(self, n: int, now: float) -> None:
        """Return tokens for parts that were claimed but did not leave (nothing was queued)."""
        if n > 0:
            self.bucket._tokens = min(self.bucket.burst, self.bucket.tokens(now) + n)
            # The window keeps the record: the ceiling is about what we *may* have sent.

    def next_time(self, now: float) -> float:
        """Earliest time at which :meth:`available` may be positive."""
        if now < self._paused_until:
            return self._paused_until
        t = now + self.bucket.wait_time(1, now)
        self._prune(now)
        if self._window_sum >= self.ceiling:
            # Free enough of the window for one more part.
            excess = self._window_sum - self.ceiling + 1
            acc = 0
            for stamp, n in self._window:
                acc += n
                if acc >= excess:
                    t = max(t, stamp + 1.0)
                    break
        return t

    def throttled(self, now: float) -> None:
        """The carrier said slow down: pause, then resume at half speed and recover."""
        self.throttle_events += 1
        self._paused_until = now + self.throttle_pause
        self._recover_stamp = self._paused_until
        self._effective = max(self._effective / 2, min(self.rate, 0.1))
        self.bucket.rate = self._effective
        self.bucket._tokens = min(self.bucket._tokens, 1.0)

    @property
    def effective_rate(self) -> float:
        return self._effective

    def tokens(self, now: float) -> float:
        return self.bucket.tokens(now)
