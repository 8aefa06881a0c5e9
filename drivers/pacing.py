"""Pacing parts onto a wire: a token bucket under a sliding one-second ceiling, exact in ``now``.

A carrier states its contract as "N per second" and counts at its own receive time, in any
one-second window. A token bucket alone allows ``burst + rate`` parts in the first second after
an idle spell; the sliding ceiling caps every window at ``floor(rate)`` (at least 1), while the
bucket spaces parts inside it: ``k`` parts taken within any span shorter than ``D`` seconds
number fewer than ``burst + rate * D``, so a small ``burst`` means evenly spaced parts (in any
100 ms at most ``ceil(rate / 10) + burst - 1``).

The ceiling's window is :data:`GUARD` longer than a second. Parts leave at their token times,
but a carrier stamps them a network delay later, and a delay that shrinks between the first
and the last part of a second would otherwise fit ``rate + 1`` into one of its windows. The
guard costs 1% of throughput and absorbs up to 10 ms of such jitter.

Exact: times are turned into whole nanoseconds (:func:`ticks`) once, at the door, and every
comparison and sum after that is on integers. The bucket is kept as a virtual-scheduling
(GCRA) state, the time its debt is paid off, in nanoseconds, and the ceiling's window holds
integer stamps. So what :meth:`Pacer.next_time` promises, :meth:`Pacer.available` keeps at
that time: no float edge where a window's oldest part is still counted at the very moment
it was said to leave, and a caller that sleeps until ``next_time`` always finds its parts.
The one rounding is the bucket's interval, ``ceil(1e9 / rate)`` ns per part, which errs on the
slow side (by less than 1e-9 s per part).

Everything here is a pure function of ``now`` (seconds, any monotonic origin): callers pass
``trio.current_time()``, tests pass exact numbers. No clock is read, no trio is imported. The
scheduler's route limiter (:mod:`smsgw.queue.scheduling.limiter`), each modem's own rate and
the API's per-key quotas use it.
"""

from __future__ import annotations

import math
from collections import deque

__all__ = ["GUARD", "NS", "Pacer", "TokenBucket", "default_burst", "seconds", "ticks"]

GUARD = 0.01
"""Seconds the one-second ceiling's window is longer than a second (see the module docstring)."""
NS = 1_000_000_000
"""Ticks per second: pacing counts time in whole nanoseconds."""
_FAR_PAST = -(1 << 62)


def ticks(now: float) -> int:
    """``now`` (seconds) in whole nanoseconds, rounded to nearest; monotone in ``now``."""
    return round(now * NS)


def seconds(t: int) -> float:
    """``t`` nanoseconds in seconds, as the first float from ``t / 1e9`` up with
    ``ticks(f) >= t``: a time to sleep until, after which ``ticks(trio.current_time())`` is at
    least ``t``."""
    f = t / NS
    while ticks(f) < t:
        f = math.nextafter(f, math.inf)
    return f


def default_burst(rate: float) -> int:
    """The bucket size used when a route sets no ``burst``: 5% of a second's worth, at least 1.

    Small enough that parts are spread evenly (a 100 ms slice holds at most
    ``ceil(rate / 10) + burst``), large enough that a wake-up a few milliseconds late loses no
    tokens (the pacer releases slices of about 10 ms worth, well under the bucket).
    """
    return max(1, math.ceil(rate * 0.05))


def _interval(rate: float) -> int:
    """Nanoseconds per token, rounded up (never faster than ``rate``)."""
    return max(1, math.ceil(NS / rate))


class TokenBucket:
    """Token bucket: ``rate`` tokens per second, at most ``burst`` stored; full at the start.

    Kept exactly (see the module docstring): the state is the time, in nanoseconds, at which
    the bucket is full again. Raises ``ValueError`` for a rate or burst that is not positive.
    """

    __slots__ = ("_cap", "_interval", "_rate", "_tat", "burst")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if not (rate > 0 and burst > 0 and math.isfinite(rate) and math.isfinite(burst)):
            raise ValueError("rate and burst must be positive")
        self.burst = burst
        self._rate = rate
        self._interval = _interval(rate)
        self._cap = round(burst * self._interval)
        """The bucket's depth in nanoseconds of debt."""
        self._tat = ticks(now) if math.isfinite(now) else _FAR_PAST
        """When the bucket is full again (debt paid off); at or before now: full."""

    @property
    def rate(self) -> float:
        return self._rate

    def _debt(self, t: int) -> int:
        return max(0, self._tat - t)

    def tokens(self, now: float) -> float:
        """Tokens available at ``now`` (fractions included)."""
        return (self._cap - self._debt(ticks(now))) / self._interval

    def whole(self, t: int) -> int:
        """Whole tokens available at ``t`` (nanoseconds)."""
        return max(0, (self._cap - self._debt(t)) // self._interval)

    def ready_at(self, n: int, t: int) -> int:
        """The first tick, not before ``t``, at which ``n`` whole tokens are available (for
        ``n`` at most ``burst``)."""
        return max(t, self._tat - self._cap + n * self._interval)

    def take(self, n: int, now: float) -> None:
        """Spend ``n`` tokens at ``now``; the caller checked :meth:`tokens` first."""
        self.take_at(n, ticks(now))

    def take_at(self, n: int, t: int) -> None:
        """:meth:`take` at ``t`` nanoseconds."""
        self._tat = max(self._tat, t) + n * self._interval

    def refund(self, n: int, now: float) -> None:
        """Put back ``n`` tokens (never above ``burst``)."""
        self._tat = max(self._tat - n * self._interval, ticks(now))

    give_back = refund
    """Return ``n`` tokens taken for work that was then refused (never above ``burst``)."""

    def limit(self, tokens: float, now: float) -> None:
        """Keep at most ``tokens`` stored from ``now`` on (a throttle empties the bucket)."""
        t = ticks(now)
        self._tat = max(self._tat, t + self._cap - round(tokens * self._interval))

    def set_rate(self, rate: float, now: float) -> None:
        """Refill at ``rate`` from ``now`` on; the tokens stored at ``now`` stay (rounded down
        to the new interval, never up)."""
        t = ticks(now)
        stored = self._cap - self._debt(t)  # in old nanoseconds of credit
        self._rate = rate
        old, self._interval = self._interval, _interval(rate)
        self._cap = round(self.burst * self._interval)
        self._tat = t + self._cap - stored * self._interval // old

    def wait_time(self, n: float, now: float) -> float:
        """Seconds from ``now`` until ``n`` tokens are available (0 if they are)."""
        t = ticks(now)
        ready = self._tat - self._cap + math.ceil(n * self._interval)
        return 0.0 if ready <= t else (ready - t) / NS


class Pacer:
    """Parts that may leave now, and when the next may: bucket + sliding one-second ceiling.

    ``rate`` parts per second, ``burst`` the bucket (default :func:`default_burst`). Ask
    :meth:`available`, record what left with :meth:`take` *at the time it left*, sleep until
    :meth:`next_time` otherwise: at that time :meth:`available` gives what was asked for (as
    long as nothing else was taken meanwhile).
    """

    __slots__ = ("_log", "_log_sum", "bucket", "ceiling", "rate", "window")

    def __init__(self, rate: float, burst: int | None, now: float) -> None:
        self.rate = rate
        self.ceiling = max(1, math.floor(rate))
        """Most parts in any one-second window."""
        self.window = round((1.0 + GUARD) * NS)
        """The ceiling's window in nanoseconds (a second and :data:`GUARD`)."""
        self.bucket = TokenBucket(rate, float(burst or default_burst(rate)), now)
        self._log: deque[tuple[int, int]] = deque()
        """(tick, parts) taken within the last window, oldest first."""
        self._log_sum = 0

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
        return max(1, min(self.burst // 2, math.ceil(self.rate * 0.01)))

    def _prune(self, t: int) -> None:
        # A part taken at s counts in every window (s - W, s]: it is gone at s + W exactly.
        log = self._log
        edge = t - self.window
        while log and log[0][0] <= edge:
            self._log_sum -= log.popleft()[1]

    def available(self, now: float) -> int:
        """Whole parts that may leave at ``now``."""
        t = ticks(now)
        self._prune(t)
        return max(0, min(self.bucket.whole(t), self.ceiling - self._log_sum))

    def take(self, n: int, now: float) -> None:
        """Record ``n`` parts leaving at ``now`` (at most :meth:`available`)."""
        if n <= 0:
            return
        t = ticks(now)
        self.bucket.take_at(n, t)
        log = self._log
        if log and log[-1][0] == t:
            log[-1] = (t, log[-1][1] + n)
        else:
            log.append((t, n))
        self._log_sum += n

    def next_tick(self, now: float, n: int = 1) -> int:
        """:meth:`next_time` in nanoseconds."""
        n = max(1, min(n, self.burst, self.ceiling))
        t = ticks(now)
        ready = self.bucket.ready_at(n, t)
        self._prune(t)
        excess = self._log_sum + n - self.ceiling
        if excess > 0:
            # The window must shed ``excess`` parts: the oldest leave it first.
            acc = 0
            for stamp, k in self._log:
                acc += k
                if acc >= excess:
                    ready = max(ready, stamp + self.window)
                    break
        return ready

    def next_time(self, now: float, n: int = 1) -> float:
        """Earliest time at which ``n`` parts may leave (``n`` is capped at what ever can):
        ``now`` itself if they may already."""
        ready = self.next_tick(now, n)
        return now if ready <= ticks(now) else seconds(ready)

    def in_window(self, now: float) -> int:
        """Parts taken within the last window (for tests and the route's state)."""
        self._prune(ticks(now))
        return self._log_sum
