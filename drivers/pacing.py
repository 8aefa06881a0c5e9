"""Pacing parts onto a wire: a token bucket under a sliding one-second ceiling, pure in ``now``.

A carrier states its contract as "N per second" and counts at its own receive time, in any
one-second window. A token bucket alone allows ``burst + rate`` parts in the first second after
an idle spell; the sliding ceiling caps every window at ``floor(rate)`` (at least 1), while the
bucket spaces parts inside it: over any span of ``T`` seconds at most ``burst + rate * T`` parts
are taken, so a small ``burst`` means evenly spaced parts.

The ceiling's window is :data:`GUARD` longer than a second. Parts leave at their token times,
but a carrier stamps them a network delay later, and a delay that shrinks between the first
and the last part of a second would otherwise fit ``rate + 1`` into one of its windows. The
guard costs 1% of throughput and absorbs up to 10 ms of such jitter.

Everything here is a pure function of ``now`` (seconds, any monotonic origin): callers pass
``trio.current_time()``, tests pass exact numbers. No clock is read, no trio is imported. The
scheduler's route limiter (:mod:`smsgw.queue.limiter`) and each modem's own rate use it.
"""

from __future__ import annotations

import math
from collections import deque

__all__ = ["GUARD", "Pacer", "TokenBucket", "default_burst"]

GUARD = 0.01
"""Seconds the one-second ceiling's window is longer than a second (see the module docstring)."""


def default_burst(rate: float) -> int:
    """The bucket size used when a route sets no ``burst``: 5% of a second's worth, at least 1.

    Small enough that parts are spread evenly (a 100 ms slice holds at most
    ``ceil(rate / 10) + burst``), large enough that a wake-up a few milliseconds late loses no
    tokens (the pacer releases slices of about 10 ms worth, well under the bucket).
    """
    return max(1, math.ceil(rate * 0.05))


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
        """Put back ``n`` tokens (never above ``burst``)."""
        self._tokens = min(self.burst, self.tokens(now) + n)

    give_back = refund
    """Return ``n`` tokens taken for work that was then refused (the API's per-key quotas)."""

    def limit(self, tokens: float, now: float) -> None:
        """Keep at most ``tokens`` stored from ``now`` on (a throttle empties the bucket)."""
        self._tokens = min(self.tokens(now), tokens)

    def wait_time(self, n: float, now: float) -> float:
        """Seconds from ``now`` until ``n`` tokens are available (0 if they are)."""
        missing = n - self.tokens(now)
        return 0.0 if missing <= 0 else missing / self.rate


class Pacer:
    """Parts that may leave now, and when the next may: bucket + sliding one-second ceiling.

    ``rate`` parts per second, ``burst`` the bucket (default :func:`default_burst`). Ask
    :meth:`available`, record what left with :meth:`take` *at the time it left*, sleep until
    :meth:`next_time` otherwise.
    """

    __slots__ = ("_window", "_window_sum", "bucket", "ceiling", "rate", "window")

    def __init__(self, rate: float, burst: int | None, now: float) -> None:
        self.rate = rate
        self.ceiling = max(1, math.floor(rate))
        """Most parts in any one-second window."""
        self.window = 1.0 + GUARD
        self.bucket = TokenBucket(rate, float(burst or default_burst(rate)), now)
        self._window: deque[tuple[float, int]] = deque()
        self._window_sum = 0

    @property
    def burst(self) -> int:
        return int(self.bucket.burst)

    @property
    def slice(self) -> int:
        """Parts worth waking up for: about 10 ms worth, at most half the bucket, at least 1.

        Releasing slices rather than single parts keeps wake-ups (and writes) to about a
        hundred a second at high rates; keeping them under half the bucket means a late
        wake-up still finds its tokens.
        """
        return max(1, min(int(self.bucket.burst) // 2, math.ceil(self.rate * 0.01)))

    def _prune(self, now: float) -> None:
        w = self._window
        edge = now - self.window
        while w and w[0][0] <= edge:
            self._window_sum -= w.popleft()[1]

    def available(self, now: float) -> int:
        """Whole parts that may leave at ``now``."""
        self._prune(now)
        return max(0, min(math.floor(self.bucket.tokens(now)), self.ceiling - self._window_sum))

    def take(self, n: int, now: float) -> None:
        """Record ``n`` parts leaving at ``now`` (at most :meth:`available`)."""
        if n <= 0:
            return
        self.bucket.take(n, now)
        w = self._window
        if w and w[-1][0] == now:
            w[-1] = (now, w[-1][1] + n)
        else:
            w.append((now, n))
        self._window_sum += n

    def next_time(self, now: float, n: int = 1) -> float:
        """Earliest time at which ``n`` parts may leave (``n`` is capped at what ever can)."""
        n = max(1, min(n, int(self.bucket.burst), self.ceiling))
        t = now + self.bucket.wait_time(n, now)
        self._prune(now)
        excess = self._window_sum + n - self.ceiling
        if excess > 0:
            # The window must shed ``excess`` parts: the oldest leave it first.
            acc = 0
            for stamp, k in self._window:
                acc += k
                if acc >= excess:
                    t = max(t, stamp + self.window)
                    break
        return t

    def in_window(self, now: float) -> int:
        """Parts taken within the last window (for tests and the route's state)."""
        self._prune(now)
        return self._window_sum
